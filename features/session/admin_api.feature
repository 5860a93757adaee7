@session @writable-admin-api
Feature: The Admin API refuses session configurations Kong's schema forbids
  `cookie_same_site` is one of Strict, Lax, None, Default; `storage` one of cookie, kong; `logout_methods` a set of
  GET, POST, DELETE (`kong/plugins/session/schema.lua`). The Admin API answers 400 with a
  schema violation naming the rule.
  (Tagged writable-admin-api: the refusal is the entity endpoint's answer; POST /config reports it differently.)

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"

  Scenario Outline: <rule>
    When I try to enable the "session" plugin on the service with:
      | <field> | <value> |
    Then the Admin API refuses it with 400 and a message containing "<message>"

    Examples:
      | rule                              | field            | value       | message                                    |
      | An unknown SameSite value         | cookie_same_site | Sometimes   | expected one of: Strict, Lax, None, Default |
      | An unknown storage                | storage          | redis       | expected one of: cookie, kong              |
      | A logout method Kong does not use | logout_methods   | ["PUT"]     | expected one of: GET, POST, DELETE         |
