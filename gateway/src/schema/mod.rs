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

    /// Puts every path under `prefix` (e.g. `config`); an error of the whole value (empty path,
    /// see [`SchemaViolation::record`]) becomes the error of `prefix` itself.
    #[must_use]
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for (path, _) in &mut self.errors {
            *path = if path.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{path}")
            };
        }
        self
    }

    /// An error of a whole record value: Kong's `custom_validator` on a record field, which
    /// makes the field's error one string (`{"config": "message cannot be used with ..."}`).
    pub fn record(message: impl Into<String>) -> Self {
        Self::field("", message)
    }

    /// Kong's message (`kong/db/errors.lua` `schema_violation`): `@entity` errors first, then
    /// each top-level field in name order; a field whose errors are a table lists each of its
    /// keys in order as `field.key: error`, an error that is itself a table printed as
    /// Penlight's `pretty.write` prints it. One error: `schema violation (a: x)`; more:
    /// `N schema violations (a: x; b: y)`.
    pub fn message(&self) -> String {
        let fields = self.fields();
        let mut parts: Vec<String> = Vec::new();
        if let Some(Value::Array(entity)) = fields.get("@entity") {
            parts.extend(entity.iter().map(lua_text));
        }
        if let Value::Object(map) = &fields {
            let mut names: Vec<&String> = map.keys().filter(|k| *k != "@entity").collect();
            names.sort();
            for name in names {
                match &map[name] {
                    Value::Object(sub) => {
                        let mut keys: Vec<&String> = sub.keys().collect();
                        keys.sort();
                        for key in keys {
                            parts.push(format!("{name}.{key}: {}", lua_text(&sub[key])));
                        }
                    }
                    Value::Array(items) => {
                        // A top-level array's errors, by 1-based position (Lua's sorted keys).
                        for (i, item) in items.iter().enumerate().filter(|(_, v)| !v.is_null()) {
                            parts.push(format!("{name}.{}: {}", i + 1, lua_text(item)));
                        }
                    }
                    other => parts.push(format!("{name}: {}", lua_text(other))),
                }
            }
        }
        if parts.len() == 1 {
            format!("schema violation ({})", parts[0])
        } else {
            format!("{} schema violations ({})", parts.len(), parts.join("; "))
        }
    }

    /// Kong's nested `fields` object: `{"config":{"status_code":"..."}}`, `{"@entity":["..."]}`;
    /// errors of array elements (all-digit, 1-based path segments) are an array in element
    /// order with `null` for the valid elements (`validate_elements`, encoded by cjson).
    pub fn fields(&self) -> Value {
        let mut root = Value::Object(Map::new());
        for (path, msg) in &self.errors {
            let segments: Vec<&str> = path.split('.').collect();
            let mut node = &mut root;
            for (i, seg) in segments.iter().enumerate() {
                if *seg == "@entity" {
                    let Some(map) = as_object(node) else { break };
                    let list = map
                        .entry("@entity")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(items) = list {
                        items.push(Value::String(msg.clone()));
                    }
                    break;
                }
                let last = i + 1 == segments.len();
                let slot = match seg.parse::<usize>() {
                    Ok(position) if position > 0 => {
                        if !node.is_array() {
                            *node = Value::Array(Vec::new());
                        }
                        let Value::Array(items) = node else { break };
                        if items.len() < position {
                            items.resize(position, Value::Null);
                        }
                        &mut items[position - 1]
                    }
                    _ => {
                        let Some(map) = as_object(node) else { break };
                        map.entry((*seg).to_owned()).or_insert(Value::Null)
                    }
                };
                if last {
                    if slot.is_null() {
                        *slot = Value::String(msg.clone());
                    }
                    break;
                }
                node = slot;
            }
        }
        root
    }
}

/// `node` as an object, making it one when it is empty (`null`); `None` when it already holds
/// another kind of error (the first error of a place is kept).
fn as_object(node: &mut Value) -> Option<&mut Map<String, Value>> {
    if node.is_null() {
        *node = Value::Object(Map::new());
    }
    node.as_object_mut()
}

/// An error as `errors.lua` prints it: a string as it is, a table with Penlight's
/// `pretty.write` (`kong/db/errors.lua` `pl_pretty`).
fn lua_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            lua_pretty(other, "", "  ", &mut out);
            out
        }
    }
}

/// Penlight's `pretty.write` of a Lua table made from `value` (JSON `null` array items are Lua
/// holes): `{`, the array part (up to the first hole) one item a line, then the other keys as
/// `[n] = v` or `key = v`, each line indented two spaces and ended by a comma except the last,
/// then `}`; with an empty `space`, all on one line and `key=value`. Strings are quoted as Lua's
/// `%q`.
pub(crate) fn lua_pretty(value: &Value, indent: &str, space: &str, out: &mut String) {
    let inner = format!("{indent}{space}");
    let (set, newline) = if space.is_empty() {
        ("=", "")
    } else {
        (" = ", "\n")
    };
    let mut lines: Vec<String> = Vec::new();
    let mut push = |key: Option<String>, v: &Value| {
        let mut text = String::new();
        match v {
            Value::String(s) => text.push_str(&lua_quote(s)),
            Value::Array(_) | Value::Object(_) => lua_pretty(v, &inner, space, &mut text),
            other => text.push_str(&other.to_string()),
        }
        lines.push(match key {
            Some(key) => format!("{inner}{key}{set}{text}"),
            None => format!("{inner}{text}"),
        });
    };
    match value {
        Value::Array(items) => {
            let run = items.iter().take_while(|v| !v.is_null()).count();
            for item in &items[..run] {
                push(None, item);
            }
            for (i, item) in items.iter().enumerate().skip(run) {
                if !item.is_null() {
                    push(Some(format!("[{}]", i + 1)), item);
                }
            }
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                let is_identifier = key
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                let shown = if is_identifier {
                    key.clone()
                } else {
                    format!("[{}]", lua_quote(key))
                };
                push(Some(shown), &map[key]);
            }
        }
        other => {
            out.push_str(&other.to_string());
            return;
        }
    }
    out.push('{');
    out.push_str(newline);
    out.push_str(&lines.join(&format!(",{newline}")));
    if !lines.is_empty() {
        out.push_str(newline);
    }
    out.push_str(indent);
    out.push('}');
}

/// Lua's `%q`: double quotes, with `\\`, `"`, newlines and control bytes escaped.
fn lua_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_ascii_control() => out.push_str(&format!("\\{}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
    let path = one_based(path);
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
    // A non-optional field given as `null`: Kong's `required = true` (defaults fill only absent
    // fields, so an explicit null stays null and fails as missing).
    if serde_msg.starts_with("invalid type: null") {
        return (path, REQUIRED_FIELD_MISSING.to_owned());
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

/// A Kong `type = "number"` field kept as whole seconds (the session timeouts: Kong's
/// `kong/plugins/session/schema.lua` declares them `number`, so a string is "expected a number"
/// and a fraction is accepted; it is cut to whole seconds, the resolution resty-session's cookie
/// timestamps have). A negative value is refused: no timeout of this gateway can be negative.
pub fn number_as_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_f64(SecondsVisitor)
}

/// [`number_as_seconds`] with `null` as 0 (Kong's `cookie_idletime: null` of old configs).
pub fn number_as_seconds_null_zero<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<u64, D::Error> {
    d.deserialize_option(OptionalSeconds)
}

struct SecondsVisitor;

impl serde::de::Visitor<'_> for SecondsVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(NEGATIVE_SECONDS))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
        if !v.is_finite() {
            return Err(E::invalid_type(serde::de::Unexpected::Float(v), &self));
        }
        if v < 0.0 {
            return Err(E::custom(NEGATIVE_SECONDS));
        }
        // Saturating float-to-int conversion: whole seconds.
        Ok(v as u64)
    }
}

struct OptionalSeconds;

impl<'de> serde::de::Visitor<'de> for OptionalSeconds {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        number_as_seconds(d)
    }
}

/// A negative number of seconds (this gateway's words; Kong's `number` has no lower bound).
pub const NEGATIVE_SECONDS: &str = "value must be greater than or equal to 0";

/// serde_path_to_error's `a.b[0].c` as Kong's dotted path with 1-based array positions:
/// `a.b.1.c`.
fn one_based(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let index = &after[..close];
        out.push('.');
        match index.parse::<usize>() {
            Ok(i) => out.push_str(&(i + 1).to_string()),
            Err(_) => out.push_str(index),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
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
