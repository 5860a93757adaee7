@openid-connect @enterprise
Feature: Bearer tokens from the identity provider
  With `auth_methods: [bearer]` the plugin accepts an access token the client obtained from the identity provider
  itself: it verifies the JWT locally (signature by the provider's keys, issuer, expiry) and passes it upstream.
  A token whose payload was changed no longer matches its signature and is refused.

  Background:
    Given the documented OpenID Connect setup with:
      | auth_methods | ["bearer"] |
    And I have an access token for the documented user from the identity provider

  Scenario: A token from the provider's token endpoint is accepted
    When I send a GET request to "/" with that access token
    Then the response status is 200
    And the upstream received that access token

  Scenario: A tampered token is rejected
    When I send a GET request to "/" with that access token tampered with
    Then the response is 401 with message "Unauthorized"
    And the response header "WWW-Authenticate" starts with "Bearer"
