//! Steps for the `session` plugin: configuring it, getting a session, sending the session cookie (as is, old,
//! or tampered with), and checking the `Set-Cookie` headers the gateway sends.

use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::json;

use super::{BodyKind, HttpMethod, Storage, config_table};
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

/// The session cookie the scenario holds, alone, as the `Cookie` header.
fn session_cookie_only(world: &GatewayWorld) -> Result<Cookies, Error> {
    Ok(Cookies::Only(format!(
        "{SESSION_COOKIE}={}",
        world.session_cookie()?
    )))
}

#[when(
    expr = "I send a {method} request to {string} with only the session cookie and the {body_kind} body {string}"
)]
async fn send_with_session_cookie_and_body(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    kind: BodyKind,
    body: String,
) -> Result<(), Error> {
    let request = Outgoing::new(method.0, &path)
        .cookies(session_cookie_only(world)?)
        .body(kind.content_type(), body);
    world.send(request).await.map(drop)
}

#[when(
    expr = "I send a {method} request to {string} with only the session cookie and the header {string} set to {string}"
)]
async fn send_with_session_cookie_and_header(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    name: String,
    value: String,
) -> Result<(), Error> {
    let request = Outgoing::new(method.0, &path)
        .cookies(session_cookie_only(world)?)
        .header(&name, &value);
    world.send(request).await.map(drop)
}

/// The last value the gateway issued for each cookie named (comma-separated), and nothing else.
#[when(expr = "I send a {method} request to {string} with only the cookies {string}")]
async fn send_with_cookies(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    names: String,
) -> Result<(), Error> {
    let names: Vec<&str> = names.split(',').map(str::trim).collect();
    let cookie = world.issued_cookie_header(&names)?;
    world
        .send(Outgoing::new(method.0, &path).cookies(Cookies::Only(cookie)))
        .await
        .map(drop)
}

/// Exactly this `Cookie` header (a cookie the gateway never issued).
#[when(expr = "I send a {method} request to {string} with the cookie header {string}")]
async fn send_with_cookie_header(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    cookie: String,
) -> Result<(), Error> {
    world
        .send(Outgoing::new(method.0, &path).cookies(Cookies::Only(cookie)))
        .await
        .map(drop)
}

/// Polls with the session cookie alone until the gateway answers `status` (a session timing out).
#[then(
    expr = "within {int} seconds a {method} request to {string} with only the session cookie is answered {int}"
)]
async fn eventually_session_answered(
    world: &mut GatewayWorld,
    seconds: u64,
    method: HttpMethod,
    path: String,
    status: u16,
) -> Result<(), Error> {
    world
        .poll_until(
            Duration::from_secs(seconds),
            |world| Ok(Outgoing::new(method.0.clone(), &path).cookies(session_cookie_only(world)?)),
            |reply| reply.status.as_u16() == status,
            &format!("answered {status}"),
        )
        .await
}

/// Keeps the current session cookie under `name`, so that a later step can send it after the gateway has
/// issued a newer one (a renewal).
#[when(expr = "I keep the session cookie as {string}")]
async fn keep_session_cookie(world: &mut GatewayWorld, name: String) -> Result<(), Error> {
    let value = world.session_cookie()?.to_owned();
    world.kept_cookies.insert(name, value);
    Ok(())
}

/// Only the session cookie kept under `name`.
fn kept_cookie_only(world: &GatewayWorld, name: &str) -> Result<Cookies, Error> {
    let value = world
        .kept_cookies
        .get(name)
        .ok_or_else(|| format!("no session cookie was kept as {name:?}"))?;
    Ok(Cookies::Only(format!("{SESSION_COOKIE}={value}")))
}

#[when(expr = "I send a {method} request to {string} with only the kept session cookie {string}")]
async fn send_with_kept_cookie(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    name: String,
) -> Result<(), Error> {
    let cookies = kept_cookie_only(world, &name)?;
    world
        .send(Outgoing::new(method.0, &path).cookies(cookies))
        .await
        .map(drop)
}

/// Polls with the kept session cookie alone until the response has `status`.
#[then(
    expr = "within {int} seconds a {method} request to {string} with only the kept session cookie {string} is answered {int}"
)]
async fn eventually_kept_cookie_answered(
    world: &mut GatewayWorld,
    seconds: u64,
    method: HttpMethod,
    path: String,
    name: String,
    status: u16,
) -> Result<(), Error> {
    world
        .poll_until(
            Duration::from_secs(seconds),
            |world| {
                Ok(Outgoing::new(method.0.clone(), &path).cookies(kept_cookie_only(world, &name)?))
            },
            |reply| reply.status.as_u16() == status,
            &format!("answered {status}"),
        )
        .await
}

/// Polls with the session cookie alone until a 200 response renews it (a new, different session cookie).
#[then(
    expr = "within {int} seconds a {method} request to {string} with only the session cookie renews the session"
)]
async fn eventually_session_renewed(
    world: &mut GatewayWorld,
    seconds: u64,
    method: HttpMethod,
    path: String,
) -> Result<(), Error> {
    let old = world.session_cookie()?.to_owned();
    world
        .poll_until(
            Duration::from_secs(seconds),
            |world| Ok(Outgoing::new(method.0.clone(), &path).cookies(session_cookie_only(world)?)),
            |reply| {
                reply.status.as_u16() == 200
                    && reply
                        .set_cookie(SESSION_COOKIE)
                        .is_some_and(|(value, _)| !value.is_empty() && value != old)
            },
            "a 200 with a new session cookie",
        )
        .await
}

/// Exactly these cookies (comma-separated names, in any order), each with a value.
#[then(expr = "the response sets the cookies {string}")]
fn sets_cookies(world: &mut GatewayWorld, names: String) -> Result<(), Error> {
    let reply = world.last()?;
    let mut expected: Vec<&str> = names.split(',').map(str::trim).collect();
    let mut actual: Vec<&str> = reply
        .set_cookies
        .iter()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .collect();
    // The order of Set-Cookie headers means nothing to a client.
    expected.sort_unstable();
    actual.sort_unstable();
    assert_eq!(actual, expected, "the cookies set: {:?}", reply.set_cookies);
    for name in expected {
        assert!(
            reply
                .set_cookie(name)
                .is_some_and(|(value, _)| !value.is_empty()),
            "the {name} cookie is empty"
        );
    }
    Ok(())
}

/// The attributes, where `*` stands for any text (an `Expires` date).
#[then(expr = "the {string} cookie is set with the attributes matching {string}")]
fn cookie_attributes_matching(
    world: &mut GatewayWorld,
    name: String,
    pattern: String,
) -> Result<(), Error> {
    let reply = world.last()?;
    let (value, actual) = reply
        .set_cookie(&name)
        .ok_or_else(|| format!("no {name} cookie in Set-Cookie {:?}", reply.set_cookies))?;
    assert!(!value.is_empty(), "the {name} cookie is empty");
    assert!(
        glob_matches(&pattern, actual),
        "attributes of the {name} cookie: {actual:?} do not match {pattern:?}"
    );
    Ok(())
}

/// Whether `text` matches `pattern`, in which `*` matches any run of characters.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[given(expr = "the consumer {string} with a {int}-character random username and key {string}")]
async fn consumer_with_long_name(
    world: &mut GatewayWorld,
    label: String,
    length: usize,
    key: String,
) -> Result<(), Error> {
    world
        .create_consumer_with_random_username(&label, length)
        .await?;
    world.create_key(&label, &key).await
}
