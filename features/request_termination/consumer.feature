@key-auth @session @request-termination
Feature: Request termination for a consumer
  request-termination scoped to a consumer runs last (priority 2), after the auth plugins have chosen the
  consumer. The session plugin's header_filter still runs when request-termination ends the request, so a
  consumer that authenticated with a valid key is refused but still gets a session cookie.

  Background:
    Given the documented key-auth and session setup

  Scenario: A terminated consumer with a valid key is refused but gets a session
    Given the consumer "fiona" with key "open_sesame"
    And requests from "fiona" are terminated with 403 "So long and thanks for all the fish!"
    When I send a GET request to "/anything" with apikey "open_sesame"
    Then the response is 403 with message "So long and thanks for all the fish!"
    And the response sets a "session" cookie

  Scenario: A status without a message uses Kong's default message
    Given the consumer "fiona" with key "open_sesame"
    And requests from "fiona" are terminated with 503 and no message
    When I send a GET request to "/anything" with apikey "open_sesame"
    Then the response is 503 with message "Service unavailable"

  Scenario: A status with no default message has no body
    Given the consumer "fiona" with key "open_sesame"
    And requests from "fiona" are terminated with 403 and no message
    When I send a GET request to "/anything" with apikey "open_sesame"
    Then the response is 403 with an empty body
