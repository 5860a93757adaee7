@request-termination
Feature: Request termination's echo and trigger
  With `echo`, request-termination answers with a copy of the request as Kong saw it: the message (the configured
  one, or the status's default), the request's headers and query, and the matched route and service. With a
  `trigger`, it ends only the requests that carry that header or query argument; the others are proxied.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"

  Scenario: The echo reports the request and what it matched
    Given request-termination on the service configured with:
      | status_code | 200  |
      | echo        | true |
      | message     | hi   |
    When I send a GET request to "/anything?color=blue" with the header "X-Test" set to "yes"
    Then the response status is 200
    And the echo's message is "hi"
    And the echoed request has the header "X-Test" set to "yes"
    And the echoed request has the query argument "color" set to "blue"
    And the echo names the matched route "example-route" and service "example-service"

  Scenario: Without a message the echo carries the status's default message
    Given request-termination on the service configured with:
      | status_code | 503  |
      | echo        | true |
    When I send a GET request to "/anything"
    Then the response status is 503
    And the echo's message is "Service unavailable"

  Scenario: A trigger header ends only the requests that carry it
    Given request-termination on the service configured with:
      | status_code | 410          |
      | message     | Gone         |
      | trigger     | x-terminate  |
    When I send a GET request to "/anything"
    Then the response status is 200
    When I send a GET request to "/anything" with the header "X-Terminate" set to "1"
    Then the response is 410 with message "Gone"

  Scenario: A trigger query argument ends only the requests that carry it
    Given request-termination on the service configured with:
      | status_code | 410          |
      | message     | Gone         |
      | trigger     | x-terminate  |
    When I send a GET request to "/anything?x-terminate"
    Then the response is 410 with message "Gone"
    When I send a GET request to "/anything?other=1"
    Then the response status is 200
