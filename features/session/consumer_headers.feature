@key-auth @session @request-termination
Feature: The session restores the consumer for the upstream
  On a request that carries only the session cookie, the session plugin authenticates the consumer itself and
  sends the upstream the same headers key-auth would: X-Consumer-ID, X-Consumer-Username and
  X-Credential-Identifier, and no X-Anonymous-Consumer.

  Scenario: A cookie-only request reaches the upstream as alex
    Given the documented key-auth and session setup
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the upstream received the consumer headers of "alex"
    And the upstream did not receive the header "X-Anonymous-Consumer"
