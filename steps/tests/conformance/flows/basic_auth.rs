//! Steps for the `basic-auth` plugin, alone and next to key-auth (Kong's multiple authentication): consumers with
//! basic-auth credentials, the plugins on a service with or without an anonymous consumer, requests with
//! `Authorization: Basic`, and which consumer the upstream received.

use base64::Engine as _;
use cucumber::{gherkin::Step, given, then, when};
use reqwest::Method;
use serde_json::json;

use super::config_table;
use crate::world::{Error, GatewayWorld, KEY_NAME, Outgoing};

#[given(expr = "the consumer {string} with basic-auth username {string} and password {string}")]
async fn consumer_with_basic_auth(
    world: &mut GatewayWorld,
    consumer: String,
    username: String,
    password: String,
) -> Result<(), Error> {
    if world.consumer(&consumer).is_err() {
        world.create_consumer(&consumer).await?;
    }
    let username = world.ns(&username);
    world
        .create_credential(
            &consumer,
            "basic-auth",
            json!({ "username": username, "password": password }),
        )
        .await
}

#[given("basic-auth on the service")]
async fn basic_auth_on_the_service(world: &mut GatewayWorld) -> Result<(), Error> {
    world.enable_plugin("basic-auth", None, json!({})).await
}

#[given("basic-auth on the service configured with:")]
async fn basic_auth_configured(world: &mut GatewayWorld, step: &Step) -> Result<(), Error> {
    let config = config_table(step)?;
    world.enable_plugin("basic-auth", None, config).await
}

#[given(expr = "{word} on the service with the anonymous consumer {string}")]
async fn auth_with_anonymous(
    world: &mut GatewayWorld,
    plugin: String,
    anonymous: String,
) -> Result<(), Error> {
    if world.consumer(&anonymous).is_err() {
        world.create_consumer(&anonymous).await?;
    }
    let id = world.consumer(&anonymous)?.id.clone();
    let config = match plugin.as_str() {
        "key-auth" => json!({ "key_names": [KEY_NAME], "anonymous": id }),
        "basic-auth" => json!({ "anonymous": id }),
        other => return Err(format!("no anonymous set-up for {other}").into()),
    };
    world.enable_plugin(&plugin, None, config).await
}

/// `Authorization: Basic base64(username:password)`, the username namespaced.
fn basic(world: &GatewayWorld, username: &str, password: &str) -> String {
    let pair = format!("{}:{password}", world.ns(username));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[when(
    expr = "I send a GET request to {string} with the basic-auth username {string} and password {string}"
)]
async fn send_basic(
    world: &mut GatewayWorld,
    path: String,
    username: String,
    password: String,
) -> Result<(), Error> {
    let authorization = basic(world, &username, &password);
    let request = Outgoing::new(Method::GET, &path).header("Authorization", &authorization);
    world.send(request).await.map(drop)
}

#[when(
    expr = "I send a GET request to {string} with apikey {string} and the basic-auth username {string} and password {string}"
)]
async fn send_key_and_basic(
    world: &mut GatewayWorld,
    path: String,
    key: String,
    username: String,
    password: String,
) -> Result<(), Error> {
    let authorization = basic(world, &username, &password);
    let request = world
        .with_key(Outgoing::new(Method::GET, &path), &key)
        .header("Authorization", &authorization);
    world.send(request).await.map(drop)
}

#[then(expr = "the upstream received the consumer {string}")]
fn upstream_received_consumer(world: &mut GatewayWorld, username: String) -> Result<(), Error> {
    let headers = world.last()?.upstream_headers()?;
    let consumer = world.consumer(&username)?;
    for (name, value) in [
        ("x-consumer-username", world.ns(&username)),
        ("x-consumer-id", consumer.id.clone()),
    ] {
        assert_eq!(
            headers.get(name).and_then(|v| v.as_str()),
            Some(value.as_str()),
            "upstream header {name}"
        );
    }
    Ok(())
}

#[then(
    expr = "the upstream received the credential identifier of the basic-auth username {string}"
)]
fn upstream_received_basic_identifier(
    world: &mut GatewayWorld,
    username: String,
) -> Result<(), Error> {
    let headers = world.last()?.upstream_headers()?;
    assert_eq!(
        headers
            .get("x-credential-identifier")
            .and_then(|v| v.as_str()),
        Some(world.ns(&username).as_str())
    );
    Ok(())
}
