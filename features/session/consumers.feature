@key-auth @session @request-termination
Feature: The session and its consumer
  The session stores the consumer and credential it was made for and restores them on every request: the same
  headers key-auth would send, X-Consumer-Custom-ID included. A session whose consumer was deleted ends: an
  expiring cookie, and the request goes on without it (`kong/plugins/session/access.lua`). A session too big for
  one cookie (here a consumer with a very long username, which the session keeps as its subject) is split over
  "session", "session2"..., all of which must come back (lua-resty-session 4, `MAX_COOKIE_SIZE` 4096).

  Background:
    Given the documented key-auth setup without the session plugin
    And the session plugin on the service with:
      | cookie_secure | false |

  Scenario: The session restores the consumer's custom_id
    Given the consumer "carol" with custom_id "carol-custom" and key "carol_key"
    And I have a session from the apikey "carol_key"
    When I send a GET request to "/anything" with only the session cookie
    Then the upstream received the consumer headers of "carol"
    And the upstream received the header "X-Consumer-Custom-ID" with "{{carol-custom}}"

  Scenario: Each consumer's session is their own
    Given the consumer "fiona" with key "open_sesame"
    And I have a session from the apikey "open_sesame"
    When I send a GET request to "/anything" with only the session cookie
    Then the upstream received the consumer headers of "fiona"

  Scenario: Deleting the consumer ends its session
    Given I have a session from the apikey "hello_world"
    When I delete the consumer "alex"
    Then within 5 seconds a GET request to "/anything" with only the session cookie is answered 403
    And the "session" cookie is expired with the attributes "Path=/; SameSite=Strict; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"

  Scenario: A session too big for one cookie is split into chunks
    Given the consumer "long" with a 4096-character random username and key "long_key"
    When I send a GET request to "/anything" with apikey "long_key"
    Then the response sets the cookies "session, session2"
    When I send a GET request to "/anything" with only the cookies "session, session2"
    Then the response status is 200
    And the upstream received the consumer headers of "long"

  Scenario: A chunked session without its second chunk is no session
    Given the consumer "long" with a 4096-character random username and key "long_key"
    When I send a GET request to "/anything" with apikey "long_key"
    And I send a GET request to "/anything" with only the cookies "session"
    Then the response is 403 with message "Forbidden"

  Scenario: A pre-3.2 session cookie is not a session
    When I send a GET request to "/anything" with the cookie header "session=emjbJ3MdyDsoDUkqmemFqw..|1544654411|4QMKAE3I-jFSgmvjWApDRmZHMB8."
    Then the response is 403 with message "Forbidden"
    And the response sets no cookie
