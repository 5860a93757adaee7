@openid-connect @enterprise
Feature: Logging out of the OpenID Connect session
  With `logout_query_arg` (or `logout_post_arg`, `logout_uri_suffix`) set, a request with one of `logout_methods`
  (default POST and DELETE) that carries it ends the session: the session cookie is expired and the client is
  redirected (`logout_redirect_uri`). A GET is not a logout method by default. From Kong's openid-connect plugin
  reference (`logout_*`).

  Background:
    Given the documented OpenID Connect setup with:
      | logout_query_arg    | logout                        |
      | logout_redirect_uri | ["https://example.com/bye"]   |
    And I have a session as the documented user

  Scenario: DELETE with the logout argument expires the session cookie and redirects
    When I send a DELETE request to "/?logout" with only the session cookie
    Then the response status is 302
    And the "session" cookie is expired with the attributes "Path=/; SameSite=Lax; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"

  Scenario: GET with the logout argument is an ordinary request
    When I send a GET request to "/?logout" with only the session cookie
    Then the response status is 200
    And the upstream received the access token of the login
