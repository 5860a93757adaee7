@key-auth
Feature: A key-auth credential created with a ttl expires
  Key-auth credentials are TTL'd rows (`ttl = true` in `kong/plugins/key-auth/daos.lua`): one created with
  `ttl: 1` authenticates until its second runs out, then the proxy refuses it and the Admin API no longer finds it
  (Kong's spec "auto-expiring keys").

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And key-auth on the service

  Scenario: A key with a one-second ttl stops authenticating and disappears
    Given the consumer "alex" with key "brief_key" that expires after 1 second
    Then within 3 seconds a GET request to "/anything" with apikey "brief_key" is answered 401
    And the response body has message "Unauthorized"
    And within 3 seconds the Admin API no longer has the key "brief_key" of "alex"

  Scenario: A key without a ttl keeps authenticating
    Given the consumer "alex" with key "hello_world"
    When I send a GET request to "/anything" with apikey "hello_world"
    Then the response status is 200
