//! Steps for the `session` plugin: configuring it, getting a session, sending the session cookie (as is, old,
//! or tampered with), and checking the `Set-Cookie` headers the gateway sends.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::json;

use super::{HttpMethod, Storage, config_table};
use crate::world::{Cookies, Error, GatewayWorld, Outgoing, SESSION_COOKIE};

/// Length of a base64url-encoded lua-resty-session v4 header: all a cookie carries with server-side storage.
const SESSION_HEADER_LEN: usize = 110;

#[given("the session plugin on the service")]
async fn session_on_the_service(world: &mut GatewayWorld) -> Result<(), Error> {
    world.enable_plugin("session", None, json!({})).await
}

#[given("the session plugin on the service with:")]
async fn session_on_the_service_with(world: &mut GatewayWorld, step: &Step) -> Result<(), Error> {
    let config = config_table(step)?;
    world.enable_plugin("session", None, config).await
}

#[given(expr = "the session plugin uses {storage} storage")]
async fn session_storage(world: &mut GatewayWorld, storage: Storage) -> Result<(), Error> {
    world
        .reconfigure_plugin("session", json!({ "storage": storage.as_str() }))
        .await
}

#[given(expr = "I have a session from the apikey {string}")]
async fn have_a_session(world: &mut GatewayWorld, key: String) -> Result<(), Error> {
    world.log_in(&key).await
}

#[when(expr = "I send a {method} request to {string} with only the (old )session cookie")]
async fn send_with_session_cookie(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
) -> Result<(), Error> {
    let cookie = format!("{SESSION_COOKIE}={}", world.session_cookie()?);
    world
        .send(Outgoing::new(method.0, &path).cookies(Cookies::Only(cookie)))
        .await
        .map(drop)
}

#[when(expr = "I send a {method} request to {string} with a tampered session cookie")]
async fn send_with_tampered_cookie(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
) -> Result<(), Error> {
    let cookie = format!("{SESSION_COOKIE}={}", world.tampered_session_cookie()?);
    world
        .send(Outgoing::new(method.0, &path).cookies(Cookies::Only(cookie)))
        .await
        .map(drop)
}

#[then(expr = "the response is {int} with a {string} cookie")]
fn status_and_cookie(world: &mut GatewayWorld, status: u16, name: String) -> Result<(), Error> {
    let reply = world.last()?;
    assert_eq!(
        reply.status.as_u16(),
        status,
        "body: {}",
        String::from_utf8_lossy(&reply.body)
    );
    sets_cookie(world, name)
}

#[then(expr = "the response sets a {string} cookie")]
fn sets_cookie(world: &mut GatewayWorld, name: String) -> Result<(), Error> {
    let reply = world.last()?;
    let value = reply.set_cookie(&name).map(|(value, _)| value);
    assert!(
        value.is_some_and(|v| !v.is_empty()),
        "no {name} cookie in Set-Cookie {:?}",
        reply.set_cookies
    );
    Ok(())
}

#[then("the response sets no cookie")]
fn sets_no_cookie(world: &mut GatewayWorld) -> Result<(), Error> {
    let set_cookies = &world.last()?.set_cookies;
    assert!(
        set_cookies.is_empty(),
        "unexpected Set-Cookie {set_cookies:?}"
    );
    Ok(())
}

#[then(expr = "the {string} cookie is set with the attributes {string}")]
fn cookie_attributes(
    world: &mut GatewayWorld,
    name: String,
    attributes: String,
) -> Result<(), Error> {
    let reply = world.last()?;
    let (value, actual) = reply
        .set_cookie(&name)
        .ok_or_else(|| format!("no {name} cookie in Set-Cookie {:?}", reply.set_cookies))?;
    assert!(!value.is_empty(), "the {name} cookie is empty");
    assert_eq!(actual, attributes, "attributes of the {name} cookie");
    Ok(())
}

#[then(expr = "the {string} cookie is expired with the attributes {string}")]
fn cookie_expired(world: &mut GatewayWorld, name: String, attributes: String) -> Result<(), Error> {
    let reply = world.last()?;
    let (value, actual) = reply
        .set_cookie(&name)
        .ok_or_else(|| format!("no {name} cookie in Set-Cookie {:?}", reply.set_cookies))?;
    assert_eq!(value, "", "an expired cookie has no value");
    assert_eq!(
        actual, attributes,
        "attributes of the expired {name} cookie"
    );
    Ok(())
}

#[then(expr = "the session cookie has the {storage} storage format")]
fn cookie_format(world: &mut GatewayWorld, storage: Storage) -> Result<(), Error> {
    let length = world.session_cookie()?.len();
    match storage {
        Storage::Kong => assert_eq!(
            length, SESSION_HEADER_LEN,
            "a server-side session's cookie is the header only"
        ),
        Storage::Cookie => assert!(
            length > SESSION_HEADER_LEN,
            "a cookie session carries data after the header"
        ),
    }
    Ok(())
}
