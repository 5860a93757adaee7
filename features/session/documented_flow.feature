@key-auth @session @request-termination
Feature: Authenticate consumers with the Key Auth and Session plugins
  Kong's how-to "Authenticate Consumers with the Key Auth and Sessions plugins": key-auth with an anonymous
  consumer that request-termination refuses, and the session plugin on the same service. A valid key starts a
  session; from then on the session cookie alone is enough.
  (fixtures/config/key-auth-session.yaml is the same set-up as a declarative file.)
  The validation is tagged preprovisioned: it also runs, un-namespaced, against that set-up loaded outside the
  harness (--provisioning external, e.g. after `deck gateway sync fixtures/kong/deck/key-auth-session.yaml`).

  Background:
    Given the documented key-auth and session setup

  @preprovisioned
  Scenario: The documented validation
    When I send a GET request to "/anything"
    Then the response is 403 with message "Forbidden"
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response is 200 with a "session" cookie
    When I send a GET request to "/anything" with only the session cookie
    Then the response status is 200

  Scenario Outline: The documented flow with <storage> storage
    Given the session plugin uses <storage> storage
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response is 200 with a "session" cookie
    And the session cookie has the <storage> storage format
    When I send a GET request to "/anything" with only the session cookie
    Then the response status is 200

    Examples:
      | storage |
      | kong    |
      | cookie  |
