@key-auth
Feature: Key names with underscores match headers spelt with underscores or hyphens
  Kong runs nginx with `underscores_in_headers on`, and `kong.request.get_headers()` finds a header by its exact
  name or, failing that, with `_` read as `-`: with `key_names: [api_key]` both an `api_key` and an `api-key` header
  carry the key (Kong's spec "underscores or hyphens in key headers").

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"
    And key-auth on the service configured with:
      | key_names | ["api_key"] |

  Scenario Outline: The key in an <header> header authenticates
    When I send a GET request to "/anything" with the key "hello_world" in the header "<header>"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"

    Examples:
      | header  |
      | api_key |
      | api-key |

  Scenario Outline: A wrong key in an <header> header is refused
    When I send a GET request to "/anything" with the key "not_the_key" in the header "<header>"
    Then the response is 401 with message "Unauthorized"

    Examples:
      | header  |
      | api_key |
      | api-key |
