//! Steps for key-auth's wire details (`features/key_auth/` multipart bodies, header spellings, the query
//! re-encoding of `hide_credentials`, credentials with a `ttl`): key-auth configured from a table, keys sent in a
//! named header, a query or a multipart form, what the upstream received, and keys that expire.

use std::time::{Duration, Instant};

use cucumber::{gherkin::Step, given, then, when};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::config_table;
use crate::world::{Error, GatewayWorld, Outgoing};

/// The boundary of the multipart bodies the steps send.
const BOUNDARY: &str = "harness-boundary-7MA4YWxkTrZu0gW";

#[given("key-auth on the service configured with:")]
async fn key_auth_configured(world: &mut GatewayWorld, step: &Step) -> Result<(), Error> {
    let config = config_table(step)?;
    world.enable_plugin("key-auth", None, config).await
}

#[given(expr = "the consumer {string} with key {string} that expires after {int} second(s)")]
async fn consumer_with_expiring_key(
    world: &mut GatewayWorld,
    username: String,
    key: String,
    ttl: u64,
) -> Result<(), Error> {
    world.create_consumer(&username).await?;
    let key = world.ns(&key);
    world
        .create_credential(&username, "key-auth", json!({ "key": key, "ttl": ttl }))
        .await
}

#[when(expr = "I send a GET request to {string} with the key {string} in place of {string}")]
async fn send_key_in_path(
    world: &mut GatewayWorld,
    path: String,
    key: String,
    placeholder: String,
) -> Result<(), Error> {
    let path = path.replace(&placeholder, &world.ns(&key));
    world
        .send(Outgoing::new(Method::GET, &path))
        .await
        .map(drop)
}

#[when(
    expr = "I send a multipart form to {string} with the key {string} in the field {string} and {string} in the field {string}"
)]
async fn send_multipart(
    world: &mut GatewayWorld,
    path: String,
    key: String,
    key_field: String,
    other: String,
    other_field: String,
) -> Result<(), Error> {
    let key = world.ns(&key);
    let mut body = String::new();
    for (name, value) in [(&key_field, &key), (&other_field, &other)] {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let request = Outgoing::new(Method::POST, &path).body(&content_type, body.into_bytes());
    world.send(request).await.map(drop)
}

#[then(expr = "the upstream received the query string {string}")]
fn upstream_query(world: &mut GatewayWorld, query: String) -> Result<(), Error> {
    let echo = world.last()?.json()?;
    let url = echo["url"]
        .as_str()
        .ok_or_else(|| format!("not an echo of the upstream: {echo}"))?;
    assert_eq!(
        url.split_once('?').map(|(_, q)| q),
        Some(query.as_str()),
        "the upstream URL {url}"
    );
    Ok(())
}

#[then(expr = "the upstream received a multipart form with {string} in the field {string}")]
fn upstream_multipart_field(
    world: &mut GatewayWorld,
    value: String,
    field: String,
) -> Result<(), Error> {
    let post_data = multipart(world)?;
    assert_eq!(
        post_data["params"][&field], value,
        "the form the upstream received: {post_data}"
    );
    Ok(())
}

#[then(expr = "the upstream received a multipart form without the field {string}")]
fn upstream_multipart_without(world: &mut GatewayWorld, field: String) -> Result<(), Error> {
    let post_data = multipart(world)?;
    assert!(
        post_data["params"].get(&field).is_none(),
        "the form the upstream received: {post_data}"
    );
    Ok(())
}

/// The echo's `post_data` of the last request, which must be a multipart form.
fn multipart(world: &GatewayWorld) -> Result<Value, Error> {
    let echo = world.last()?.json()?;
    let post_data = echo["post_data"].clone();
    if post_data["kind"] != "multipart-form" {
        return Err(format!("the upstream did not receive a multipart form: {echo}").into());
    }
    Ok(post_data)
}

#[then(expr = "within {int} seconds the Admin API no longer has the key {string} of {string}")]
async fn eventually_gone(
    world: &mut GatewayWorld,
    seconds: u64,
    key: String,
    username: String,
) -> Result<(), Error> {
    let path = format!(
        "/consumers/{}/key-auth/{}",
        world.consumer(&username)?.id,
        world.ns(&key)
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let got = world.admin_status(&path).await?;
        if got == StatusCode::NOT_FOUND {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("GET {path} still answers {got} after {seconds} s").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[then(
    expr = "the upstream received the query string {string} with the key {string} in place of {string}"
)]
fn upstream_query_with_key(
    world: &mut GatewayWorld,
    query: String,
    key: String,
    placeholder: String,
) -> Result<(), Error> {
    let query = query.replace(&placeholder, &world.ns(&key));
    upstream_query(world, query)
}
