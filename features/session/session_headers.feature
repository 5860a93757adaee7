@key-auth @session @request-termination
Feature: Session headers for the upstream and the client
  `request_headers` sends the upstream, and `response_headers` the client, headers describing the session:
  `id` → Session-Id (43 characters), `audience` → Session-Audience, `subject` → Session-Subject (the consumer's
  username), `timeout` → Session-Timeout (the least time left), `idling-timeout`, `rolling-timeout` and
  `absolute-timeout` → Session-Idling-Timeout, Session-Rolling-Timeout, Session-Absolute-Timeout (seconds left).
  From lua-resty-session 4 (`set_headers`) and `kong/plugins/session/schema.lua`.

  Background:
    Given the documented key-auth setup without the session plugin

  Scenario: request_headers describe the session to the upstream
    Given the session plugin on the service with:
      | request_headers | ["id", "audience", "subject", "timeout"] |
      | cookie_secure   | false                                    |
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the upstream received a header "Session-Id" of 43 characters
    And the upstream received the header "Session-Audience" with "default"
    And the upstream received the header "Session-Subject" with "{{alex}}"
    And the upstream received the header "Session-Timeout" as a number between 880 and 900

  Scenario Outline: request_headers <header> is the time left of <setting>
    Given the session plugin on the service with:
      | request_headers | ["<name>"] |
      | cookie_secure   | false      |
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the upstream received the header "<header>" as a number between <low> and <high>

    Examples:
      | name             | header                   | setting          | low   | high  |
      | idling-timeout   | Session-Idling-Timeout   | idling_timeout   | 880   | 900   |
      | rolling-timeout  | Session-Rolling-Timeout  | rolling_timeout  | 3580  | 3600  |
      | absolute-timeout | Session-Absolute-Timeout | absolute_timeout | 86380 | 86400 |

  Scenario: audience sets Session-Audience
    Given the session plugin on the service with:
      | audience        | my-app       |
      | request_headers | ["audience"] |
      | cookie_secure   | false        |
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the upstream received the header "Session-Audience" with "my-app"

  Scenario: response_headers describe the session to the client
    Given the session plugin on the service with:
      | response_headers | ["audience", "subject"] |
      | cookie_secure    | false                   |
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the response header "Session-Audience" is "default"
    And the response header "Session-Subject" is "{{alex}}"

  Scenario: A consumer without a username has its custom_id as the subject
    Given the consumer "dave" with only the custom_id "dave-custom" and key "dave_key"
    And the session plugin on the service with:
      | response_headers | ["subject"] |
      | cookie_secure    | false       |
    When I send a GET request to "/anything" with apikey "dave_key"
    Then the response status is 200
    And the response header "Session-Subject" is "{{dave-custom}}"
    And the upstream received the header "X-Consumer-Custom-ID" with "{{dave-custom}}"
    And the upstream did not receive the header "X-Consumer-Username"

  Scenario: response_headers come with the new session too
    Given the session plugin on the service with:
      | response_headers | ["subject"] |
      | cookie_secure    | false       |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response header "Session-Subject" is "{{alex}}"

  Scenario: Without request_headers the upstream gets no session header
    Given the session plugin on the service with:
      | cookie_secure | false |
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the upstream did not receive the header "Session-Id"
    And the upstream did not receive the header "Session-Subject"
