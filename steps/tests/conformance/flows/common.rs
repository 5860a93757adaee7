//! Plain HTTP steps (send a request, check the answer and what the upstream saw) and the provisioning steps
//! that are not about one plugin.

use cucumber::{given, then, when};

use super::HttpMethod;
use crate::world::{Error, GatewayWorld, Outgoing};

#[given(expr = "a service {string} with a route {string} at {string}")]
async fn a_service(
    world: &mut GatewayWorld,
    service: String,
    route: String,
    path: String,
) -> Result<(), Error> {
    world.create_service(&service, &route, &path).await
}

#[given("the documented key-auth and session setup")]
async fn the_documented_setup(world: &mut GatewayWorld) -> Result<(), Error> {
    world.documented_setup().await
}

#[when(expr = "I send a {method} request to {string}")]
async fn send(world: &mut GatewayWorld, method: HttpMethod, path: String) -> Result<(), Error> {
    world.send(Outgoing::new(method.0, &path)).await.map(drop)
}

#[then(expr = "the response status is {int}")]
fn status_is(world: &mut GatewayWorld, status: u16) -> Result<(), Error> {
    let reply = world.last()?;
    assert_eq!(
        reply.status.as_u16(),
        status,
        "body: {}",
        String::from_utf8_lossy(&reply.body)
    );
    Ok(())
}

#[then(expr = "the response is {int} with message {string}")]
fn status_and_message(world: &mut GatewayWorld, status: u16, message: String) -> Result<(), Error> {
    status_is(world, status)?;
    body_has_message(world, message)
}

#[then(expr = "the response body has message {string}")]
fn body_has_message(world: &mut GatewayWorld, message: String) -> Result<(), Error> {
    assert_eq!(world.last()?.message()?, message);
    Ok(())
}

#[then(expr = "the response is {int} with an empty body")]
fn status_and_empty_body(world: &mut GatewayWorld, status: u16) -> Result<(), Error> {
    status_is(world, status)?;
    let body = &world.last()?.body;
    assert!(
        body.is_empty(),
        "expected no body, got {:?}",
        String::from_utf8_lossy(body)
    );
    Ok(())
}

#[then(expr = "the response header {string} is {string}")]
fn response_header_is(world: &mut GatewayWorld, name: String, value: String) -> Result<(), Error> {
    let values: Vec<_> = world
        .last()?
        .headers
        .get_all(name.as_str())
        .iter()
        .collect();
    assert_eq!(values, [value.as_str()], "the {name} header(s)");
    Ok(())
}

#[then(expr = "the response header {string} starts with {string}")]
fn response_header_starts_with(
    world: &mut GatewayWorld,
    name: String,
    prefix: String,
) -> Result<(), Error> {
    let values: Vec<_> = world
        .last()?
        .headers
        .get_all(name.as_str())
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    assert!(
        matches!(values.as_slice(), [value] if value.starts_with(&prefix)),
        "expected one {name} header starting with {prefix:?}, got {values:?}"
    );
    Ok(())
}

#[then(expr = "the upstream did not receive the header {string}")]
fn upstream_did_not_receive(world: &mut GatewayWorld, name: String) -> Result<(), Error> {
    let headers = world.last()?.upstream_headers()?;
    let value = headers.get(&name.to_ascii_lowercase());
    assert!(value.is_none(), "the upstream received {name}: {value:?}");
    Ok(())
}
