@key-auth @session @request-termination
Feature: Every session cookie setting
  The session cookie's attributes come from the plugin's `cookie_*` settings, in lua-resty-session's order:
  Domain, Path, SameSite, Secure, HttpOnly. `SameSite=None` always comes with `Secure`; `cookie_domain` "localhost"
  sets no Domain. From `kong/plugins/session/schema.lua` and lua-resty-session 4 (`session.new`), and Kong's
  `spec/03-plugins/30-session/01-access_spec.lua`.

  Background:
    Given the documented key-auth setup without the session plugin

  Scenario Outline: cookie_same_site <same_site>
    Given the session plugin on the service with:
      | cookie_same_site | <same_site> |
      | cookie_secure    | false       |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "session" cookie is set with the attributes "<attributes>"

    Examples:
      | same_site | attributes                               |
      | Strict    | Path=/; SameSite=Strict; HttpOnly        |
      | Lax       | Path=/; SameSite=Lax; HttpOnly           |
      | None      | Path=/; SameSite=None; Secure; HttpOnly  |
      | Default   | Path=/; SameSite=Default; HttpOnly       |

  Scenario: cookie_path sets the Path attribute
    Given the session plugin on the service with:
      | cookie_path   | /docs |
      | cookie_secure | false |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "session" cookie is set with the attributes "Path=/docs; SameSite=Strict; HttpOnly"

  Scenario: cookie_domain sets the Domain attribute, first
    Given the session plugin on the service with:
      | cookie_domain | example.com |
      | cookie_secure | false       |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "session" cookie is set with the attributes "Domain=example.com; Path=/; SameSite=Strict; HttpOnly"

  Scenario: cookie_domain localhost sets no Domain
    Given the session plugin on the service with:
      | cookie_domain | localhost |
      | cookie_secure | false     |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "session" cookie is set with the attributes "Path=/; SameSite=Strict; HttpOnly"

  Scenario: cookie_http_only false drops HttpOnly and keeps Secure
    Given the session plugin on the service with:
      | cookie_http_only | false |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "session" cookie is set with the attributes "Path=/; SameSite=Strict; Secure"

  Scenario: cookie_name names the cookie that carries the session
    Given the session plugin on the service with:
      | cookie_name   | my_session |
      | cookie_secure | false      |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response sets the cookies "my_session"
    When I send a GET request to "/anything" with only the cookies "my_session"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"

  Scenario: A cookie of another name is not the session
    Given the session plugin on the service with:
      | cookie_name   | my_session |
      | cookie_secure | false      |
    When I send a GET request to "/anything" with apikey "hello_world"
    And I send a GET request to "/anything" with the cookie header "session=whatever"
    Then the response is 403 with message "Forbidden"
