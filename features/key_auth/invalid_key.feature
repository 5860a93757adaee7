@key-auth
Feature: Key-auth without an anonymous consumer
  Without `anonymous`, key-auth answers a request it cannot authenticate with 401 and a message saying why. Two
  details changed across Kong versions and are tagged with the first version that has them: the message for a
  wrong key is "Unauthorized" since Kong 3.6 ("Invalid authentication credentials" before), and every 401 carries
  a `WWW-Authenticate: Key` challenge since Kong 3.7. A valid key reaches the upstream with the consumer's headers.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"
    And key-auth on the service

  Scenario: A missing key
    When I send a GET request to "/anything"
    Then the response is 401 with message "No API key found in request"

  @kong-3.6+
  Scenario: A wrong key
    When I send a GET request to "/anything" with apikey "not_the_key"
    Then the response is 401 with message "Unauthorized"

  @kong-3.7+
  Scenario: Every 401 carries a Key challenge
    When I send a GET request to "/anything"
    Then the response header "WWW-Authenticate" is "Key"
    When I send a GET request to "/anything" with apikey "not_the_key"
    Then the response header "WWW-Authenticate" is "Key"

  Scenario: A valid key reaches the upstream as its consumer
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
    And the upstream did not receive the header "X-Anonymous-Consumer"
