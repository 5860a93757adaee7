@key-auth @session @request-termination
Feature: The session comes first
  The session plugin (priority 1900) runs before key-auth (1250) and request-termination (2). A valid session
  authenticates the request; key-auth with `anonymous` then sees a credential and does nothing ("logical OR"), so a
  key sent along is not even looked at; and request-termination scoped to a consumer applies to the consumer the
  session restored (`kong/plugins/key-auth/handler.lua` lines 239-243, `kong/runloop/plugins_iterator.lua`).

  Background:
    Given the documented key-auth and session setup

  Scenario: A valid session wins over a wrong key sent along
    Given I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie and the header "apikey" set to "not_the_key"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"

  Scenario: A valid session wins over another consumer's key, and is not issued again
    Given the consumer "fiona" with key "open_sesame"
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie and the header "apikey" set to "{{open_sesame}}"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
    And the response sets no cookie

  Scenario: request-termination for a consumer applies to the consumer a session restored
    Given the consumer "fiona" with key "open_sesame"
    And I have a session from the apikey "open_sesame"
    And requests from "fiona" are terminated with 403 "So long and thanks for all the fish!"
    When I send a GET request to "/anything" with only the session cookie
    Then the response is 403 with message "So long and thanks for all the fish!"
