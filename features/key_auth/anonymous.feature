@key-auth
Feature: The anonymous consumer
  With `anonymous` set (a consumer's id, or since Kong 3.1 its username), a request key-auth cannot authenticate
  goes on as that consumer, without a credential: the upstream receives its X-Consumer-ID and X-Consumer-Username
  and `X-Anonymous-Consumer: true`, and no X-Credential-Identifier. A configured anonymous consumer that does not
  exist is a server error. From `kong/plugins/key-auth/handler.lua` (lines 217-273) and `02-access_spec.lua`
  ("config.anonymous").

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"
    And the consumer "anonymous_users" without a key

  Scenario Outline: No key goes on as the anonymous consumer named by <by>
    Given key-auth on the service with the anonymous consumer "anonymous_users" by <by>
    When I send a GET request to "/anything"
    Then the response status is 200
    And the upstream received the anonymous consumer headers of "anonymous_users"

    Examples:
      | by       |
      | id       |
      | username |

  Scenario Outline: <case> goes on as the anonymous consumer
    Given key-auth on the service with the anonymous consumer "anonymous_users" by id
    When I send a GET request to "<path>"
    Then the response status is 200
    And the upstream received the anonymous consumer headers of "anonymous_users"

    Examples:
      | case                | path                                  |
      | A wrong key         | /anything?apikey=not_the_key          |
      | A duplicate key     | /anything?apikey=a&apikey=b           |
      | An empty key        | /anything?apikey=                     |

  Scenario: A valid key still authenticates its own consumer
    Given key-auth on the service with the anonymous consumer "anonymous_users" by id
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
    And the upstream did not receive the header "X-Anonymous-Consumer"

  Scenario: An anonymous consumer that does not exist is a server error
    Given key-auth on the service with the anonymous consumer "00000000-0000-4000-8000-00000000dead", which does not exist
    When I send a GET request to "/anything"
    Then the response is 500 with message "anonymous consumer 00000000-0000-4000-8000-00000000dead is configured but doesn't exist"

  Scenario: An anonymous consumer that does not exist does not matter to a valid key
    Given key-auth on the service with the anonymous consumer "00000000-0000-4000-8000-00000000dead", which does not exist
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
