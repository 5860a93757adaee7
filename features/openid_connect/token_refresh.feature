@openid-connect @enterprise
Feature: An expired access token is refreshed behind the session
  The session keeps the refresh token. Once the access token in it has expired, a request with only the session
  cookie makes the gateway run the refresh-token grant at the identity provider: the request still reaches the
  upstream, with a new access token, and the client gets an updated session cookie.
  Here the provider's access tokens live about a second, and the scenario asks the provider (token
  introspection) until it reports the token of the login expired.

  @short-token-lifespan
  Scenario: The cookie alone still works after the access token expired
    Given the documented OpenID Connect setup with short-lived access tokens
    And I have a session as the documented user
    When the access token of my session has expired
    And I send a GET request to "/" with only the session cookie
    Then the response is 200 with a "session" cookie
    And the upstream received a new access token for the documented user
