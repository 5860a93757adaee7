@openid-connect @enterprise
Feature: The anonymous consumer and the 401 message
  With `anonymous` (a consumer's id or username), a request the plugin cannot authenticate goes on as that
  consumer, marked `X-Anonymous-Consumer: true`; without it the 401 carries `unauthorized_error_message`
  (default "Unauthorized"). From Kong's openid-connect plugin reference (`anonymous`,
  `unauthorized_error_message`).

  Scenario: unauthorized_error_message replaces the 401's message
    Given the documented OpenID Connect setup with:
      | unauthorized_error_message | Who goes there? |
    When I send a GET request to "/"
    Then the response is 401 with message "Who goes there?"

  @key-auth
  Scenario: Without credentials the request goes on as the anonymous consumer
    Given the consumer "anonymous_users" without a key
    And the documented OpenID Connect setup with:
      | anonymous | {{anonymous_users}} |
    When I send a GET request to "/"
    Then the response status is 200
    And the upstream received the anonymous consumer headers of "anonymous_users"

  @key-auth
  Scenario: A wrong password goes on as the anonymous consumer
    Given the consumer "anonymous_users" without a key
    And the documented OpenID Connect setup with:
      | anonymous | {{anonymous_users}} |
    When I send a GET request to "/" as the documented user with a wrong password
    Then the response status is 200
    And the upstream received the anonymous consumer headers of "anonymous_users"
    And the response sets no cookie
