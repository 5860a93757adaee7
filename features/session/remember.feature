@key-auth @session @request-termination
Feature: Remember cookies (persistent sessions)
  With `remember: true` the session plugin also sets a persistent cookie (`remember_cookie_name`, default
  "remember") with `Expires` and `Max-Age` = `remember_rolling_timeout` (default 604800 s), next to the session
  cookie, which has neither. When the session cookie is gone (a closed browser), the remember cookie alone
  restores the session and both cookies are issued again (lua-resty-session 4 `save` / `open`,
  `kong/plugins/session/schema.lua`).

  Background:
    Given the documented key-auth setup without the session plugin

  Scenario: Remember sets a persistent second cookie
    Given the session plugin on the service with:
      | remember      | true  |
      | cookie_secure | false |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response sets the cookies "session, remember"
    And the "session" cookie is set with the attributes "Path=/; SameSite=Strict; HttpOnly"
    And the "remember" cookie is set with the attributes matching "Path=/; SameSite=Strict; HttpOnly; Expires=* GMT; Max-Age=604800"

  Scenario: remember_rolling_timeout is the remember cookie's Max-Age
    Given the session plugin on the service with:
      | remember                 | true  |
      | remember_rolling_timeout | 3600  |
      | cookie_secure            | false |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "remember" cookie is set with the attributes matching "Path=/; SameSite=Strict; HttpOnly; Expires=* GMT; Max-Age=3600"

  Scenario: remember_cookie_name names the remember cookie
    Given the session plugin on the service with:
      | remember             | true    |
      | remember_cookie_name | keep_me |
      | cookie_secure        | false   |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response sets the cookies "session, keep_me"

  Scenario: The remember cookie alone restores the session
    Given the session plugin on the service with:
      | remember      | true  |
      | cookie_secure | false |
    When I send a GET request to "/anything" with apikey "hello_world"
    And I send a GET request to "/anything" with only the cookies "remember"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
    And the response sets the cookies "session, remember"

  Scenario: Without remember there is no remember cookie
    Given the session plugin on the service with:
      | cookie_secure | false |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response sets the cookies "session"
