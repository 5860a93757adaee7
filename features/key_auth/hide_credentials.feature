@key-auth
Feature: hide_credentials keeps the key from the upstream
  With `hide_credentials: true` key-auth removes the key it authenticated with before proxying: the header, the
  query argument, or the body field (the body re-encoded in its own content type, the other fields kept). With the
  default `false` the upstream receives the key where the client put it. From `kong/plugins/key-auth/handler.lua`
  and `spec/03-plugins/09-key-auth/02-access_spec.lua` ("config.hide_credentials").

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"

  Scenario: The key header is removed
    Given key-auth on the service with:
      | hide_credentials | true |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response status is 200
    And the upstream did not receive the header "apikey"

  Scenario: The key query argument is removed, the others kept
    Given key-auth on the service with:
      | hide_credentials | true |
    When I send a GET request to "/anything?apikey={{hello_world}}&other=value"
    Then the response status is 200
    And the upstream received no query argument "apikey"
    And the upstream received the query argument "other" with "value"

  Scenario: The key field of a form body is removed, the others kept
    Given key-auth on the service with:
      | hide_credentials | true |
      | key_in_body      | true |
    When I send a POST request to "/anything" with the form body "apikey={{hello_world}}&name=alex"
    Then the response status is 200
    And the upstream received the body "name=alex"
    And the upstream received the header "Content-Type" with "application/x-www-form-urlencoded"

  Scenario: The key field of a JSON body is removed, the others kept
    Given key-auth on the service with:
      | hide_credentials | true |
      | key_in_body      | true |
    When I send a POST request to "/anything" with the JSON body '{"apikey":"{{hello_world}}","name":"alex"}'
    Then the response status is 200
    And the upstream received the JSON body '{"name":"alex"}'
    And the upstream received the header "Content-Type" with "application/json"

  Scenario: Only the key that authenticated is removed
    Given key-auth on the service with:
      | hide_credentials | true                  |
      | key_names        | ["apikey", "x-token"] |
    When I send a GET request to "/anything" with the headers:
      | apikey  | {{hello_world}} |
      | x-token | kept            |
    Then the response status is 200
    And the upstream did not receive the header "apikey"
    And the upstream received the header "x-token" with "kept"

  Scenario: By default the upstream receives the key header
    Given key-auth on the service
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the upstream received the header "apikey" with "{{hello_world}}"

  Scenario: By default the upstream receives the key query argument
    Given key-auth on the service
    When I send a GET request to "/anything?apikey={{hello_world}}"
    Then the upstream received the query argument "apikey" with "{{hello_world}}"

  Scenario: By default the upstream receives the key in the body
    Given key-auth on the service with:
      | key_in_body | true |
    When I send a POST request to "/anything" with the form body "apikey={{hello_world}}&name=alex"
    Then the upstream received the body "apikey={{hello_world}}&name=alex"
