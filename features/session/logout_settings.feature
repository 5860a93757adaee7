@key-auth @session @request-termination
Feature: Logout settings
  A request is a logout when its method is one of `logout_methods` (default POST and DELETE) and it carries the
  `logout_query_arg` (default "session_logout") or, with `read_body_for_logout` (Kong 3.5+), the `logout_post_arg`
  in its body; it must come with a valid session. Logout answers 200 with an empty body and an expiring cookie,
  without reaching the upstream. Any other request is not special (`kong/plugins/session/session.lua` `logout`,
  `access.lua`).

  Background:
    Given the documented key-auth setup without the session plugin

  Scenario: A custom logout_query_arg logs out
    Given the session plugin on the service with:
      | logout_query_arg | bye   |
      | cookie_secure    | false |
    And I have a session from the apikey "hello_world"
    When I send a DELETE request to "/anything?bye" with only the session cookie
    Then the response is 200 with an empty body
    And the "session" cookie is expired with the attributes "Path=/; SameSite=Strict; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"

  Scenario: With a custom logout_query_arg the default one is an ordinary argument
    Given the session plugin on the service with:
      | logout_query_arg | bye   |
      | cookie_secure    | false |
    And I have a session from the apikey "hello_world"
    When I send a DELETE request to "/anything?session_logout" with only the session cookie
    Then the request reached the upstream

  Scenario: The logout query argument may have a value
    Given the session plugin on the service with:
      | cookie_secure | false |
    And I have a session from the apikey "hello_world"
    When I send a POST request to "/anything?session_logout=true" with only the session cookie
    Then the response is 200 with an empty body
    And the "session" cookie is expired with the attributes "Path=/; SameSite=Strict; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"

  @kong-3.5+
  Scenario Outline: With read_body_for_logout a <kind> body argument logs out
    Given the session plugin on the service with:
      | read_body_for_logout | true  |
      | cookie_secure        | false |
    And I have a session from the apikey "hello_world"
    When I send a POST request to "/anything" with only the session cookie and the <kind> body '<body>'
    Then the response is 200 with an empty body

    Examples:
      | kind | body                      |
      | form | session_logout=true       |
      | JSON | {"session_logout": true}  |

  @kong-3.5+
  Scenario: Without read_body_for_logout the body is not looked at
    Given the session plugin on the service with:
      | cookie_secure | false |
    And I have a session from the apikey "hello_world"
    When I send a POST request to "/anything" with only the session cookie and the form body "session_logout=true"
    Then the request reached the upstream

  @kong-3.5+
  Scenario: A custom logout_post_arg logs out
    Given the session plugin on the service with:
      | read_body_for_logout | true    |
      | logout_post_arg      | signout |
      | cookie_secure        | false   |
    And I have a session from the apikey "hello_world"
    When I send a DELETE request to "/anything" with only the session cookie and the form body "signout=1"
    Then the response is 200 with an empty body

  Scenario: logout_methods GET makes GET a logout method
    Given the session plugin on the service with:
      | logout_methods | ["GET"] |
      | cookie_secure  | false   |
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything?session_logout" with only the session cookie
    Then the response is 200 with an empty body

  Scenario: A method not in logout_methods is not a logout
    Given the session plugin on the service with:
      | logout_methods | ["GET"] |
      | cookie_secure  | false   |
    And I have a session from the apikey "hello_world"
    When I send a DELETE request to "/anything?session_logout" with only the session cookie
    Then the request reached the upstream

  Scenario: A logout request without a session is an ordinary request
    Given the session plugin on the service with:
      | cookie_secure | false |
    When I send a DELETE request to "/anything?session_logout"
    Then the response is 403 with message "Forbidden"
    And the response sets no cookie

  Scenario: With cookie storage a kept copy of the cookie outlives logout
    Given the session plugin on the service with:
      | storage       | cookie |
      | cookie_secure | false  |
    And I have a session from the apikey "hello_world"
    When I send a DELETE request to "/anything?session_logout" with only the session cookie
    And I send a GET request to "/anything" with only the old session cookie
    Then the response status is 200
