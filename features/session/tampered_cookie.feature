@key-auth @session @request-termination
Feature: A tampered session cookie is not a session
  The session cookie's header carries a MAC over its fields. A cookie with changed bytes does not open, so the
  request goes on without a session: key-auth falls back to the anonymous consumer and request-termination
  refuses it.

  Scenario Outline: A tampered <storage> session falls to the anonymous consumer
    Given the documented key-auth and session setup
    And the session plugin uses <storage> storage
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with a tampered session cookie
    Then the response is 403 with message "Forbidden"
    And the response sets no cookie

    Examples:
      | storage |
      | kong    |
      | cookie  |
