@openid-connect @enterprise
Feature: Where bearer tokens are taken from and where they go
  `bearer_token_param_type` says where the plugin looks for a bearer token (`header`: the Authorization header;
  `query` and `body`: an `access_token` argument); `upstream_access_token_header` which header carries the access
  token upstream (default `authorization:bearer`). With `auth_methods: [bearer]` only, neither missing credentials
  nor Basic credentials authenticate. `introspection` asks the provider's introspection endpoint instead of
  verifying the JWT locally. From Kong's openid-connect plugin reference.

  Scenario: With only bearer, no token is a 401 with a Bearer challenge
    Given the documented OpenID Connect setup with:
      | auth_methods | ["bearer"] |
    When I send a GET request to "/"
    Then the response is 401 with message "Unauthorized"
    And the response header "WWW-Authenticate" starts with "Bearer"

  Scenario: With only bearer, Basic credentials are not a token
    Given the documented OpenID Connect setup with:
      | auth_methods | ["bearer"] |
    When I send a GET request to "/" as the documented user
    Then the response is 401 with message "Unauthorized"

  Scenario: A token in the access_token query argument
    Given the documented OpenID Connect setup with:
      | auth_methods            | ["bearer"] |
      | bearer_token_param_type | ["query"]  |
    And I have an access token for the documented user from the identity provider
    When I send a GET request to "/" with that access token in the query argument "access_token"
    Then the response status is 200
    And the upstream received that access token

  Scenario: With bearer_token_param_type header a token in the query is not looked at
    Given the documented OpenID Connect setup with:
      | auth_methods            | ["bearer"] |
      | bearer_token_param_type | ["header"] |
    And I have an access token for the documented user from the identity provider
    When I send a GET request to "/" with that access token in the query argument "access_token"
    Then the response is 401 with message "Unauthorized"

  Scenario: upstream_access_token_header names the upstream header
    Given the documented OpenID Connect setup with:
      | auth_methods                 | ["bearer"]     |
      | upstream_access_token_header | x-access-token |
    And I have an access token for the documented user from the identity provider
    When I send a GET request to "/" with that access token
    Then the response status is 200
    And the upstream received that access token in the header "x-access-token"

  Scenario: Introspection accepts an active token
    Given the documented OpenID Connect setup with:
      | auth_methods | ["introspection"] |
    And I have an access token for the documented user from the identity provider
    When I send a GET request to "/" with that access token
    Then the response status is 200
    And the upstream received that access token

  Scenario: Introspection refuses a tampered token
    Given the documented OpenID Connect setup with:
      | auth_methods | ["introspection"] |
    And I have an access token for the documented user from the identity provider
    When I send a GET request to "/" with that access token tampered with
    Then the response is 401 with message "Unauthorized"
