@key-auth
Feature: Why key-auth refuses a request
  Without `anonymous`, a request key-auth cannot authenticate gets 401 with the reason as its message: no key, a key
  no credential has ("Unauthorized" since Kong 3.6), or a key given twice ("Duplicate API key found"). Since Kong 3.7
  every 401 carries `WWW-Authenticate: Key`, with the `realm` when one is configured. From
  `kong/plugins/key-auth/handler.lua` (`ERR_*`, `www_authenticate`) and `02-access_spec.lua`.

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"

  Scenario: A key header given twice
    Given key-auth on the service
    When I send a GET request to "/anything" with the headers:
      | apikey | {{hello_world}} |
      | apikey | {{hello_world}} |
    Then the response is 401 with message "Duplicate API key found"

  Scenario: A key query argument given twice
    Given key-auth on the service
    When I send a GET request to "/anything?apikey={{hello_world}}&apikey={{hello_world}}"
    Then the response is 401 with message "Duplicate API key found"

  Scenario Outline: A key field given twice in a <kind> body
    Given key-auth on the service with:
      | key_in_body | true |
    When I send a POST request to "/anything" with the <kind> body '<body>'
    Then the response is 401 with message "Duplicate API key found"

    Examples:
      | kind | body                                               |
      | form | apikey={{hello_world}}&apikey={{hello_world}}      |
      | JSON | {"apikey": ["{{hello_world}}", "{{hello_world}}"]} |

  @kong-3.6+
  Scenario: A key in the query that no credential has
    Given key-auth on the service
    When I send a GET request to "/anything?apikey=not_the_key"
    Then the response is 401 with message "Unauthorized"

  @kong-3.7+
  Scenario: A duplicate key gets the Key challenge too
    Given key-auth on the service
    When I send a GET request to "/anything?apikey=a&apikey=b"
    Then the response header "WWW-Authenticate" is "Key"

  @kong-3.7+
  Scenario Outline: With a realm the challenge names it (<case>)
    Given key-auth on the service with:
      | realm | kong-conformance |
    When I send a GET request to "<path>"
    Then the response status is 401
    And the response header "WWW-Authenticate" is 'Key realm="kong-conformance"'

    Examples:
      | case      | path                         |
      | no key    | /anything                    |
      | wrong key | /anything?apikey=not_the_key |

  Scenario: The 401 is a JSON error body
    Given key-auth on the service
    When I send a GET request to "/anything"
    Then the response status is 401
    And the response header "Content-Type" is "application/json; charset=utf-8"

  Scenario: A refused request does not reach the upstream
    Given key-auth on the service
    When I send a POST request to "/anything?apikey=not_the_key" with the form body "a=1"
    Then the response status is 401
    And the response body has message "Unauthorized"
