@key-auth @writable-admin-api
Feature: The Admin API refuses key-auth configurations Kong's schema forbids
  `key_names` are header names (`typedefs.header_name`: letters, digits, `_` and `-`), and the config has only
  Kong's fields. The Admin API answers 400 with a schema violation naming the rule
  (`kong/plugins/key-auth/schema.lua`, `spec/03-plugins/09-key-auth/01-api_spec.lua`).
  (Tagged writable-admin-api: the refusal is the entity endpoint's answer; POST /config reports it differently.)

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"

  Scenario Outline: <rule>
    When I try to enable the "key-auth" plugin on the service with:
      | <field> | <value> |
    Then the Admin API refuses it with 400 and a message containing "<message>"

    Examples:
      | rule                                  | field            | value               | message                                                                              |
      | A key name with a backslash           | key_names        | ["hello\\\\world"]  | bad header name 'hello\\world', allowed characters are A-Z, a-z, 0-9, '_', and '-' |
      | A key name with a space               | key_names        | ["api key"]         | bad header name 'api key', allowed characters are A-Z, a-z, 0-9, '_', and '-'     |
      | A field key-auth does not have        | cookie_secure    | false               | unknown field                                                                        |
      | hide_credentials that is not a boolean | hide_credentials | "sometimes"         | expected a boolean                                                                   |
