@key-auth @session @request-termination
Feature: Logging out
  A DELETE or POST request with the session_logout query argument and a valid session ends the session: 200 with
  an empty body and an expiring cookie; the request does not reach the upstream. GET is not a logout method by
  default. With storage "kong", as here, the session is also deleted on the server, so a kept copy of the old
  cookie no longer authenticates. (With the default cookie storage the session lives only in the cookie: logout
  can only ask the client to forget it, and a kept copy stays valid until it times out.)

  Background:
    Given the documented key-auth and session setup
    And I have a session from the apikey "hello_world"

  Scenario: Logout answers 200 with an empty body and expires the cookie
    When I send a DELETE request to "/anything?session_logout"
    Then the response is 200 with an empty body
    And the "session" cookie is expired with the attributes "Path=/; SameSite=Strict; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"

  Scenario: After logout the old cookie no longer authenticates
    When I send a POST request to "/anything?session_logout"
    And I send a GET request to "/anything" with only the old session cookie
    Then the response is 403 with message "Forbidden"
    And the response sets no cookie

  Scenario: GET is not a logout method by default
    When I send a GET request to "/anything?session_logout"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
