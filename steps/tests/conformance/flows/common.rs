//! Plain HTTP steps (send a request, check the answer and what the upstream saw) and the provisioning steps
//! that are not about one plugin.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::{BodyKind, HttpMethod, config_table};
use crate::world::{Error, GatewayWorld, Outgoing, Scope};

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

#[given("the documented key-auth setup without the session plugin")]
async fn the_documented_key_auth_setup(world: &mut GatewayWorld) -> Result<(), Error> {
    world.documented_key_auth_setup().await
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
    let value = world.expand(&value);
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

#[given(expr = "a route {string} at {string} on the service")]
async fn a_route(world: &mut GatewayWorld, route: String, path: String) -> Result<(), Error> {
    world.add_route(&route, &path).await
}

/// The config of a plugin step: its table, or `{}` without one.
fn step_config(step: &Step) -> Result<Value, Error> {
    if step.table.is_some() {
        Ok(config_table(step)?)
    } else {
        Ok(json!({}))
    }
}

#[given(regex = r#"^the "([^"]+)" plugin on the service(?: with:)?$"#)]
async fn plugin_on_service(
    world: &mut GatewayWorld,
    step: &Step,
    name: String,
) -> Result<(), Error> {
    let config = step_config(step)?;
    world.enable_plugin_at(&name, Scope::Service, config).await
}

#[given(regex = r#"^the "([^"]+)" plugin on the route "([^"]+)"(?: with:)?$"#)]
async fn plugin_on_route(
    world: &mut GatewayWorld,
    step: &Step,
    name: String,
    route: String,
) -> Result<(), Error> {
    let config = step_config(step)?;
    world
        .enable_plugin_at(&name, Scope::Route(&route), config)
        .await
}

#[given(regex = r#"^the "([^"]+)" plugin for the consumer "([^"]+)"(?: with:)?$"#)]
async fn plugin_for_consumer(
    world: &mut GatewayWorld,
    step: &Step,
    name: String,
    username: String,
) -> Result<(), Error> {
    let config = step_config(step)?;
    world
        .enable_plugin_at(&name, Scope::Consumer(&username), config)
        .await
}

/// Global plugins apply to every scenario's requests: the features give them a `trigger` (namespaced with
/// `{{...}}`) so that they act only on the scenario's own requests.
#[given(regex = r#"^the "([^"]+)" plugin globally with:$"#)]
async fn plugin_globally(world: &mut GatewayWorld, step: &Step, name: String) -> Result<(), Error> {
    let config = step_config(step)?;
    let config: Value = serde_json::from_str(&world.expand(&config.to_string()))?;
    world.enable_plugin_at(&name, Scope::Global, config).await
}

#[when(regex = r#"^I try to enable the "([^"]+)" plugin on the service with:$"#)]
async fn try_plugin(world: &mut GatewayWorld, step: &Step, name: String) -> Result<(), Error> {
    let config = step_config(step)?;
    world.try_enable_plugin(&name, config).await
}

#[then(expr = "the Admin API refuses it with {int} and a message containing {string}")]
fn admin_refuses(world: &mut GatewayWorld, status: u16, text: String) -> Result<(), Error> {
    let (actual, body) = world.admin_refusal()?;
    assert_eq!(*actual, status, "the Admin API's status; body {body}");
    // The rule's text is in `fields` as Kong wrote it; `message` quotes the same texts, escaped where they hold
    // a table (`kong/db/errors.lua`), so either place counts.
    let mut texts = vec![body["message"].as_str().unwrap_or_default().to_owned()];
    string_leaves(&body["fields"], &mut texts);
    assert!(
        texts.iter().any(|t| t.contains(&text)),
        "the Admin API's error does not contain {text:?} (body {body})"
    );
    Ok(())
}

/// Every string inside `value` (the leaves of an Admin API error's `fields`).
fn string_leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| string_leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| string_leaves(v, out)),
        _ => {}
    }
}

#[when(expr = "I send a {method} request to {string} with the header {string} set to {string}")]
async fn send_with_header(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    name: String,
    value: String,
) -> Result<(), Error> {
    let request = Outgoing::new(method.0, &path).header(&name, &value);
    world.send(request).await.map(drop)
}

#[when(expr = "I send a {method} request to {string} with the headers:")]
async fn send_with_headers(
    world: &mut GatewayWorld,
    step: &Step,
    method: HttpMethod,
    path: String,
) -> Result<(), Error> {
    let table = step
        .table
        .as_ref()
        .ok_or("the step needs a | name | value | table")?;
    let mut request = Outgoing::new(method.0, &path);
    for row in &table.rows {
        let [name, value] = row.as_slice() else {
            return Err(format!("expected two cells per row, got {row:?}").into());
        };
        request = request.header(name, value);
    }
    world.send(request).await.map(drop)
}

#[when(expr = "I send a {method} request to {string} with the {body_kind} body {string}")]
async fn send_with_body(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    kind: BodyKind,
    body: String,
) -> Result<(), Error> {
    let request = Outgoing::new(method.0, &path).body(kind.content_type(), body);
    world.send(request).await.map(drop)
}

#[when(expr = "I send a {method} request to {string} with the body {string} of type {string}")]
async fn send_with_typed_body(
    world: &mut GatewayWorld,
    method: HttpMethod,
    path: String,
    body: String,
    content_type: String,
) -> Result<(), Error> {
    let request = Outgoing::new(method.0, &path).body(&content_type, body);
    world.send(request).await.map(drop)
}

#[then(expr = "the response body is {string}")]
fn response_body_is(world: &mut GatewayWorld, body: String) -> Result<(), Error> {
    let actual = String::from_utf8_lossy(&world.last()?.body).into_owned();
    assert_eq!(actual, body, "the response body");
    Ok(())
}

#[then(expr = "the response body is the JSON {string}")]
fn response_body_is_json(world: &mut GatewayWorld, body: String) -> Result<(), Error> {
    let expected: Value =
        serde_json::from_str(&body).map_err(|e| format!("{body} is not JSON: {e}"))?;
    assert_eq!(world.last()?.json()?, expected, "the response body");
    Ok(())
}

/// `/request/method` is `"GET"`: a JSON pointer into the response body and the JSON value expected there
/// (`{{name}}` namespaced).
#[then(expr = "the response JSON at {string} is {string}")]
fn response_json_at(world: &mut GatewayWorld, pointer: String, value: String) -> Result<(), Error> {
    let value = world.expand(&value);
    let expected: Value = serde_json::from_str(&value).unwrap_or(Value::String(value));
    let body = world.last()?.json()?;
    let actual = body.pointer(&pointer).cloned().unwrap_or(Value::Null);
    assert_eq!(actual, expected, "{pointer} in the response body {body}");
    Ok(())
}

#[then(expr = "the response has no header {string}")]
fn response_has_no_header(world: &mut GatewayWorld, name: String) -> Result<(), Error> {
    let value = world.last()?.headers.get(name.as_str());
    assert!(value.is_none(), "the response has {name}: {value:?}");
    Ok(())
}

#[then(expr = "the response header {string} is a number between {int} and {int}")]
fn response_header_number(
    world: &mut GatewayWorld,
    name: String,
    low: u64,
    high: u64,
) -> Result<(), Error> {
    let reply = world.last()?;
    let value = reply
        .headers
        .get(name.as_str())
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("the response has no {name} header"))?;
    let number: u64 = value
        .parse()
        .map_err(|_| format!("{name}: {value:?} is not a number"))?;
    assert!(
        (low..=high).contains(&number),
        "{name}: {number} is not between {low} and {high}"
    );
    Ok(())
}

#[then("the request reached the upstream")]
fn reached_upstream(world: &mut GatewayWorld) -> Result<(), Error> {
    status_is(world, 200)?;
    world.last()?.upstream_headers().map(drop)
}

/// The header's value as the upstream received it (`{{name}}` namespaced).
#[then(expr = "the upstream received the header {string} with {string}")]
fn upstream_header_is(world: &mut GatewayWorld, name: String, value: String) -> Result<(), Error> {
    let expected = world.expand(&value);
    let headers = world.last()?.upstream_headers()?;
    let actual = headers.get(&name.to_ascii_lowercase());
    assert_eq!(
        actual.and_then(Value::as_str),
        Some(expected.as_str()),
        "the upstream's {name} header (all: {headers:?})"
    );
    Ok(())
}

#[then(expr = "the upstream received a header {string} of {int} characters")]
fn upstream_header_length(
    world: &mut GatewayWorld,
    name: String,
    length: usize,
) -> Result<(), Error> {
    let headers = world.last()?.upstream_headers()?;
    let actual = headers
        .get(&name.to_ascii_lowercase())
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the upstream received no {name} header"))?;
    assert_eq!(actual.len(), length, "the length of {name}: {actual:?}");
    Ok(())
}

#[then(expr = "the upstream received the header {string} as a number between {int} and {int}")]
fn upstream_header_number(
    world: &mut GatewayWorld,
    name: String,
    low: u64,
    high: u64,
) -> Result<(), Error> {
    let headers = world.last()?.upstream_headers()?;
    let value = headers
        .get(&name.to_ascii_lowercase())
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the upstream received no {name} header"))?;
    let number: u64 = value
        .parse()
        .map_err(|_| format!("{name}: {value:?} is not a number"))?;
    assert!(
        (low..=high).contains(&number),
        "{name}: {number} is not between {low} and {high}"
    );
    Ok(())
}

/// The query string the upstream received (`{{name}}` namespaced), exactly.
#[then(expr = "the upstream received the query {string}")]
fn upstream_query_is(world: &mut GatewayWorld, query: String) -> Result<(), Error> {
    let expected = world.expand(&query);
    let echo = world.last()?.json()?;
    let url = echo["url"].as_str().unwrap_or_default();
    let actual = url.split_once('?').map_or("", |(_, q)| q);
    assert_eq!(actual, expected, "the upstream's query string (url {url})");
    Ok(())
}

#[then(expr = "the upstream received the query argument {string} with {string}")]
fn upstream_query_arg(world: &mut GatewayWorld, name: String, value: String) -> Result<(), Error> {
    let expected = world.expand(&value);
    let echo = world.last()?.json()?;
    assert_eq!(
        echo["args"][&name].as_str(),
        Some(expected.as_str()),
        "the upstream's query argument {name} (url {})",
        echo["url"]
    );
    Ok(())
}

#[then(expr = "the upstream received no query argument {string}")]
fn upstream_no_query_arg(world: &mut GatewayWorld, name: String) -> Result<(), Error> {
    let echo = world.last()?.json()?;
    assert!(
        echo["args"].get(&name).is_none(),
        "the upstream received the query argument {name} (url {})",
        echo["url"]
    );
    Ok(())
}

/// The body the upstream received, exactly (`{{name}}` namespaced).
#[then(expr = "the upstream received the body {string}")]
fn upstream_body_is(world: &mut GatewayWorld, body: String) -> Result<(), Error> {
    let expected = world.expand(&body);
    let echo = world.last()?.json()?;
    assert_eq!(
        echo["data"].as_str(),
        Some(expected.as_str()),
        "the upstream's body"
    );
    Ok(())
}

/// The JSON body the upstream received, compared as JSON (`{{name}}` namespaced).
#[then(expr = "the upstream received the JSON body {string}")]
fn upstream_json_body_is(world: &mut GatewayWorld, body: String) -> Result<(), Error> {
    let expected = world.expand(&body);
    let expected: Value =
        serde_json::from_str(&expected).map_err(|e| format!("{expected} is not JSON: {e}"))?;
    let echo = world.last()?.json()?;
    assert_eq!(
        echo["json"], expected,
        "the upstream's JSON body ({})",
        echo["data"]
    );
    Ok(())
}

#[when(expr = "I delete the consumer {string}")]
async fn delete_consumer(world: &mut GatewayWorld, username: String) -> Result<(), Error> {
    world.delete_consumer(&username).await
}
