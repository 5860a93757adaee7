@request-termination
Feature: A route with a regex path, seen through request-termination's echo
  Kong 3.x matches `~` paths as regexes anchored at the start of the path, and hands their captures to plugins
  (`kong.request.get_uri_captures()`): request-termination's echo reports them, named and by number, with the
  matched route.

  Scenario: The captures of a regex path reach the echo
    Given a service "example-service" with a route "users-route" at "/anything" followed by the regex "/users/(?<id>\d+)$"
    And request-termination on the service configured with:
      | status_code | 200  |
      | echo        | true |
    When I send a GET request to "/anything/users/42"
    Then the response status is 200
    And the echo reports the URI capture "id" as "42"
    And the echo names the matched route "users-route" and service "example-service"

  Scenario: A path the regex does not match is not routed
    Given a service "example-service" with a route "users-route" at "/anything" followed by the regex "/users/(?<id>\d+)$"
    And request-termination on the service configured with:
      | status_code | 200  |
      | echo        | true |
    When I send a GET request to "/anything/users/x42"
    Then the response is 404 with message "no Route matched with those values"
