@openid-connect @enterprise
Feature: Re-configuring the plugin through the Admin API
  Kong's how-to turns on sessions by repeating a form field, which builds an array:
  `http -f patch :8001/plugins/<id> config.auth_methods=session config.auth_methods=password` answers with
  `"auth_methods": ["session","password"]`, and logging in then gives a session cookie.
  (Tagged writable-admin-api: a DB-less Kong's Admin API refuses the PATCH; --provisioning declarative skips it.)

  @writable-admin-api
  Scenario: Repeated form fields build the auth_methods array
    Given the documented OpenID Connect setup with:
      | auth_methods | ["password"] |
    When I update the "openid-connect" plugin with the form "config.auth_methods=session&config.auth_methods=password"
    Then the Admin API answers with "auth_methods": ["session","password"]
    When I send a GET request to "/" as the documented user
    Then the response is 200 with a "session" cookie
