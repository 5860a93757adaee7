@request-termination
Feature: Request termination's status codes, messages and bodies
  request-termination ends every request in its scope before the upstream. Without `message` or `body` it answers
  with Kong's default message for the status, when there is one, as the JSON `{"message": ...}`; a status without a
  default message gets an empty body. `body` is sent as it is, with `content_type` when given. Cases from Kong's
  `spec/03-plugins/14-request-termination/02-access_spec.lua` and `kong/plugins/request-termination/handler.lua`
  (`DEFAULT_RESPONSE`).

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"

  Scenario: By default it answers 503 "Service unavailable" as JSON
    Given the "request-termination" plugin on the service
    When I send a GET request to "/anything"
    Then the response is 503 with message "Service unavailable"
    And the response body is the JSON '{"message":"Service unavailable"}'
    And the response header "Content-Type" is "application/json; charset=utf-8"

  Scenario Outline: Status <status> alone gets Kong's default message "<message>"
    Given the "request-termination" plugin on the service with:
      | status_code | <status> |
    When I send a GET request to "/anything"
    Then the response status is <status>
    And the response body is the JSON '{"message":"<message>"}'

    Examples:
      | status | message                      |
      | 401    | Unauthorized                 |
      | 404    | Not found                    |
      | 405    | Method not allowed           |
      | 500    | An unexpected error occurred |
      | 502    | Bad Gateway                  |
      | 503    | Service unavailable          |

  Scenario Outline: Status <status> has no default message: the body is empty
    Given the "request-termination" plugin on the service with:
      | status_code | <status> |
    When I send a GET request to "/anything"
    Then the response is <status> with an empty body
    And the response header "Content-Length" is "0"

    Examples:
      | status |
      | 200    |
      | 403    |
      | 418    |
      | 451    |

  Scenario: 204 has neither a body nor a Content-Length
    Given the "request-termination" plugin on the service with:
      | status_code | 204 |
    When I send a GET request to "/anything"
    Then the response is 204 with an empty body
    And the response has no header "Content-Length"

  Scenario: A custom message with a custom status
    Given the "request-termination" plugin on the service with:
      | status_code | 406     |
      | message     | Invalid |
    When I send a GET request to "/anything"
    Then the response status is 406
    And the response body is the JSON '{"message":"Invalid"}'

  Scenario: A custom message replaces the default message of its status
    Given the "request-termination" plugin on the service with:
      | status_code | 503                      |
      | message     | Down for maintenance     |
    When I send a GET request to "/anything"
    Then the response is 503 with message "Down for maintenance"

  Scenario: A body with the default status is sent as it is
    Given the "request-termination" plugin on the service with:
      | body | <html><body><h1>Service is down for maintenance</h1></body></html> |
    When I send a GET request to "/anything"
    Then the response status is 503
    And the response body is "<html><body><h1>Service is down for maintenance</h1></body></html>"

  Scenario: A body without content_type is sent without a Content-Type
    Given the "request-termination" plugin on the service with:
      | status_code | 503                  |
      | body        | Down for maintenance |
    When I send a GET request to "/anything"
    Then the response status is 503
    And the response body is "Down for maintenance"
    And the response has no header "Content-Type"

  Scenario: A body with a status and a content type
    Given the "request-termination" plugin on the service with:
      | status_code  | 451                                                                           |
      | content_type | text/html                                                                     |
      | body         | <html><body><h1>Service is down due to content infringement</h1></body></html> |
    When I send a GET request to "/anything"
    Then the response status is 451
    And the response header "Content-Type" is "text/html"
    And the response body is "<html><body><h1>Service is down due to content infringement</h1></body></html>"

  Scenario: A plain-text body with its content type
    Given the "request-termination" plugin on the service with:
      | status_code  | 503                              |
      | content_type | text/plain; charset=utf-8        |
      | body         | Back soon: down for maintenance. |
    When I send a GET request to "/anything"
    Then the response status is 503
    And the response header "Content-Type" is "text/plain; charset=utf-8"
    And the response body is "Back soon: down for maintenance."

  Scenario Outline: A <method> request is terminated too
    Given the "request-termination" plugin on the service with:
      | status_code | 405 |
    When I send a <method> request to "/anything" with the form body "a=1"
    Then the response is 405 with message "Method not allowed"

    Examples:
      | method |
      | POST   |
      | PUT    |
      | PATCH  |
      | DELETE |
