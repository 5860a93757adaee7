//! Steps for request-termination's `echo` and `trigger` (`features/request_termination/echo_and_trigger.feature`):
//! the plugin configured from a table on the current service, requests carrying a header, and what the echo
//! reports of the request and of the matched route and service.

use cucumber::{gherkin::Step, given, then};
use serde_json::Value;

use super::config_table;
use crate::world::{Error, GatewayWorld};

#[given("request-termination on the service configured with:")]
async fn request_termination_configured(
    world: &mut GatewayWorld,
    step: &Step,
) -> Result<(), Error> {
    let config = config_table(step)?;
    world
        .enable_plugin("request-termination", None, config)
        .await
}

#[given(
    expr = "a service {string} with a route {string} at {string} followed by the regex {string}"
)]
async fn a_service_with_regex_route(
    world: &mut GatewayWorld,
    service: String,
    route: String,
    base: String,
    regex: String,
) -> Result<(), Error> {
    world
        .create_service_with_regex_route(&service, &route, &base, &regex)
        .await
}

/// The last response's body, which must be request-termination's echo.
fn echo(world: &GatewayWorld) -> Result<Value, Error> {
    let body = world.last()?.json()?;
    if body.get("request").is_none() || body.get("kong").is_none() {
        return Err(format!("not request-termination's echo: {body}").into());
    }
    Ok(body)
}

#[then(expr = "the echo's message is {string}")]
fn echo_message(world: &mut GatewayWorld, message: String) -> Result<(), Error> {
    assert_eq!(echo(world)?["message"], message);
    Ok(())
}

#[then(expr = "the echoed request has the header {string} set to {string}")]
fn echoed_header(world: &mut GatewayWorld, name: String, value: String) -> Result<(), Error> {
    let body = echo(world)?;
    assert_eq!(
        body["request"]["headers"][name.to_ascii_lowercase()],
        value,
        "{body}"
    );
    Ok(())
}

#[then(expr = "the echoed request has the query argument {string} set to {string}")]
fn echoed_query(world: &mut GatewayWorld, name: String, value: String) -> Result<(), Error> {
    let body = echo(world)?;
    assert_eq!(body["request"]["query"][&name], value, "{body}");
    Ok(())
}

#[then(expr = "the echo names the matched route {string} and service {string}")]
fn echoed_route(world: &mut GatewayWorld, route: String, service: String) -> Result<(), Error> {
    let body = echo(world)?;
    assert_eq!(body["matched_route"]["name"], world.ns(&route), "{body}");
    assert_eq!(
        body["matched_service"]["name"],
        world.ns(&service),
        "{body}"
    );
    Ok(())
}

#[then(expr = "the echo reports the URI capture {string} as {string}")]
fn echoed_capture(world: &mut GatewayWorld, name: String, value: String) -> Result<(), Error> {
    let body = echo(world)?;
    let captures = &body["request"]["uri_captures"];
    assert_eq!(captures["named"][&name], value, "{body}");
    assert!(
        captures["unnamed"]
            .as_array()
            .is_some_and(|items| items.iter().any(|v| *v == value)),
        "{body}"
    );
    Ok(())
}
