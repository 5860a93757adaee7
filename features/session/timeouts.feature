@key-auth @session @request-termination
Feature: Session timeouts and renewal
  A session ends when it has not been used for `idling_timeout` seconds, when it was not renewed within
  `rolling_timeout`, or `absolute_timeout` after it began, whichever comes first; then the cookie is no session
  and the request falls to the anonymous consumer (403 here). A session used after three quarters of its
  `rolling_timeout` is renewed: a new session cookie. From lua-resty-session 4 (`open`, `refresh`) and
  `kong/plugins/session/schema.lua`. With `storage: kong` a renewed session's old row stays readable for
  `stale_ttl` seconds (`kong/plugins/session/storage/kong.lua`), so the old cookie still opens meanwhile.
  Timeouts here are 1 to 4 seconds; the scenarios poll with deadlines.

  Background:
    Given the documented key-auth setup without the session plugin

  Scenario: An idle session ends after idling_timeout
    Given the session plugin on the service with:
      | idling_timeout | 1     |
      | cookie_secure  | false |
    And I have a session from the apikey "hello_world"
    Then within 6 seconds a GET request to "/anything" with only the session cookie is answered 403
    And the response body has message "Forbidden"

  Scenario: A session not renewed ends after rolling_timeout
    Given the session plugin on the service with:
      | rolling_timeout | 1     |
      | cookie_secure   | false |
    And I have a session from the apikey "hello_world"
    Then within 6 seconds a GET request to "/anything" with only the session cookie is answered 403

  Scenario: A session ends after absolute_timeout even while in use
    Given the session plugin on the service with:
      | absolute_timeout | 1     |
      | cookie_secure    | false |
    And I have a session from the apikey "hello_world"
    Then within 6 seconds a GET request to "/anything" with only the session cookie is answered 403

  Scenario: A session used late in its rolling_timeout is renewed, and the new cookie works
    Given the session plugin on the service with:
      | rolling_timeout | 4     |
      | cookie_secure   | false |
    And I have a session from the apikey "hello_world"
    Then within 8 seconds a GET request to "/anything" with only the session cookie renews the session
    And the "session" cookie is set with the attributes "Path=/; SameSite=Strict; HttpOnly"
    When I send a GET request to "/anything" with only the session cookie
    Then the response status is 200
    And the upstream received the consumer headers of "alex"

  Scenario: After a renewal the old session cookie still opens for stale_ttl seconds (storage kong)
    Given the session plugin on the service with:
      | storage         | kong  |
      | rolling_timeout | 4     |
      | stale_ttl       | 3     |
      | cookie_secure   | false |
    And I have a session from the apikey "hello_world"
    When I keep the session cookie as "before renewal"
    Then within 8 seconds a GET request to "/anything" with only the session cookie renews the session
    When I send a GET request to "/anything" with only the kept session cookie "before renewal"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
    And within 8 seconds a GET request to "/anything" with only the kept session cookie "before renewal" is answered 403
    When I send a GET request to "/anything" with only the session cookie
    Then the response status is 200

  Scenario: A session within its timeouts is not renewed
    Given the session plugin on the service with:
      | cookie_secure | false |
    And I have a session from the apikey "hello_world"
    When I send a GET request to "/anything" with only the session cookie
    Then the response status is 200
    And the response sets no cookie
