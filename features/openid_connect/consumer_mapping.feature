@openid-connect @enterprise
Feature: Mapping the token to a Kong consumer
  With `consumer_claim` the plugin looks the claim's value up as a consumer (`consumer_by`: `username`,
  `custom_id`, `id`). Found, the upstream receives that consumer's headers; not found, the request is refused with
  403 and `forbidden_error_message` (default "Forbidden"), unless `consumer_optional` lets it through without a
  consumer. From Kong's openid-connect plugin reference (`consumer_claim`, `consumer_by`, `consumer_optional`,
  `forbidden_error_message`).

  Scenario: The claim names an existing consumer
    Given the documented OpenID Connect setup with:
      | consumer_claim | ["preferred_username"] |
      | consumer_by    | ["username"]           |
    And a consumer named after the documented user
    When I send a GET request to "/" as the documented user
    Then the response status is 200
    And the upstream received the consumer headers of the documented user's consumer

  Scenario: No consumer for the claim is forbidden
    Given the documented OpenID Connect setup with:
      | consumer_claim | ["preferred_username"] |
      | consumer_by    | ["custom_id"]          |
    When I send a GET request to "/" as the documented user
    Then the response is 403 with message "Forbidden"

  Scenario: forbidden_error_message replaces the 403's message
    Given the documented OpenID Connect setup with:
      | consumer_claim          | ["preferred_username"] |
      | consumer_by             | ["custom_id"]          |
      | forbidden_error_message | Not one of ours        |
    When I send a GET request to "/" as the documented user
    Then the response is 403 with message "Not one of ours"

  Scenario: With consumer_optional a token without a consumer still passes
    Given the documented OpenID Connect setup with:
      | consumer_claim    | ["preferred_username"] |
      | consumer_by       | ["custom_id"]          |
      | consumer_optional | true                   |
    When I send a GET request to "/" as the documented user
    Then the response status is 200
    And the upstream received a Bearer access token for the documented user
    And the upstream did not receive the header "X-Consumer-ID"
