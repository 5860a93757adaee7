//! Steps for the `key-auth` plugin: consumers with keys, the plugin on a service, requests with a key, and the
//! consumer headers key-auth (or a session standing in for it) sends upstream.

use cucumber::{given, then, when};
use serde_json::json;

use super::HttpMethod;
use crate::world::{Error, GatewayWorld, KEY_NAME, Outgoing};

#[given(expr = "the consumer {string} with key {string}")]
async fn consumer_with_key(
    world: &mut GatewayWorld,
    username: String,
    key: String,
) -> Result<(), Error> {
    world.create_consumer(&username).await?;
    world.create_key(&username, &key).await
}

#[given("key-auth on the service")]
async fn key_auth_on_the_service(world: &mut GatewayWorld) -> Result<(), Error> {
    world
        .enable_plugin("key-auth", None, json!({ "key_names": [KEY_NAME] }))
        .await
}

#[when(expr = "I send a {method} request to {string} with apikey {string}")]
async fn send_with_apikey(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    key: String,
) -> Result<(), Error> {
    let request = world.with_key(Outgoing::new(method.0, &path), &key);
    world.send(request).await.map(drop)
}

#[then(expr = "the upstream received the consumer headers of {string}")]
fn upstream_received_consumer(world: &mut GatewayWorld, username: String) -> Result<(), Error> {
    let headers = world.last()?.upstream_headers()?;
    let consumer = world.consumer(&username)?;
    let credential = consumer
        .credential
        .as_ref()
        .ok_or_else(|| format!("{username} has no key"))?;
    let expected = [
        ("x-consumer-username", world.ns(&username)),
        ("x-consumer-id", consumer.id.clone()),
        ("x-credential-identifier", credential.clone()),
    ];
    for (name, value) in expected {
        assert_eq!(
            headers.get(name).and_then(|v| v.as_str()),
            Some(value.as_str()),
            "upstream header {name}"
        );
    }
    Ok(())
}
