//! `admin::form::decode` (Kong's `kong/api/arguments.lua` form decoding) on arbitrary bytes and on
//! form-shaped text heavy in dots, brackets and escapes: never a panic, and whatever it returns serializes.
//! Runs in the normal suite and under `ci/fuzz.sh` (target `admin_form`).

use proptest::prelude::*;

use super::{check, mutate, mutations};
use crate::admin::form::decode;

/// Keys and values built from the characters the decoder treats specially.
fn form_text() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just("."),
        Just("["),
        Just("]"),
        Just("[]"),
        Just("[0]"),
        Just("[1]"),
        Just("[99999999999999999999]"),
        Just("[-1]"),
        Just("="),
        Just("&"),
        Just("%"),
        Just("%2E"),
        Just("%5B"),
        Just("%5D"),
        Just("%zz"),
        Just("+"),
        Just("config"),
        Just("key_names"),
        Just("a"),
        Just("1"),
    ];
    prop::collection::vec(piece, 0..64).prop_map(|p| p.concat().into_bytes())
}

#[test]
fn form_decoding_never_panics() {
    let seed = b"name=s&config.key_names=apikey&config.key_names=x&tags[]=a&tags[2]=b&paths[1]=/p"
        .to_vec();
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        form_text(),
        mutations(8).prop_map(move |edits| mutate(&seed, &edits)),
    ];
    check("admin_form", bodies, |body| {
        if let Ok(value) = decode(&body) {
            prop_assert!(serde_json::to_vec(&value).is_ok());
        }
        Ok(())
    });
}
