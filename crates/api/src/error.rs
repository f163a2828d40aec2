//! The API's one error type. Every error answers `{"error":{"code","message"}}` with a stable
//! snake_case code; unexpected errors are logged with their context and answered as an opaque
//! 500; an unavailable dependency answers 503 with `Retry-After`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docuvault_core::Error;
use docuvault_core::error::Dependency;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<docuvault_domain::ValidationError> for ApiError {
    fn from(e: docuvault_domain::ValidationError) -> Self {
        Self(e.into())
    }
}

impl ApiError {
    /// A 400 with the given code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self(Error::bad_request(code, message))
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case; safe to match on.
    pub code: String,
    /// For people; may change.
    pub message: String,
}

pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::BadRequest { code, message } => {
                error_response(StatusCode::BAD_REQUEST, code, message)
            }
            Error::Invalid(v) => {
                error_response(StatusCode::UNPROCESSABLE_ENTITY, v.code, v.message)
            }
            Error::Unauthorized { code, message } => {
                let mut resp = error_response(StatusCode::UNAUTHORIZED, code, message);
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"docuvault\""),
                );
                resp
            }
            Error::Forbidden { code, message } => {
                error_response(StatusCode::FORBIDDEN, code, message)
            }
            Error::RateLimited { retry_after_secs } => {
                let mut resp = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many attempts; try again in {retry_after_secs} s"),
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                resp
            }
            Error::NotFound(what) => error_response(
                StatusCode::NOT_FOUND,
                &format!("{}_not_found", what.replace(' ', "_").to_lowercase()),
                format!("{what} not found"),
            ),
            Error::Conflict { code, message } => {
                error_response(StatusCode::CONFLICT, code, message)
            }
            e @ Error::TooLarge { .. } => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                e.to_string(),
            ),
            e @ Error::QuotaExceeded { .. } => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "quota_exceeded",
                e.to_string(),
            ),
            Error::UnsupportedType { code, message } => {
                error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, code, message)
            }
            Error::Unavailable { dependency, source } => {
                tracing::warn!(
                    dependency = dependency.as_str(),
                    error = format!("{source:#}"),
                    "dependency unavailable"
                );
                let message = match dependency {
                    // The person's own server: they can act on the reason (it names their
                    // connection and what went wrong, never a credential).
                    Dependency::CloudStorage => {
                        format!("your cloud storage cannot be reached now: {source:#}")
                    }
                    _ => format!("{} is unavailable; try again shortly", dependency.as_str()),
                };
                let mut resp = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "dependency_unavailable",
                    message,
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                resp
            }
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "an unexpected error occurred",
                )
            }
        }
    }
}
