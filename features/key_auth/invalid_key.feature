@key-auth
Feature: Key-auth without an anonymous consumer
  Without `anonymous`, key-auth answers a request it cannot authenticate with 401, a message saying why, and a
  `WWW-Authenticate: Key` challenge (Kong 3.7 and later; "Unauthorized" for a wrong key since Kong 3.6).
  A valid key reaches the upstream with the consumer's headers.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"
    And key-auth on the service

  Scenario: A missing key
    When I send a GET request to "/anything"
    Then the response is 401 with message "No API key found in request"
    And the response header "WWW-Authenticate" is "Key"

  Scenario: A wrong key
    When I send a GET request to "/anything" with apikey "not_the_key"
    Then the response is 401 with message "Unauthorized"
    And the response header "WWW-Authenticate" is "Key"

  Scenario: A valid key reaches the upstream as its consumer
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
    And the upstream did not receive the header "X-Anonymous-Consumer"
