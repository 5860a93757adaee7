@key-auth
Feature: CORS preflight requests and key-auth
  `run_on_preflight` (default true) decides whether key-auth also authenticates `OPTIONS` requests. With false,
  a browser's preflight passes without a key (`kong/plugins/key-auth/handler.lua`, `02-access_spec.lua`
  "run_on_preflight").

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"

  Scenario: By default an OPTIONS request needs a key
    Given key-auth on the service
    When I send a OPTIONS request to "/anything"
    Then the response is 401 with message "No API key found in request"

  Scenario: With run_on_preflight false an OPTIONS request passes without a key
    Given key-auth on the service with:
      | run_on_preflight | false |
    When I send a OPTIONS request to "/anything"
    Then the request reached the upstream
    And the upstream did not receive the header "X-Consumer-ID"

  Scenario: With run_on_preflight false other methods still need a key
    Given key-auth on the service with:
      | run_on_preflight | false |
    When I send a GET request to "/anything"
    Then the response is 401 with message "No API key found in request"
