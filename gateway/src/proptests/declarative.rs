//! The declarative loader (`declarative::parse_bytes`, as for `kong.yml` at start-up and `POST /config`) on
//! mutated YAML and JSON documents, YAML token soup (anchors, aliases, merge keys, tags, flow collections) and
//! arbitrary bytes: never a panic, and never a hang (the fuzz script's timeout). Runs in the normal suite and
//! under `ci/fuzz.sh` (target `declarative`).

use proptest::prelude::*;

use super::{check, mutate, mutations};
use crate::declarative::parse_bytes;
use crate::testing::{catalogue, documented_flow};

const KEY_AUTH_SESSION: &str = include_str!("../../../fixtures/config/key-auth-session.yaml");
const DEMO: &str = include_str!("../../../fixtures/config/demo.yaml");

/// The shipped documents, the documented flow, and JSON renderings of them.
fn seeds() -> Vec<Vec<u8>> {
    let documented = documented_flow(
        std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
        "          storage: kong",
    );
    let mut seeds: Vec<Vec<u8>> = [KEY_AUTH_SESSION, DEMO, documented.as_str()]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let catalogue = catalogue();
    for yaml in [KEY_AUTH_SESSION, DEMO] {
        if let Ok(db) = parse_bytes(yaml.as_bytes(), "seed.yml", 1, catalogue.as_ref()) {
            let exported = crate::declarative::export(&db, catalogue.as_ref());
            seeds.push(exported.to_string().into_bytes());
        }
    }
    seeds
}

fn yaml_soup() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("_format_version: \"3.0\"\n"),
        Just("services:\n"),
        Just("consumers:\n"),
        Just("plugins:\n"),
        Just("  - "),
        Just("name: "),
        Just("username: "),
        Just("config: "),
        Just("&a "),
        Just("*a"),
        Just("&b "),
        Just("*b"),
        Just("<<: *a\n"),
        Just("!!binary "),
        Just("!!str "),
        Just("!custom "),
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just(", "),
        Just(": "),
        Just("\n"),
        Just("\n    "),
        Just("---\n"),
        Just("...\n"),
        Just("|\n  "),
        Just(">-\n  "),
        Just("\"\\u0000\""),
        Just("'it''s'"),
        Just("? "),
        Just("~"),
        Just("1e999"),
        Just("-9223372036854775809"),
        Just("0x1F"),
        Just("null"),
        Just("x"),
    ];
    prop::collection::vec(token, 0..80).prop_map(|t| t.concat().into_bytes())
}

#[test]
fn declarative_loading_never_panics() {
    let catalogue = catalogue();
    let seeds = seeds();
    let docs = prop_oneof![
        (prop::sample::select(seeds), mutations(12))
            .prop_map(|(seed, edits)| mutate(&seed, &edits)),
        yaml_soup(),
        prop::collection::vec(any::<u8>(), 0..512),
    ];
    check("declarative", docs, |doc| {
        let _ = parse_bytes(&doc, "fuzz.yml", 1, catalogue.as_ref());
        Ok(())
    });
}
