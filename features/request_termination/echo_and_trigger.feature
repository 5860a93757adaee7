@request-termination
Feature: Echo and trigger
  `echo: true` answers with a copy of the request as Kong saw it (method, path, query, headers) and the message,
  Kong's default for the status unless `message` is set. `trigger` names a header or query argument: only requests
  that carry it are terminated (or echoed); the others go on to the upstream. Header names match without regard to
  case; query argument names exactly. From Kong's `spec/03-plugins/14-request-termination/02-access_spec.lua`
  ("echo & echo_trigger") and `handler.lua`.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"

  Scenario: Echo returns the request with the status's default message
    Given the "request-termination" plugin on the service with:
      | status_code | 404  |
      | echo        | true |
    When I send a GET request to "/anything?hello=there" with the header "X-Greeting" set to "hi"
    Then the response status is 404
    And the response header "Content-Type" starts with "application/json"
    And the response JSON at "/message" is "Not found"
    And the response JSON at "/request/method" is "GET"
    And the response JSON at "/request/path" is "{{/anything}}"
    And the response JSON at "/request/query/hello" is "there"
    And the response JSON at "/request/headers/x-greeting" is "hi"

  Scenario: Echo with a message returns that message
    Given the "request-termination" plugin on the service with:
      | status_code | 503          |
      | echo        | true         |
      | message     | Echo, echo   |
    When I send a POST request to "/anything" with the form body "a=1"
    Then the response status is 503
    And the response JSON at "/message" is "Echo, echo"
    And the response JSON at "/request/method" is "POST"

  Scenario: Echo with a trigger lets requests without it through
    Given the "request-termination" plugin on the service with:
      | status_code | 404           |
      | echo        | true          |
      | trigger     | gimme-an-echo |
    When I send a GET request to "/anything"
    Then the request reached the upstream

  Scenario: Echo with a trigger in a header echoes
    Given the "request-termination" plugin on the service with:
      | status_code | 404           |
      | echo        | true          |
      | trigger     | gimme-an-echo |
    When I send a GET request to "/anything" with the header "Gimme-An-Echo" set to "anything will do"
    Then the response status is 404
    And the response JSON at "/request/headers/gimme-an-echo" is "anything will do"

  Scenario: Echo with a trigger in the query echoes
    Given the "request-termination" plugin on the service with:
      | status_code | 404           |
      | echo        | true          |
      | trigger     | gimme-an-echo |
    When I send a GET request to "/anything?hello=there&gimme-an-echo=anything"
    Then the response status is 404
    And the response JSON at "/request/query/gimme-an-echo" is "anything"
    And the response JSON at "/request/query/hello" is "there"

  Scenario Outline: A trigger in the <place> terminates
    Given the "request-termination" plugin on the service with:
      | status_code | 403         |
      | message     | Stopped     |
      | trigger     | x-terminate |
    When I send a GET request to "<path>" with the header "<header>" set to "1"
    Then the response is 403 with message "Stopped"

    Examples:
      | place                      | path                     | header      |
      | header                     | /anything                | X-Terminate |
      | header, in lower case      | /anything                | x-terminate |
      | query                      | /anything?x-terminate=1  | X-Other     |
      | query, without a value     | /anything?x-terminate    | X-Other     |

  Scenario: Without the trigger the request reaches the upstream
    Given the "request-termination" plugin on the service with:
      | status_code | 403         |
      | message     | Stopped     |
      | trigger     | x-terminate |
    When I send a GET request to "/anything?x-other=1" with the header "X-Other" set to "1"
    Then the request reached the upstream

  Scenario: A query argument matches the trigger only with the same case
    Given the "request-termination" plugin on the service with:
      | status_code | 403         |
      | message     | Stopped     |
      | trigger     | x-terminate |
    When I send a GET request to "/anything?X-TERMINATE=1"
    Then the request reached the upstream
