@basic-auth
Feature: Basic-auth authenticates a consumer by username and password
  Basic-auth reads `Authorization: Basic base64(username:password)` (or `Proxy-Authorization`), finds the
  credential by username and compares the password's salted hash. Every failure is a 401 "Unauthorized" with a
  `WWW-Authenticate: Basic realm="<realm>"` challenge (`realm` defaults to "service" since Kong 3.6); a success
  reaches the upstream with the consumer's headers and the credential's username as `X-Credential-Identifier`.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "bob" with basic-auth username "bob" and password "kong"

  @kong-3.6+
  Scenario: No credentials
    Given basic-auth on the service
    When I send a GET request to "/anything"
    Then the response is 401 with message "Unauthorized"
    And the response header "WWW-Authenticate" is 'Basic realm="service"'

  @kong-3.6+
  Scenario: A wrong password
    Given basic-auth on the service
    When I send a GET request to "/anything" with the basic-auth username "bob" and password "not_kong"
    Then the response is 401 with message "Unauthorized"
    And the response header "WWW-Authenticate" is 'Basic realm="service"'

  @kong-3.6+
  Scenario: The realm is configurable
    Given basic-auth on the service configured with:
      | realm | example |
    When I send a GET request to "/anything" with the basic-auth username "nobody" and password "kong"
    Then the response is 401 with message "Unauthorized"
    And the response header "WWW-Authenticate" is 'Basic realm="example"'

  Scenario: Valid credentials reach the upstream as their consumer
    Given basic-auth on the service
    When I send a GET request to "/anything" with the basic-auth username "bob" and password "kong"
    Then the response status is 200
    And the upstream received the consumer "bob"
    And the upstream received the credential identifier of the basic-auth username "bob"
    And the upstream did not receive the header "X-Anonymous-Consumer"

  Scenario: hide_credentials keeps the Authorization header from the upstream
    Given basic-auth on the service configured with:
      | hide_credentials | true |
    When I send a GET request to "/anything" with the basic-auth username "bob" and password "kong"
    Then the response status is 200
    And the upstream did not receive the header "Authorization"
