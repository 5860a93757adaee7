@key-auth @session
Feature: Without an anonymous consumer the session does not replace the key
  Key-auth without `anonymous` is a "logical AND": it demands a key even when the session plugin has already
  authenticated the request, so the session cookie alone gets a 401. Kong's docs pair the session plugin with
  an auth plugin that has `anonymous` set for this reason.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"
    And key-auth on the service
    And the session plugin on the service

  Scenario: The session cookie alone is rejected
    Given I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the response is 401 with message "No API key found in request"
