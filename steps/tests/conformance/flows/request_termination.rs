//! Steps for the `request-termination` plugin scoped to a consumer (on the current service).

use cucumber::given;
use serde_json::json;

use crate::world::{Error, GatewayWorld};

#[given(expr = "requests from {string} are terminated with {int} {string}")]
async fn terminated_with_message(
    world: &mut GatewayWorld,
    username: String,
    status: u16,
    message: String,
) -> Result<(), Error> {
    let config = json!({ "status_code": status, "message": message });
    world
        .enable_plugin("request-termination", Some(&username), config)
        .await
}

#[given(expr = "requests from {string} are terminated with {int} and no message")]
async fn terminated_without_message(
    world: &mut GatewayWorld,
    username: String,
    status: u16,
) -> Result<(), Error> {
    world
        .enable_plugin(
            "request-termination",
            Some(&username),
            json!({ "status_code": status }),
        )
        .await
}
