//! Form bodies as Kong's `kong/api/arguments.lua` decodes them: dotted keys nest
//! (`config.key_names=apikey` → `{"config":{"key_names":"apikey"}}`), repeated keys and `name[]`
//! build arrays, `name[1]` sets a position. Values stay strings; the schema infers their types.
//!
//! Bounded, because the body is a client's: at most [`MAX_ARGS`] arguments (Kong answers more with 400
//! `Too many arguments`, `spec/02-integration/04-admin_api/24-truncated_arguments_spec.lua`) and at most
//! [`MAX_DEPTH`] dotted segments per key, so a key like `a.a.a…` cannot build a value deep enough to overflow
//! the stack when it is dropped or serialized.

use serde_json::{Map, Value};

/// Kong's limit on form arguments in an Admin API body (`MAX_POST_ARGS` in `kong/pdk/request.lua`).
pub const MAX_ARGS: usize = 1000;

/// Dotted segments allowed in one key. Kong's deepest configuration (openid-connect's nested records) needs
/// fewer than ten; serde_json's own recursion limit for JSON bodies is 128.
pub const MAX_DEPTH: usize = 32;

/// Why a form body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// More than [`MAX_ARGS`] arguments: Kong's message.
    #[error("Too many arguments")]
    TooManyArguments,
    /// A key with more than [`MAX_DEPTH`] dotted segments.
    #[error("Too deeply nested arguments (at most 32 levels)")]
    TooDeep,
}

/// Decodes an `application/x-www-form-urlencoded` body into a nested value.
pub fn decode(body: &[u8]) -> Result<Value, FormError> {
    let mut root = Map::new();
    for (count, (key, value)) in form_urlencoded::parse(body).enumerate() {
        if count >= MAX_ARGS {
            return Err(FormError::TooManyArguments);
        }
        if key.split('.').nth(MAX_DEPTH).is_some() {
            return Err(FormError::TooDeep);
        }
        insert(&mut root, &key, Value::String(value.into_owned()));
    }
    Ok(Value::Object(root))
}

fn insert(root: &mut Map<String, Value>, key: &str, value: Value) {
    let segments: Vec<&str> = key.split('.').collect();
    let mut node = root;
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let (name, index) = split_index(segment);
        if !last {
            let entry = node
                .entry(name.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(next) = entry else { return };
            node = next;
            continue;
        }
        match index {
            Some("") => {
                let entry = node
                    .entry(name.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                push(entry, value);
            }
            Some(pos) => {
                let entry = node
                    .entry(name.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(slots) = entry {
                    slots.insert(pos.to_owned(), value);
                }
            }
            None => match node.get_mut(name) {
                Some(existing) => push(existing, value),
                None => {
                    node.insert(name.to_owned(), value);
                }
            },
        }
        return;
    }
}

/// `name[]` → (`name`, Some("")), `name[2]` → (`name`, Some("2")), `name` → (`name`, None).
fn split_index(segment: &str) -> (&str, Option<&str>) {
    match segment.strip_suffix(']').and_then(|s| s.split_once('[')) {
        Some((name, index)) => (name, Some(index)),
        None => (segment, None),
    }
}

fn push(slot: &mut Value, value: Value) {
    match slot {
        Value::Array(items) => items.push(value),
        other => {
            let first = std::mem::take(other);
            *other = Value::Array(vec![first, value]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FormError, MAX_ARGS, MAX_DEPTH};
    use serde_json::{Value, json};

    fn decode(body: &[u8]) -> Value {
        super::decode(body).unwrap()
    }

    #[test]
    fn deep_dotted_keys_are_refused_without_overflowing_the_stack() {
        // 15,000 levels (30 KB) once aborted the whole process when the nested value was dropped.
        let key = vec!["a"; 15_000].join(".");
        let body = format!("{key}=1");
        assert_eq!(super::decode(body.as_bytes()), Err(FormError::TooDeep));
        let deepest = vec!["a"; MAX_DEPTH].join(".");
        assert!(super::decode(format!("{deepest}=1").as_bytes()).is_ok());
    }

    #[test]
    fn more_than_kongs_argument_limit_is_refused() {
        let args: Vec<String> = (0..=MAX_ARGS)
            .map(|i| format!("config.allow={i}"))
            .collect();
        assert_eq!(
            super::decode(args.join("&").as_bytes()),
            Err(FormError::TooManyArguments)
        );
        assert!(super::decode(args[..MAX_ARGS].join("&").as_bytes()).is_ok());
    }

    #[test]
    fn dotted_keys_nest_and_repeats_make_arrays() {
        let v = decode(b"name=openid-connect&config.auth_methods=session&config.auth_methods=password&service.name=s");
        assert_eq!(
            v,
            json!({"name": "openid-connect", "config": {"auth_methods": ["session", "password"]}, "service": {"name": "s"}})
        );
    }

    #[test]
    fn brackets_build_arrays() {
        assert_eq!(
            decode(b"paths[]=/a&paths[]=/b"),
            json!({"paths": ["/a", "/b"]})
        );
        assert_eq!(
            decode(b"paths[1]=/a&paths[2]=/b"),
            json!({"paths": {"1": "/a", "2": "/b"}})
        );
        assert_eq!(
            decode(b"config.key_names=apikey"),
            json!({"config": {"key_names": "apikey"}})
        );
    }
}
