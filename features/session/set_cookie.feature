@key-auth @session @request-termination
Feature: When the gateway sends a session cookie
  The session plugin creates a session only after another plugin authenticated a consumer with a credential:
  never for the anonymous consumer, and not again while a valid session matches the consumer.

  Background:
    Given the documented key-auth and session setup

  Scenario: An anonymous request gets no cookie
    When I send a GET request to "/anything"
    Then the response is 403 with message "Forbidden"
    And the response sets no cookie

  Scenario: A wrong key falls to the anonymous consumer and gets no cookie
    When I send a GET request to "/anything" with apikey "not_the_key"
    Then the response is 403 with message "Forbidden"
    And the response sets no cookie

  Scenario: A valid session is not issued again
    Given I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the response status is 200
    And the response sets no cookie
