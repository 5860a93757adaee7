@openid-connect @enterprise
Feature: Session authentication with the OpenID Connect password grant
  Kong's openid-connect "Session authentication" how-to: the plugin with `auth_methods: [session, password]` and
  `client_auth: [client_secret_post]` on the service `openid-connect` (route `/`). Basic credentials make the
  gateway run the password grant at the identity provider; the upstream receives the access token as
  `Authorization: Bearer <token>`, never the password; the client receives the session cookie
  `session=...; Path=/; SameSite=Lax; HttpOnly`, and from then on the cookie alone is enough.
  "The documented user" is the realm's john / doe, or the user given with --idp-username for another provider.

  Background:
    Given the documented OpenID Connect setup

  Scenario: Basic credentials give a Bearer token upstream and a session cookie
    When I send a GET request to "/" as the documented user
    Then the response status is 200
    And the upstream received a Bearer access token for the documented user
    And the "session" cookie is set with the attributes "Path=/; SameSite=Lax; HttpOnly"

  Scenario: The session cookie alone reaches the upstream with the Bearer token
    Given I have a session as the documented user
    When I send a GET request to "/" with only the session cookie
    Then the response status is 200
    And the upstream received the access token of the login
