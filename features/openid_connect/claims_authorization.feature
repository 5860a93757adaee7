@openid-connect @enterprise
Feature: Claims-based authorization of the tokens the gateway obtains itself
  `audience_required`, `scopes_required` (and `groups_required`, `roles_required`) name values the access token's
  claim (`aud`, `scope`, …) must hold. Kong's claims-based authorization guide enables them with the password grant,
  so they apply to the token the gateway gets from the token endpoint, not only to bearer tokens. Each array entry
  is an alternative (OR); the space-separated words of one entry must all be present (AND). A token that fails is
  authenticated but forbidden: 403 with `forbidden_error_message`, and no session is created for it.

  Scenario: The provider's own audience is accepted
    Given the documented OpenID Connect setup with:
      | audience_required | ["account"] |
    When I send a GET request to "/" as the documented user
    Then the response status is 200
    And the upstream received a Bearer access token for the documented user

  Scenario: An audience the token does not carry is forbidden
    Given the documented OpenID Connect setup with:
      | audience_required | ["kong-api-that-is-not-issued"] |
    When I send a GET request to "/" as the documented user
    Then the response is 403 with message "Forbidden"
    And the response sets no cookie

  Scenario Outline: scopes_required is an OR of AND-groups (<scopes_required>)
    Given the documented OpenID Connect setup with:
      | scopes_required | <scopes_required> |
    When I send a GET request to "/" as the documented user
    Then the response status is <status>

    Examples:
      | scopes_required                    | status |
      | ["openid"]                         | 200    |
      | ["openid kong-admin"]              | 403    |
      | ["kong-admin", "openid"]           | 200    |
      | ["kong-admin"]                     | 403    |

  Scenario: A custom forbidden message
    Given the documented OpenID Connect setup with:
      | scopes_required         | ["kong-admin"]    |
      | forbidden_error_message | Not for you       |
    When I send a GET request to "/" as the documented user
    Then the response is 403 with message "Not for you"
