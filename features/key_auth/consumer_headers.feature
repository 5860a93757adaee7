@key-auth
Feature: The consumer headers key-auth sends upstream
  After authenticating, key-auth sets X-Consumer-ID, X-Consumer-Username, X-Consumer-Custom-ID (or removes it when
  the consumer has none) and X-Credential-Identifier (the credential's id), and removes X-Anonymous-Consumer, so a
  client cannot pass its own values for them (`kong/plugins/key-auth/handler.lua` `set_consumer`, header names from
  `kong/constants.lua`).

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And key-auth on the service

  Scenario: A consumer with a custom_id
    Given the consumer "carol" with custom_id "carol-custom" and key "carol_key"
    When I send a GET request to "/anything" with apikey "carol_key"
    Then the upstream received the consumer headers of "carol"
    And the upstream received the header "X-Consumer-Custom-ID" with "{{carol-custom}}"

  Scenario: A consumer without a custom_id gets no X-Consumer-Custom-ID
    Given the consumer "alex" with key "hello_world"
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the upstream did not receive the header "X-Consumer-Custom-ID"

  Scenario: Consumer headers sent by the client are replaced
    Given the consumer "alex" with key "hello_world"
    When I send a GET request to "/anything" with the headers:
      | apikey                  | {{hello_world}} |
      | X-Consumer-Username     | mallory         |
      | X-Consumer-ID           | 1               |
      | X-Credential-Identifier | 2               |
    Then the upstream received the consumer headers of "alex"

  Scenario: X-Consumer-Custom-ID and X-Anonymous-Consumer sent by the client are removed
    Given the consumer "alex" with key "hello_world"
    When I send a GET request to "/anything" with the headers:
      | apikey               | {{hello_world}} |
      | X-Consumer-Custom-ID | mallory         |
      | X-Anonymous-Consumer | true            |
    Then the upstream did not receive the header "X-Consumer-Custom-ID"
    And the upstream did not receive the header "X-Anonymous-Consumer"

  Scenario: Two consumers get their own headers
    Given the consumer "alex" with key "hello_world"
    And the consumer "fiona" with key "open_sesame"
    When I send a GET request to "/anything" with apikey "open_sesame"
    Then the upstream received the consumer headers of "fiona"
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the upstream received the consumer headers of "alex"
