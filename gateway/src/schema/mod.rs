//! Kong-style schema checking: turning a JSON or form-decoded value into a typed entity or plugin
//! config, with Kong's error messages (`kong/db/schema/init.lua`, `kong/db/errors.lua`).
//!
//! Typed configs are plain serde structs with `deny_unknown_fields`; [`parse`] runs them through
//! `serde_path_to_error` so every failure is reported against its field, in Kong's words.
//! Form bodies go through [`lenient::Lenient`], which infers booleans, numbers and arrays from the
//! type each field asks for, as Kong's `arguments.lua` infers them from the schema.

pub mod lenient;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Kong's message for a field the schema does not know.
pub const UNKNOWN_FIELD: &str = "unknown field";
/// Kong's message for a required field that is absent.
pub const REQUIRED_FIELD_MISSING: &str = "required field missing";

/// One or more field errors, rendered as Kong's `schema violation` (code 2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaViolation {
    /// Errors in the order found: (dotted field path, message). `@entity` for entity-level checks.
    pub errors: Vec<(String, String)>,
}

impl SchemaViolation {
    /// A violation of one field.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![(path.into(), message.into())],
        }
    }

    /// An entity-level violation (Kong's `@entity` list).
    pub fn entity(message: impl Into<String>) -> Self {
        Self::field("@entity", message)
    }

    /// Adds a field error.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push((path.into(), message.into()));
    }

    /// True when no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when no error was recorded, else the violation.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Puts every path under `prefix` (e.g. `config`).
    #[must_use]
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for (path, _) in &mut self.errors {
            *path = format!("{prefix}.{path}");
        }
        self
    }

    /// Kong's message: `schema violation (a: x)` or `2 schema violations (a: x; b: y)`.
    pub fn message(&self) -> String {
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|(path, msg)| match path.strip_suffix(".@entity") {
                _ if path == "@entity" => msg.clone(),
                Some(owner) => format!("{owner}: {msg}"),
                None => format!("{path}: {msg}"),
            })
            .collect();
        if parts.len() == 1 {
            format!("schema violation ({})", parts[0])
        } else {
            format!("{} schema violations ({})", parts.len(), parts.join("; "))
        }
    }

    /// Kong's nested `fields` object: `{"config":{"status_code":"..."}}`, `{"@entity":["..."]}`.
    pub fn fields(&self) -> Value {
        let mut root = Map::new();
        for (path, msg) in &self.errors {
            let mut node = &mut root;
            let segments: Vec<&str> = path.split('.').collect();
            for (i, seg) in segments.iter().enumerate() {
                if *seg == "@entity" {
                    let list = node
                        .entry("@entity")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(items) = list {
                        items.push(Value::String(msg.clone()));
                    }
                    break;
                }
                if i + 1 == segments.len() {
                    node.insert((*seg).to_owned(), Value::String(msg.clone()));
                } else {
                    let entry = node
                        .entry((*seg).to_owned())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    let Value::Object(next) = entry else { break };
                    node = next;
                }
            }
        }
        Value::Object(root)
    }
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for SchemaViolation {}

/// Where a value came from: JSON is taken as typed; a form body has its strings inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A JSON body or declarative file: no inference (`04-plugins_routes_spec.lua` "does not infer json input").
    Json,
    /// A form-urlencoded or multipart body: `"true"` → boolean, `"1"` → number, one value → array, per the schema.
    Form,
}

/// Deserializes `value` into `T`, reporting the first failure against its field in Kong's words.
pub fn parse<T: DeserializeOwned>(value: Value, source: Source) -> Result<T, SchemaViolation> {
    let result = match source {
        Source::Json => serde_path_to_error::deserialize(value),
        Source::Form => serde_path_to_error::deserialize(lenient::Lenient(value)),
    };
    result.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        let (path, message) = kong_message(&path, &inner);
        SchemaViolation::field(path, message)
    })
}

/// Maps a serde error text onto Kong's message for the same failure.
fn kong_message(path: &str, serde_msg: &str) -> (String, String) {
    let path = path.replace('[', ".").replace(']', "");
    let path = if path == "." { String::new() } else { path };
    let join = |field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    if let Some(rest) = serde_msg.strip_prefix("unknown field `") {
        // The path already ends with the unknown field's name.
        let field = rest.split('`').next().unwrap_or_default();
        let named = path == field || path.ends_with(&format!(".{field}"));
        return (
            if named { path } else { join(field) },
            UNKNOWN_FIELD.to_owned(),
        );
    }
    if let Some(rest) = serde_msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return (join(field), REQUIRED_FIELD_MISSING.to_owned());
    }
    if let Some(rest) = serde_msg.strip_prefix("unknown variant `") {
        let expected = rest.split_once("expected ").map_or("", |(_, e)| e);
        let options: Vec<String> = expected
            .trim_start_matches("one of ")
            .split(", ")
            .flat_map(|s| s.split(" or "))
            .map(|s| s.trim_matches('`').to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        return (path, format!("expected one of: {}", options.join(", ")));
    }
    if let Some((_, expected)) = serde_msg.split_once(", expected ") {
        let expected = expected.trim();
        let kong = match expected {
            "a boolean" => "expected a boolean",
            "a string" => "expected a string",
            "a sequence" => "expected an array",
            "f64" | "f32" => "expected a number",
            e if e.starts_with('u') || e.starts_with('i') => "expected an integer",
            e if e.contains("struct") || e.contains("map") => "expected a record",
            e if e.starts_with("one of") => {
                return (path, format!("expected {e}").replace('`', ""));
            }
            _ => return (path, format!("expected {expected}")),
        };
        return (path, kong.to_owned());
    }
    if serde_msg.starts_with("invalid value")
        && let Some((_, expected)) = serde_msg.split_once("expected ")
    {
        return (path, format!("expected {expected}"));
    }
    (path, serde_msg.to_owned())
}

/// Kong's `typedefs.header_name` rule: `bad header name 'x', allowed characters are A-Z, a-z, 0-9, '_', and '-'`.
pub fn check_header_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(format!(
            "bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
        ))
    }
}

#[cfg(test)]
mod tests;
