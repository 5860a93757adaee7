@request-termination @writable-admin-api
Feature: The Admin API refuses request-termination configurations Kong's schema forbids
  `kong/plugins/request-termination/schema.lua`: `status_code` between 100 and 599; `message` excludes `body` and
  `content_type`; `content_type` needs a `body`; `echo` excludes `body`; `trigger` is a header name. The Admin API
  answers 400 with a schema violation naming the rule.
  (Tagged writable-admin-api: the refusal is the entity endpoint's answer; POST /config reports it differently.)

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"

  Scenario Outline: <rule>
    When I try to enable the "request-termination" plugin on the service with:
      | <field>  | <value>  |
      | <field2> | <value2> |
    Then the Admin API refuses it with 400 and a message containing "<message>"

    Examples:
      | rule                                | field        | value     | field2       | value2   | message                                          |
      | A status below 100                  | status_code  | 99        | message      | Low      | value should be between 100 and 599              |
      | A status above 599                  | status_code  | 600       | message      | High     | value should be between 100 and 599              |
      | A message with a body               | message      | Hello     | body         | <p>Hi</p> | message cannot be used with content_type or body |
      | A message with a content type       | message      | Hello     | content_type | text/html | message cannot be used with content_type or body |
      | A content type without a body       | status_code  | 503       | content_type | text/html | content_type requires a body                     |
      | Echo with a body                    | echo         | true      | body         | <p>Hi</p> | echo cannot be used with content_type and body   |
      | A trigger that is not a header name | status_code  | 503       | trigger      | a b      | bad header name 'a b'                            |
