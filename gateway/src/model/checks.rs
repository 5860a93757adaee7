//! Kong's field rules that serde's types cannot say, run on an entity body before it is parsed
//! (every Admin API write and every declarative entry): integer ranges (`between`,
//! `kong/db/schema/init.lua`), `typedefs.utf8_name` and `typedefs.tags`
//! (`kong/db/schema/typedefs.lua`), and caps on the size of strings and arrays so a client cannot
//! store megabytes in a name. Checking the raw value first means no out-of-range integer ever
//! reaches a typed field, where it would overflow or be silently cut.

use serde_json::Value;

use crate::schema::{SchemaViolation, Source};

/// Longest string accepted in a core entity's own fields (Kong sets no limit; a name, host or
/// path this long is already a mistake).
pub const MAX_STRING_LEN: usize = 4096;
/// Most elements accepted in a core entity's array field (`tags`, `paths`, `hosts`, …).
pub const MAX_ARRAY_LEN: usize = 1000;

/// Kong's message for a value outside `between = { min, max }`.
pub fn between_message(min: i64, max: i64) -> String {
    format!("value should be between {min} and {max}")
}

/// Kong's message for a non-integer in an integer field.
pub const EXPECTED_INTEGER: &str = "expected an integer";

/// A value given for an integer field that is not a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnInteger;

/// The integer in `field`, as a JSON number or (forms) a numeric string; `Ok(None)` when absent
/// or null, `Err` when it is not a whole number.
pub fn integer_of(body: &Value, field: &str, source: Source) -> Result<Option<f64>, NotAnInteger> {
    let number = match body.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if source == Source::Form => {
            if s.is_empty() {
                return Ok(None);
            }
            s.trim().parse::<f64>().ok()
        }
        Some(_) => None,
    };
    match number {
        Some(n) if n.is_finite() && n.fract() == 0.0 => Ok(Some(n)),
        _ => Err(NotAnInteger),
    }
}

/// Checks an integer field against Kong's `between = { min, max }`.
pub fn check_between(
    body: &Value,
    field: &str,
    (min, max): (i64, i64),
    source: Source,
    errors: &mut SchemaViolation,
) {
    match integer_of(body, field, source) {
        Ok(None) => {}
        // Range ends are far inside f64's exact integers.
        #[allow(clippy::cast_precision_loss)]
        Ok(Some(n)) if (min as f64..=max as f64).contains(&n) => {}
        Ok(Some(_)) => errors.push(field, between_message(min, max)),
        Err(NotAnInteger) => errors.push(field, EXPECTED_INTEGER),
    }
}

/// `typedefs.utf8_name`: letters, digits, `.`, `-`, `_`, `~` and any non-ASCII character.
pub fn check_utf8_name(body: &Value, field: &str, errors: &mut SchemaViolation) {
    let Some(Value::String(name)) = body.get(field) else {
        return;
    };
    let ok = !name.is_empty()
        && name.chars().all(|c| {
            !c.is_ascii() || c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~')
        });
    if !ok {
        errors.push(
            field,
            format!(
                "invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
            ),
        );
    }
}

/// `typedefs.tags`: each tag printable ASCII except `,` and `/` (a space is allowed), or
/// non-ASCII UTF-8.
pub fn check_tags(body: &Value, errors: &mut SchemaViolation) {
    let Some(Value::Array(tags)) = body.get("tags") else {
        return;
    };
    for tag in tags.iter().filter_map(Value::as_str) {
        let ok = !tag.is_empty()
            && tag.chars().all(|c| {
                !c.is_ascii() || (c == ' ' || c.is_ascii_graphic()) && c != ',' && c != '/'
            });
        if !ok {
            errors.push(
                "tags",
                format!(
                    "invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
                ),
            );
            return;
        }
    }
}

/// Caps every string at [`MAX_STRING_LEN`] bytes and every array at [`MAX_ARRAY_LEN`] elements,
/// in the entity's own fields (a plugin's `config` is its schema's business), with Kong's
/// `len_max` message.
pub fn check_sizes(body: &Value, errors: &mut SchemaViolation) {
    let Some(fields) = body.as_object() else {
        return;
    };
    for (name, value) in fields.iter().filter(|(k, _)| k.as_str() != "config") {
        check_size(value, name, errors);
    }
}

fn check_size(value: &Value, path: &str, errors: &mut SchemaViolation) {
    match value {
        Value::String(s) if s.len() > MAX_STRING_LEN => {
            errors.push(path, format!("length must be at most {MAX_STRING_LEN}"));
        }
        Value::Array(items) if items.len() > MAX_ARRAY_LEN => {
            errors.push(path, format!("length must be at most {MAX_ARRAY_LEN}"));
        }
        Value::Object(map) if map.len() > MAX_ARRAY_LEN => {
            errors.push(path, format!("length must be at most {MAX_ARRAY_LEN}"));
        }
        Value::Array(items) => {
            for item in items {
                check_size(item, path, errors);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                check_size(v, &format!("{path}.{k}"), errors);
            }
        }
        _ => {}
    }
}
