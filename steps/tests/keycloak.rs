//! Runs the unit tests of the Keycloak-in-Docker backend (`conformance/keycloak.rs`) under libtest: the
//! `conformance` target that uses it runs without libtest's harness.

#[allow(dead_code)]
#[path = "conformance/keycloak.rs"]
mod keycloak;

use std::time::{Duration, Instant};

use keycloak::{Keycloak, KeycloakError, probe_docker_engine, probe_docker_host};

#[tokio::test]
async fn an_absent_engine_is_reported_in_one_line_within_seconds() {
    let started = Instant::now();
    let socket = std::env::temp_dir().join(format!(
        "no-docker-here-{}/docker.sock",
        uuid::Uuid::new_v4()
    ));
    let error = probe_docker_host(&format!("unix://{}", socket.display()))
        .await
        .expect_err("no engine listens on a socket that does not exist");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(error, KeycloakError::NoDockerEngine(_)),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.starts_with("no Docker engine answered ("),
        "{message}"
    );
    assert!(
        message.contains(
            "the Keycloak scenarios need one; run without CONFORMANCE_IDP=keycloak to use the embedded provider"
        ),
        "{message}"
    );
    assert!(message.contains("--idp-issuer URL"), "{message}");
}

#[tokio::test]
async fn start_without_an_engine_fails_fast_with_no_docker_engine() {
    if probe_docker_engine().await.is_ok() {
        eprintln!(
            "a Docker engine answers here: the no-engine path is not testable on this machine"
        );
        return;
    }
    let started = Instant::now();
    let error = Keycloak::start(steps::idp::default_realm_file())
        .await
        .expect_err("there is no engine to start Keycloak on");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(error, KeycloakError::NoDockerEngine(_)), "{error}");
    eprintln!("{error}");
}

#[test]
fn the_imported_realm_carries_the_lifespan_overrides() {
    let builder = Keycloak::builder()
        .access_token_lifespan(Duration::from_secs(7))
        .refresh_token_lifespan(Duration::from_secs(11));
    let (realm, bytes) = builder.realm_to_import().expect("the fixture realm loads");
    assert_eq!(realm.name, "kong");
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(json["accessTokenLifespan"], 7);
    assert_eq!(json["ssoSessionIdleTimeout"], 11);
    assert_eq!(json["users"][0]["username"], "john");
    assert!(realm.client_secrets.contains_key("kong"));
}
