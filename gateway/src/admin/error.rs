//! The Admin API's one error type, rendered as Kong's error JSON (`kong/db/errors.lua`,
//! `kong/api/endpoints.lua`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::model::DbError;

/// An Admin API failure.
#[derive(Debug)]
pub enum AdminError {
    /// 404 `{"message":"Not found"}`.
    NotFound,
    /// 405 `{"message":"Method not allowed"}`.
    MethodNotAllowed,
    /// 400 `{"message":"Cannot parse JSON body"}`.
    BadJson,
    /// 400 with a plain message.
    BadRequest(String),
    /// 415 for bodies that are neither JSON nor forms.
    UnsupportedMediaType,
    /// 400 with one of Kong's coded DAO errors that carry no fields (`kong/db/errors.lua`):
    /// `invalid offset` (7), `invalid size` (9).
    Kong {
        /// Kong's error code.
        code: u8,
        /// Kong's error name.
        name: &'static str,
        /// Kong's message.
        message: String,
    },
    /// An entity-store error.
    Db(DbError),
    /// 400 with Kong's whole error body already built (`POST /config`'s code 14).
    Body(Value),
}

impl From<DbError> for AdminError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => Self::NotFound,
            other => Self::Db(other),
        }
    }
}

fn message(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "message": msg }))).into_response()
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => message(StatusCode::NOT_FOUND, "Not found"),
            Self::MethodNotAllowed => message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            Self::BadJson => message(StatusCode::BAD_REQUEST, "Cannot parse JSON body"),
            Self::BadRequest(m) => message(StatusCode::BAD_REQUEST, &m),
            Self::UnsupportedMediaType => message(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Content-Type"),
            Self::Kong { code, name, message } => (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": code, "name": name, "message": message})),
            )
                .into_response(),
            Self::Db(DbError::InvalidOptions { option, message }) => (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "code": 11,
                    "name": "invalid options",
                    "message": format!("invalid option ({option}: {message})"),
                    "options": { option: message },
                })),
            )
                .into_response(),
            Self::Db(DbError::NotFound) => message(StatusCode::NOT_FOUND, "Not found"),
            // Kong's 500 body (`kong/tools/utils.lua` via `kong.response.exit(500, ...)` in
            // `kong/api/endpoints.lua` `handle_error`).
            Self::Db(DbError::Store(_)) => {
                message(StatusCode::INTERNAL_SERVER_ERROR, crate::error::UNEXPECTED)
            }
            Self::Body(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
            Self::Db(DbError::Schema(v)) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": 2, "name": "schema violation", "message": v.message(), "fields": v.fields()})),
            )
                .into_response(),
            Self::Db(DbError::Unique { message, fields }) => (
                StatusCode::CONFLICT,
                Json(json!({"code": 5, "name": "unique constraint violation", "message": message, "fields": fields})),
            )
                .into_response(),
            Self::Db(DbError::ForeignKey {
                message, fields, ..
            }) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": 4, "name": "foreign key violation", "message": message, "fields": fields})),
            )
                .into_response(),
            Self::Db(DbError::Referenced { message }) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": 4, "name": "foreign key violation", "message": message, "fields": {}})),
            )
                .into_response(),
        }
    }
}
