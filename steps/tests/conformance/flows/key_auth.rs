//! Steps for the `key-auth` plugin: consumers with keys, the plugin on a service, requests with a key, and the
//! consumer headers key-auth (or a session standing in for it) sends upstream.

use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::{HttpMethod, KeyPlace, config_table};
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
        ("x-consumer-username", consumer.username.clone()),
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

#[given(expr = "the consumer {string} with custom_id {string} and key {string}")]
async fn consumer_with_custom_id(
    world: &mut GatewayWorld,
    username: String,
    custom_id: String,
    key: String,
) -> Result<(), Error> {
    world
        .create_consumer_with_custom_id(&username, &custom_id)
        .await?;
    world.create_key(&username, &key).await
}

#[given(expr = "the consumer {string} with only the custom_id {string} and key {string}")]
async fn consumer_with_only_custom_id(
    world: &mut GatewayWorld,
    label: String,
    custom_id: String,
    key: String,
) -> Result<(), Error> {
    world
        .create_consumer_with_only_custom_id(&label, &custom_id)
        .await?;
    world.create_key(&label, &key).await
}

#[given(expr = "the consumer {string} without a key")]
async fn consumer_without_key(world: &mut GatewayWorld, username: String) -> Result<(), Error> {
    world.create_consumer(&username).await
}

/// key-auth with `key_names: [apikey]` and the fields of the table.
#[given("key-auth on the service with:")]
async fn key_auth_with(world: &mut GatewayWorld, step: &Step) -> Result<(), Error> {
    let mut config = json!({ "key_names": [KEY_NAME] });
    if let (Value::Object(config), Value::Object(fields)) = (&mut config, config_table(step)?) {
        config.extend(fields);
    }
    world.enable_plugin("key-auth", None, config).await
}

/// `anonymous` set to the consumer's `id` or (Kong 3.1+) its `username`.
#[given(
    regex = r#"^key-auth on the service with the anonymous consumer "([^"]+)" by (id|username)$"#
)]
async fn key_auth_with_anonymous(
    world: &mut GatewayWorld,
    username: String,
    by: String,
) -> Result<(), Error> {
    let anonymous = if by == "id" {
        world.consumer(&username)?.id.clone()
    } else {
        world.ns(&username)
    };
    let config = json!({ "key_names": [KEY_NAME], "anonymous": anonymous });
    world.enable_plugin("key-auth", None, config).await
}

#[given(
    expr = "key-auth on the service with the anonymous consumer {string}, which does not exist"
)]
async fn key_auth_with_missing_anonymous(
    world: &mut GatewayWorld,
    anonymous: String,
) -> Result<(), Error> {
    let config = json!({ "key_names": [KEY_NAME], "anonymous": anonymous });
    world.enable_plugin("key-auth", None, config).await
}

/// The key `key` (namespaced) under the name `name`, in the place given; bodies go with POST's usual types.
#[when(
    expr = "I send a {method} request to {string} with the key {string} in the {key_place} {string}"
)]
async fn send_key_in(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    key: String,
    place: KeyPlace,
    name: String,
) -> Result<(), Error> {
    let key = world.ns(&key);
    let request = match place {
        KeyPlace::Header => Outgoing::new(method.0, &path).header(&name, &key),
        KeyPlace::Query => {
            let separator = if path.contains('?') { '&' } else { '?' };
            Outgoing::new(method.0, &format!("{path}{separator}{name}={key}"))
        }
        KeyPlace::FormBody => Outgoing::new(method.0, &path)
            .body("application/x-www-form-urlencoded", format!("{name}={key}")),
        KeyPlace::JsonBody => Outgoing::new(method.0, &path)
            .body("application/json", json!({ name: key }).to_string()),
    };
    world.send(request).await.map(drop)
}

#[when(expr = "I delete the key of {string}")]
async fn delete_key(world: &mut GatewayWorld, username: String) -> Result<(), Error> {
    world.delete_key(&username).await
}

/// Polls (Kong applies Admin API changes through its cache, eventually) until the gateway answers `status`.
#[then(
    expr = "within {int} seconds a {method} request to {string} with apikey {string} is answered {int}"
)]
async fn eventually_with_apikey(
    world: &mut GatewayWorld,
    seconds: u64,
    method: HttpMethod,
    path: String,
    key: String,
    status: u16,
) -> Result<(), Error> {
    world
        .poll_until(
            Duration::from_secs(seconds),
            |world| Ok(world.with_key(Outgoing::new(method.0.clone(), &path), &key)),
            |reply| reply.status.as_u16() == status,
            &format!("answered {status}"),
        )
        .await
}

#[then(expr = "the upstream received the anonymous consumer headers of {string}")]
fn upstream_received_anonymous(world: &mut GatewayWorld, username: String) -> Result<(), Error> {
    let headers = world.last()?.upstream_headers()?;
    let consumer = world.consumer(&username)?;
    let expected = [
        ("x-consumer-username", Some(consumer.username.clone())),
        ("x-consumer-id", Some(consumer.id.clone())),
        ("x-anonymous-consumer", Some("true".to_owned())),
        ("x-credential-identifier", None),
    ];
    for (name, value) in expected {
        assert_eq!(
            headers.get(name).and_then(|v| v.as_str()),
            value.as_deref(),
            "upstream header {name}"
        );
    }
    Ok(())
}
