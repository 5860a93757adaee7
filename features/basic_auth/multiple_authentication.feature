@basic-auth @key-auth
Feature: Several authentication plugins on one service
  Kong's "Allow multiple authentication methods": without `anonymous` the auth plugins are a logical AND (every
  plugin demands its own credentials, and the last one to run, basic-auth at priority 1100 after key-auth at 1250,
  sets the consumer the upstream receives); with `anonymous` on all of them they are a logical OR (a plugin skips a
  request an earlier one authenticated, and a failed one falls back to the anonymous consumer, which
  request-termination then refuses).

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"
    And the consumer "bob" with basic-auth username "bob" and password "kong"

  Rule: Without anonymous, every plugin must authenticate

    Background:
      Given key-auth on the service
      And basic-auth on the service

    Scenario: Both credentials pass, and the last plugin's consumer reaches the upstream
      When I send a GET request to "/anything" with apikey "hello_world" and the basic-auth username "bob" and password "kong"
      Then the response status is 200
      And the upstream received the consumer "bob"

    Scenario: Only the key is refused by basic-auth
      When I send a GET request to "/anything" with apikey "hello_world"
      Then the response is 401 with message "Unauthorized"

    Scenario: Only the basic credentials are refused by key-auth
      When I send a GET request to "/anything" with the basic-auth username "bob" and password "kong"
      Then the response is 401 with message "No API key found in request"

  Rule: With anonymous, any one plugin is enough

    Background:
      Given key-auth on the service with the anonymous consumer "anonymous_users"
      And basic-auth on the service with the anonymous consumer "anonymous_users"
      And requests from "anonymous_users" are terminated with 401 "Unauthorized"

    Scenario: The key alone passes
      When I send a GET request to "/anything" with apikey "hello_world"
      Then the response status is 200
      And the upstream received the consumer "alex"

    Scenario: The basic credentials alone pass
      When I send a GET request to "/anything" with the basic-auth username "bob" and password "kong"
      Then the response status is 200
      And the upstream received the consumer "bob"

    Scenario: With both, the first plugin to run decides the consumer
      When I send a GET request to "/anything" with apikey "hello_world" and the basic-auth username "bob" and password "kong"
      Then the response status is 200
      And the upstream received the consumer "alex"

    Scenario: Without valid credentials the anonymous consumer is refused
      When I send a GET request to "/anything" with apikey "not_the_key" and the basic-auth username "bob" and password "wrong"
      Then the response is 401 with message "Unauthorized"
