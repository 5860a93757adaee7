@key-auth
Feature: hide_credentials removes the key from the query and keeps the other arguments in order
  Kong removes the key with `kong.service.request.clear_query_arg`, which parses the query as URL search parameters
  and writes the remaining ones back in their order, re-encoded (Kong's spec "removes apikey in encoded query and
  preserves order of query parameters"). Without `hide_credentials` the query reaches the upstream untouched.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"

  @kong-3.9+
  Scenario: The key is removed and the other arguments are re-encoded in order
    Given key-auth on the service configured with:
      | hide_credentials | true |
    When I send a GET request to "/anything?c=valu%651&b=value2&api%6B%65%79=KEY&a=valu%653" with the key "hello_world" in place of "KEY"
    Then the response status is 200
    And the upstream received the query string "c=value1&b=value2&a=value3"

  Scenario: Without hide_credentials the query is forwarded as sent
    Given key-auth on the service configured with:
      | hide_credentials | false |
    When I send a GET request to "/anything?c=value1&b=value2&apikey=KEY&a=value3" with the key "hello_world" in place of "KEY"
    Then the response status is 200
    And the upstream received the query string "c=value1&b=value2&apikey=KEY&a=value3" with the key "hello_world" in place of "KEY"
