//! [`Redacted`]: a secret in a config type or in key material, printed as `REDACTED` by `Debug`.
//!
//! Used wherever a value must never reach a log line: plugin secrets (`session`'s `secret`,
//! `openid-connect`'s `client_secret` and `session_secret`) and derived key material in
//! [`crate::resty_session`]. Serialization is untouched (`#[serde(transparent)]`): the Admin API
//! returns a plugin's config with its secrets in clear, as Kong's does.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

/// A value whose `Debug` prints `REDACTED`; serialized and compared as the value itself.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(pub T);

impl<T> Redacted<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

impl<T> Deref for Redacted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Redacted<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests;
