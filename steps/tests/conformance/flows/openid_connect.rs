//! Steps for the `openid-connect` plugin: the documented set-up against the run's identity provider, requests as
//! the documented user (Basic credentials the gateway turns into a password grant), sessions and their expiring
//! access tokens, Bearer tokens from the provider itself, the Admin API's form bodies, and the access token the
//! upstream received (its JWT payload decoded to check whom it was issued for).
//!
//! "The documented user" is the realm's `john` / `doe` (embedded provider, Keycloak), or the user given with
//! `--idp-username` / `--idp-password` for another provider, so one feature text serves every provider.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::{HttpMethod, config_table};
use crate::identity::{self, Lifespan};
use crate::world::{Error, GatewayWorld, Outgoing};

#[given("the documented OpenID Connect setup")]
async fn setup(world: &mut GatewayWorld) -> Result<(), Error> {
    world.openid_connect_setup(Lifespan::Realm, json!({})).await
}

#[given("the documented OpenID Connect setup with:")]
async fn setup_with(world: &mut GatewayWorld, step: &Step) -> Result<(), Error> {
    // `{{name}}` in a value (an anonymous consumer's username) is the scenario's name for it.
    let overrides = world.expand(&config_table(step)?.to_string());
    let overrides: Value = serde_json::from_str(&overrides)?;
    world.openid_connect_setup(Lifespan::Realm, overrides).await
}

#[given("the documented OpenID Connect setup with short-lived access tokens")]
async fn setup_with_short_lived_tokens(world: &mut GatewayWorld) -> Result<(), Error> {
    world.openid_connect_setup(Lifespan::Short, json!({})).await
}

#[given("I have a session as the documented user")]
async fn have_a_session(world: &mut GatewayWorld) -> Result<(), Error> {
    world.log_in_as_documented_user().await
}

#[given("I have an access token for the documented user from the identity provider")]
async fn have_an_access_token(world: &mut GatewayWorld) -> Result<(), Error> {
    world.fetch_access_token().await
}

#[when(expr = "I send a {method} request to {string} as the documented user")]
async fn send_as_documented_user(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
) -> Result<(), Error> {
    let request = world.as_documented_user(Outgoing::new(method.0, &path), None)?;
    world.send(request).await.map(drop)
}

#[when(expr = "I send a {method} request to {string} as the documented user with a wrong password")]
async fn send_with_wrong_password(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
) -> Result<(), Error> {
    let wrong = format!("{}-wrong", world.provider()?.password());
    let request = world.as_documented_user(Outgoing::new(method.0, &path), Some(&wrong))?;
    world.send(request).await.map(drop)
}

#[when(expr = "I send a {method} request to {string} with that access token")]
async fn send_with_access_token(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
) -> Result<(), Error> {
    let bearer = format!("Bearer {}", world.access_token()?);
    world
        .send(Outgoing::new(method.0, &path).header("Authorization", &bearer))
        .await
        .map(drop)
}

#[when(expr = "I send a {method} request to {string} with that access token tampered with")]
async fn send_with_tampered_access_token(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
) -> Result<(), Error> {
    let bearer = format!("Bearer {}", identity::tamper_with(world.access_token()?)?);
    world
        .send(Outgoing::new(method.0, &path).header("Authorization", &bearer))
        .await
        .map(drop)
}

#[when("the access token of my session has expired")]
async fn access_token_expired(world: &mut GatewayWorld) -> Result<(), Error> {
    world.wait_until_login_token_expired().await
}

#[when(expr = "I update the {string} plugin with the form {string}")]
async fn update_plugin_with_form(
    world: &mut GatewayWorld,
    name: String,
    form: String,
) -> Result<(), Error> {
    world.patch_plugin_form(&name, &form).await
}

/// `"auth_methods": ["session","password"]`, as Kong's docs print the answer.
#[then(regex = r#"^the Admin API answers with "([^"]+)": (.+)$"#)]
fn admin_answers_with(world: &mut GatewayWorld, field: String, value: String) -> Result<(), Error> {
    let expected: Value =
        serde_json::from_str(&value).map_err(|e| format!("{value} is not JSON: {e}"))?;
    let answer = world.admin_answer()?;
    assert_eq!(
        answer["config"][&field], expected,
        "config.{field} in the Admin API's answer {answer}"
    );
    Ok(())
}

#[then("the upstream received a Bearer access token for the documented user")]
fn upstream_received_bearer_for_user(world: &mut GatewayWorld) -> Result<(), Error> {
    let provider = world.provider()?;
    let reply = world.last()?;
    let token = reply.upstream_bearer_token()?;
    identity::check_token_user(&token, &provider.username)?;
    // The Basic credentials were consumed by the gateway: the password reaches the upstream nowhere.
    let basic = provider.basic_credentials(provider.password());
    let headers = reply.upstream_headers()?;
    let leaked: Vec<_> = headers
        .iter()
        .filter(|(_, value)| {
            let text = value.to_string();
            text.contains(&basic) || text.contains("Basic ")
        })
        .map(|(name, _)| name)
        .collect();
    assert!(
        leaked.is_empty(),
        "the upstream received the Basic credentials in {leaked:?}"
    );
    Ok(())
}

#[then("the upstream received the access token of the login")]
fn upstream_received_login_token(world: &mut GatewayWorld) -> Result<(), Error> {
    let token = world.last()?.upstream_bearer_token()?;
    assert_eq!(
        token,
        world.login_token()?,
        "the upstream's Bearer token is not the one of the login"
    );
    Ok(())
}

#[then("the upstream received a new access token for the documented user")]
fn upstream_received_new_token(world: &mut GatewayWorld) -> Result<(), Error> {
    let token = world.last()?.upstream_bearer_token()?;
    assert_ne!(
        token,
        world.login_token()?,
        "the upstream received the expired access token of the login"
    );
    identity::check_token_user(&token, &world.provider()?.username)
}

#[then("the upstream received that access token")]
fn upstream_received_that_token(world: &mut GatewayWorld) -> Result<(), Error> {
    let token = world.last()?.upstream_bearer_token()?;
    assert_eq!(
        token,
        world.access_token()?,
        "the upstream's Bearer token is not the one sent"
    );
    Ok(())
}

#[when(
    expr = "I send a {method} request to {string} with that access token in the query argument {string}"
)]
async fn send_with_access_token_in_query(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    name: String,
) -> Result<(), Error> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let path = format!("{path}{separator}{name}={}", world.access_token()?);
    world.send(Outgoing::new(method.0, &path)).await.map(drop)
}

#[then(expr = "the upstream received that access token in the header {string}")]
fn upstream_received_token_in(world: &mut GatewayWorld, name: String) -> Result<(), Error> {
    let headers = world.last()?.upstream_headers()?;
    let actual = headers
        .get(&name.to_ascii_lowercase())
        .and_then(Value::as_str);
    assert_eq!(
        actual,
        Some(world.access_token()?),
        "the upstream's {name} header"
    );
    Ok(())
}

/// A consumer whose username is the documented user's own (not namespaced: the token's claim names it).
#[given("a consumer named after the documented user")]
async fn consumer_named_after_user(world: &mut GatewayWorld) -> Result<(), Error> {
    let username = world.provider()?.username.clone();
    world.create_consumer_exactly(&username).await
}

#[then("the upstream received the consumer headers of the documented user's consumer")]
fn upstream_received_user_consumer(world: &mut GatewayWorld) -> Result<(), Error> {
    let username = world.provider()?.username.clone();
    let headers = world.last()?.upstream_headers()?;
    assert_eq!(
        headers.get("x-consumer-username").and_then(Value::as_str),
        Some(username.as_str()),
        "the upstream's X-Consumer-Username"
    );
    let consumer = world.consumer(&username)?;
    assert_eq!(
        headers.get("x-consumer-id").and_then(Value::as_str),
        Some(consumer.id.as_str()),
        "the upstream's X-Consumer-ID"
    );
    Ok(())
}
