@key-auth
Feature: Changes through the Admin API take effect
  Deleting a key-auth credential, or its consumer (which deletes the consumer's credentials), makes the key
  unknown: key-auth answers 401 "Unauthorized" (Kong 3.6+). Kong applies such changes through its cache, so the
  scenarios poll with a deadline (`spec/03-plugins/09-key-auth/03-invalidations_spec.lua`).

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"
    And key-auth on the service

  @kong-3.6+
  Scenario: A deleted credential no longer authenticates
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response status is 200
    When I delete the key of "alex"
    Then within 5 seconds a GET request to "/anything" with apikey "hello_world" is answered 401
    And the response body has message "Unauthorized"

  @kong-3.6+
  Scenario: A deleted consumer's key no longer authenticates
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response status is 200
    When I delete the consumer "alex"
    Then within 5 seconds a GET request to "/anything" with apikey "hello_world" is answered 401
    And the response body has message "Unauthorized"

  Scenario: Another consumer's key keeps working
    Given the consumer "fiona" with key "open_sesame"
    When I delete the key of "alex"
    Then within 5 seconds a GET request to "/anything" with apikey "hello_world" is answered 401
    When I send a GET request to "/anything" with apikey "open_sesame"
    Then the upstream received the consumer headers of "fiona"
