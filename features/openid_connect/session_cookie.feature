@openid-connect @enterprise
Feature: The OpenID Connect session cookie settings
  After a login the plugin issues its own session cookie, set by the `session_cookie_*` fields. Its defaults differ
  from the session plugin's: `SameSite=Lax`, and `Secure` only when `session_cookie_secure` says so (the how-to's
  plain-HTTP cookie is `session=...; Path=/; SameSite=Lax; HttpOnly`). From Kong's openid-connect plugin reference
  (`session_cookie_*`).

  Scenario Outline: <setting> <value>
    Given the documented OpenID Connect setup with:
      | <setting> | <value> |
    When I send a GET request to "/" as the documented user
    Then the response status is 200
    And the "<cookie>" cookie is set with the attributes "<attributes>"

    Examples:
      | setting                  | value        | cookie       | attributes                                      |
      | session_cookie_name      | oidc_session | oidc_session | Path=/; SameSite=Lax; HttpOnly                  |
      | session_cookie_path      | /api         | session      | Path=/api; SameSite=Lax; HttpOnly               |
      | session_cookie_domain    | example.com  | session      | Domain=example.com; Path=/; SameSite=Lax; HttpOnly |
      | session_cookie_same_site | Strict       | session      | Path=/; SameSite=Strict; HttpOnly               |
      | session_cookie_http_only | false        | session      | Path=/; SameSite=Lax                            |
      | session_cookie_secure    | true         | session      | Path=/; SameSite=Lax; Secure; HttpOnly          |

  Scenario: A renamed session cookie alone is enough
    Given the documented OpenID Connect setup with:
      | session_cookie_name | oidc_session |
    When I send a GET request to "/" as the documented user
    And I send a GET request to "/" with only the cookies "oidc_session"
    Then the response status is 200
    And the upstream received a Bearer access token for the documented user

  Scenario: A cookie that is not a session of the plugin is not accepted
    Given the documented OpenID Connect setup
    When I send a GET request to "/" with the cookie header "session=not-a-session"
    Then the response is 401 with message "Unauthorized"

  Scenario: session_remember also sets the persistent remember cookie
    Given the documented OpenID Connect setup with:
      | session_remember | true |
    When I send a GET request to "/" as the documented user
    Then the response sets the cookies "session, remember"
    And the "remember" cookie is set with the attributes matching "Path=/; SameSite=Lax; HttpOnly; Expires=* GMT; Max-Age=604800"

  Scenario: The remember cookie alone restores the OpenID Connect session
    Given the documented OpenID Connect setup with:
      | session_remember | true |
    When I send a GET request to "/" as the documented user
    And I send a GET request to "/" with only the cookies "remember"
    Then the response status is 200
    And the upstream received a Bearer access token for the documented user
