@openid-connect @enterprise
Feature: Requests the plugin cannot authenticate
  With `auth_methods` restricted to session and password (as Kong's docs advise, so that there is no redirect to
  the identity provider), a wrong password and a request without credentials both get 401 with Kong's default
  `unauthorized_error_message` and a `WWW-Authenticate: Bearer` challenge, instead of reaching the upstream.

  Background:
    Given the documented OpenID Connect setup

  Scenario: A wrong password
    When I send a GET request to "/" as the documented user with a wrong password
    Then the response is 401 with message "Unauthorized"
    And the response header "WWW-Authenticate" starts with "Bearer"

  Scenario: No credentials
    When I send a GET request to "/"
    Then the response is 401 with message "Unauthorized"
    And the response header "WWW-Authenticate" starts with "Bearer"
