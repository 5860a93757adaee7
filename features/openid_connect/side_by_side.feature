@openid-connect @enterprise @key-auth @session @request-termination
Feature: Key-auth and OpenID Connect side by side
  One gateway, both documented flows on different routes: the key-auth + session how-to on "/anything" and the
  OpenID Connect how-to on "/". Each route takes its own credentials and not the other's.

  Background:
    Given the documented key-auth and session setup
    And the documented OpenID Connect setup

  Scenario: Each route takes its own credentials
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the upstream received the consumer headers of "alex"
    When I send a GET request to "/" as the documented user
    Then the upstream received a Bearer access token for the documented user

  Scenario: Neither route takes the other's credentials
    When I send a GET request to "/" with apikey "hello_world"
    Then the response is 401 with message "Unauthorized"
    When I send a GET request to "/anything" as the documented user
    Then the response is 403 with message "Forbidden"
