@key-auth
Feature: Key-auth reads keys from multipart form bodies
  With `key_in_body`, key-auth looks for the key in the request body as `kong.request.get_body()` parses it:
  urlencoded forms, JSON and `multipart/form-data`. With `hide_credentials` the key's part is cut out of the form
  and the rest reaches the upstream as a multipart form still (Kong's spec "true preserves body MIME type").

  Background:
    Given a service "example-service" with a route "example-route" at "/anything"
    And the consumer "alex" with key "hello_world"

  Scenario: A key in a multipart form field authenticates
    Given key-auth on the service configured with:
      | key_in_body | true |
    When I send a multipart form to "/anything" with the key "hello_world" in the field "apikey" and "bar" in the field "foo"
    Then the response status is 200
    And the upstream received the consumer headers of "alex"
    And the upstream received a multipart form with "bar" in the field "foo"

  Scenario: hide_credentials removes the key's part and keeps the other parts
    Given key-auth on the service configured with:
      | key_in_body      | true |
      | hide_credentials | true |
    When I send a multipart form to "/anything" with the key "hello_world" in the field "apikey" and "bar" in the field "foo"
    Then the response status is 200
    And the upstream received a multipart form without the field "apikey"
    And the upstream received a multipart form with "bar" in the field "foo"

  Scenario: A wrong key in a multipart form field is refused
    Given key-auth on the service configured with:
      | key_in_body | true |
    When I send a multipart form to "/anything" with the key "not_the_key" in the field "apikey" and "bar" in the field "foo"
    Then the response is 401 with message "Unauthorized"
