Feature: Kong's standard headers on responses and to the upstream
  With Kong 3.10's defaults (`kong.conf.default`: `headers = server_tokens, latency_tokens, X-Kong-Request-Id`,
  `headers_upstream = X-Kong-Request-Id`), a proxied response carries `Via`, `X-Kong-Upstream-Latency` and
  `X-Kong-Proxy-Latency`; a response Kong produced itself carries `Server` and `X-Kong-Response-Latency`; every
  response carries `X-Kong-Request-Id`, the id the upstream received (`kong/runloop/handler.lua` header_filter).

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"

  Scenario: A proxied response names Kong in Via and reports both latencies
    When I send a GET request to "/anything"
    Then the request reached the upstream
    And the response header "Via" starts with "1.1 kong/"
    And the response header "X-Kong-Upstream-Latency" is a number between 0 and 60000
    And the response header "X-Kong-Proxy-Latency" is a number between 0 and 60000
    And the response has no header "X-Kong-Response-Latency"

  Scenario: The upstream receives the request id the client sees, and Kong in Via
    When I send a GET request to "/anything"
    Then the request reached the upstream
    And the upstream received a header "X-Kong-Request-Id" of 32 characters
    And the upstream received the response's "X-Kong-Request-Id" header
    And the upstream received the header "Via" starting with "1.1 kong/"

  @request-termination
  Scenario: A response Kong produced itself carries Server and the response latency
    Given the "request-termination" plugin on the route "example-route"
    When I send a GET request to "/anything"
    Then the response is 503 with message "Service unavailable"
    And the response header "Server" starts with "kong/"
    And the response header "X-Kong-Response-Latency" is a number between 0 and 60000
    And the response header "X-Kong-Request-Id" is a 32-digit hexadecimal id
    And the response has no header "Via"
    And the response has no header "X-Kong-Proxy-Latency"

  Scenario: No route matched: Kong's own 404 carries the same headers
    When I send a GET request to "/no-such-route"
    Then the response is 404 with message "no Route matched with those values"
    And the response header "Server" starts with "kong/"
    And the response header "X-Kong-Response-Latency" is a number between 0 and 60000
    And the response header "X-Kong-Request-Id" is a 32-digit hexadecimal id
