//! The password hash of basic-auth credentials (`kong/plugins/basic-auth/crypto.lua`): the
//! lower-case hex SHA-1 of the password followed by the consumer's id (the salt), so a
//! credential written to Kong and one written here hash, and check, the same.

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};

/// `crypto.hash(consumer_id, password)`; the password as the bytes the client sent.
pub fn hash(consumer_id: &str, password: &[u8]) -> String {
    let mut salted = Vec::with_capacity(password.len() + consumer_id.len());
    salted.extend_from_slice(password);
    salted.extend_from_slice(consumer_id.as_bytes());
    let sum = digest(&SHA1_FOR_LEGACY_USE_ONLY, &salted);
    let mut hex = String::with_capacity(40);
    for byte in sum.as_ref() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The `on_write` transformation of `password` (`daos.lua`): `(given, consumer_id) → hash`.
pub fn hash_password(password: &str, consumer_id: &str) -> String {
    hash(consumer_id, password.as_bytes())
}
