@openid-connect @enterprise
Feature: Grants that must not create a session
  `config.disable_session` lists the grants that must not create a session. With `[password]`, Basic credentials
  still reach the upstream as a Bearer token, but the client gets no session cookie.

  Scenario: The password grant creates no session
    Given the documented OpenID Connect setup with:
      | disable_session | ["password"] |
    When I send a GET request to "/" as the documented user
    Then the response status is 200
    And the upstream received a Bearer access token for the documented user
    And the response sets no cookie
