//! Form bodies as Kong's `kong/api/arguments.lua` decodes them: dotted keys nest
//! (`config.key_names=apikey` → `{"config":{"key_names":"apikey"}}`), repeated keys and `name[]`
//! build arrays, `name[1]` sets a position. Values stay strings; the schema infers their types.

use serde_json::{Map, Value};

/// Decodes an `application/x-www-form-urlencoded` body into a nested value.
pub fn decode(body: &[u8]) -> Value {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(body) {
        insert(&mut root, &key, Value::String(value.into_owned()));
    }
    Value::Object(root)
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
    use super::decode;
    use serde_json::json;

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
