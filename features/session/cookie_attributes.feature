@key-auth @session
Feature: Session cookie attributes
  The session cookie's attributes come in lua-resty-session's order: Path, SameSite, Secure, HttpOnly. Kong's
  defaults give "Path=/; SameSite=Strict; Secure; HttpOnly"; the how-to sets cookie_secure to false so that the
  cookie also travels over plain HTTP. No Domain, Expires or Max-Age unless configured.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"
    And key-auth on the service

  Scenario: Kong's default attributes
    Given the session plugin on the service
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "session" cookie is set with the attributes "Path=/; SameSite=Strict; Secure; HttpOnly"

  Scenario: The how-to's cookie_secure false drops Secure
    Given the session plugin on the service with:
      | cookie_secure | false |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "session" cookie is set with the attributes "Path=/; SameSite=Strict; HttpOnly"

  Scenario: Another name, SameSite=Lax, neither Secure nor HttpOnly
    Given the session plugin on the service with:
      | cookie_name      | da_cookie |
      | cookie_same_site | Lax       |
      | cookie_http_only | false     |
      | cookie_secure    | false     |
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the "da_cookie" cookie is set with the attributes "Path=/; SameSite=Lax"
