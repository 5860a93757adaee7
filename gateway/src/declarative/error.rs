//! Why a declarative config did not load, typed; the messages are Kong's (`kong/db/declarative`):
//! the file, then the collection and entry (1-based), then the field.

use crate::model::DbError;

/// A declarative file that could not be read or loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("error reading declarative config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("error parsing declarative config file {name}:\n{problem}")]
    Parse { name: String, problem: Problem },
}

/// What is wrong inside a declarative document.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("file is not UTF-8")]
    NotUtf8,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid YAML: {0}")]
    Yaml(String),
    #[error("expected an object")]
    NotAnObject,
    #[error("in '_format_version': required field missing")]
    FormatVersionMissing,
    #[error("in '_format_version': expected one of: 1.1, 2.1, 3.0")]
    FormatVersionUnknown,
    /// A top-level key that is no collection.
    #[error("in '{0}': unknown field")]
    UnknownField(String),
    /// A collection that is not a list.
    #[error("in '{0}': expected an array")]
    NotAnArray(String),
    /// An entry the entity store refused.
    #[error("{0}")]
    Entry(Box<EntryError>),
}

/// An entry of a collection (or an entry nested in one) that the entity store refused.
#[derive(Debug)]
pub struct EntryError {
    /// The top-level collection, e.g. `services`.
    pub collection: String,
    /// 0-based index in the collection.
    pub index: usize,
    /// The nested collection and 0-based index in it, e.g. `routes` of a service.
    pub nested: Option<(String, usize)>,
    /// Why it was refused.
    pub error: DbError,
}

impl std::error::Error for EntryError {}

impl std::fmt::Display for EntryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (collection, entry) = (&self.collection, self.index + 1);
        write!(
            f,
            "in '{collection}':\n  - in entry {entry} of '{collection}':\n    "
        )?;
        if let Some((nested, j)) = &self.nested {
            write!(
                f,
                "in '{nested}':\n      - in entry {} of '{nested}':\n        ",
                j + 1
            )?;
        }
        f.write_str(&describe(&self.error))
    }
}

/// The store's error in `kong.yml` words: `in 'field': message`, joined by `; `.
fn describe(e: &DbError) -> String {
    match e {
        DbError::NotFound => "not found".to_owned(),
        DbError::Schema(v) => v
            .errors
            .iter()
            .map(|(path, msg)| {
                if path == "@entity" {
                    msg.clone()
                } else {
                    format!("in '{path}': {msg}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        DbError::Unique { message, .. }
        | DbError::ForeignKey { message, .. }
        | DbError::Referenced { message }
        | DbError::Store(message) => message.clone(),
        DbError::InvalidOptions { option, message } => format!("in '{option}': {message}"),
    }
}
