@request-termination
Feature: Where request termination applies
  Like every Kong plugin, request-termination applies to the scope it is created in: a route, a service, a
  consumer or everything (global); for one request the most specific configuration wins (route before service,
  `kong/runloop/plugins_iterator.lua`). It runs last of the plugins (priority 2), so authentication plugins
  decide first.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And a route "other-route" at "/other" on the service

  Scenario: On a route, only that route is terminated
    Given the "request-termination" plugin on the route "other-route"
    When I send a GET request to "/other"
    Then the response is 503 with message "Service unavailable"
    When I send a GET request to "/anything"
    Then the request reached the upstream

  Scenario: On a service, every route of the service is terminated
    Given the "request-termination" plugin on the service
    When I send a GET request to "/other"
    Then the response is 503 with message "Service unavailable"
    When I send a GET request to "/anything"
    Then the response is 503 with message "Service unavailable"

  Scenario: A route's configuration wins over the service's
    Given the "request-termination" plugin on the service
    And the "request-termination" plugin on the route "other-route" with:
      | status_code | 418          |
      | message     | I'm a teapot |
    When I send a GET request to "/other"
    Then the response is 418 with message "I'm a teapot"
    When I send a GET request to "/anything"
    Then the response is 503 with message "Service unavailable"

  @key-auth
  Scenario: For a consumer, only that consumer's requests are terminated, on every service
    Given the consumer "alex" with key "hello_world"
    And the consumer "fiona" with key "open_sesame"
    And key-auth on the service
    And the "request-termination" plugin for the consumer "fiona" with:
      | status_code | 403                                  |
      | message     | So long and thanks for all the fish! |
    When I send a GET request to "/anything" with apikey "open_sesame"
    Then the response is 403 with message "So long and thanks for all the fish!"
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the request reached the upstream

  @key-auth
  Scenario: Authentication runs first: without a key the answer is key-auth's 401
    Given the consumer "alex" with key "hello_world"
    And key-auth on the service
    And the "request-termination" plugin on the service
    When I send a GET request to "/anything"
    Then the response is 401 with message "No API key found in request"
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response is 503 with message "Service unavailable"

  Scenario: Globally, with a trigger, it terminates any route's requests that carry the trigger
    Given the "request-termination" plugin globally with:
      | status_code | 410                  |
      | message     | Gone                 |
      | trigger     | x-stop-{{global}}    |
    When I send a GET request to "/other" with the header "X-Stop-{{global}}" set to "1"
    Then the response is 410 with message "Gone"
    When I send a GET request to "/anything"
    Then the request reached the upstream
