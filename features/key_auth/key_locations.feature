@key-auth
Feature: Where key-auth looks for the key
  For each of `key_names` in order, key-auth looks in the headers (`key_in_header`, on by default), then the query
  string (`key_in_query`, on by default), then the body (`key_in_body`, off by default: form-urlencoded or JSON), and
  takes the first key it finds; there is no second try elsewhere if that key is wrong. Header names match without
  regard to case, query argument names exactly. From `kong/plugins/key-auth/handler.lua` and Kong's
  `spec/03-plugins/09-key-auth/02-access_spec.lua`.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"

  Scenario Outline: A key in the <place> authenticates
    Given key-auth on the service with:
      | key_in_body | true |
    When I send a <method> request to "/anything" with the key "hello_world" in the <place> "apikey"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"

    Examples:
      | place     | method |
      | header    | GET    |
      | query     | GET    |
      | form body | POST   |
      | JSON body | POST   |

  Scenario Outline: With <switch> false a key in the <place> is not looked at
    Given key-auth on the service with:
      | key_in_body | true  |
      | <switch>    | false |
    When I send a <method> request to "/anything" with the key "hello_world" in the <place> "apikey"
    Then the response is 401 with message "No API key found in request"

    Examples:
      | switch        | place     | method |
      | key_in_header | header    | GET    |
      | key_in_query  | query     | GET    |
      | key_in_body   | form body | POST   |
      | key_in_body   | JSON body | POST   |

  Scenario Outline: By default a key in the <place> is not looked at
    Given key-auth on the service
    When I send a POST request to "/anything" with the key "hello_world" in the <place> "apikey"
    Then the response is 401 with message "No API key found in request"

    Examples:
      | place     |
      | form body |
      | JSON body |

  Scenario Outline: Any of several key_names is accepted, in the <place>
    Given key-auth on the service with:
      | key_names | ["apikey", "x-api-key", "token"] |
    When I send a GET request to "/anything" with the key "hello_world" in the <place> "<name>"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"

    Examples:
      | place  | name      |
      | header | x-api-key |
      | header | token     |
      | query  | x-api-key |
      | query  | token     |

  Scenario: A name that is not in key_names is not looked at
    Given key-auth on the service with:
      | key_names | ["x-api-key"] |
    When I send a GET request to "/anything" with the key "hello_world" in the header "apikey"
    Then the response is 401 with message "No API key found in request"

  Scenario: Header names match without regard to case
    Given key-auth on the service
    When I send a GET request to "/anything" with the key "hello_world" in the header "APIKEY"
    Then the response status is 200

  Scenario: Query argument names match exactly
    Given key-auth on the service
    When I send a GET request to "/anything" with the key "hello_world" in the query "APIKEY"
    Then the response is 401 with message "No API key found in request"

  @kong-3.6+
  Scenario: The header is looked at before the query, with no second try
    Given key-auth on the service
    When I send a GET request to "/anything?apikey={{hello_world}}" with the header "apikey" set to "not_the_key"
    Then the response is 401 with message "Unauthorized"

  Scenario: The query is looked at before the body
    Given key-auth on the service with:
      | key_in_body | true |
    When I send a POST request to "/anything?apikey={{hello_world}}" with the form body "apikey=not_the_key"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"

  Scenario: An empty key is no key
    Given key-auth on the service
    When I send a GET request to "/anything" with the header "apikey" set to ""
    Then the response is 401 with message "No API key found in request"

  Scenario: A query argument without a value is no key
    Given key-auth on the service
    When I send a GET request to "/anything?apikey"
    Then the response is 401 with message "No API key found in request"
