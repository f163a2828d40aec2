//! Extractors whose rejections are our JSON errors instead of axum's plain-text ones.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// `axum::Json`, answering malformed or mistyped bodies with 400/415 JSON errors. Bodies must be
/// JSON objects: serde would otherwise read a struct from an array by field position.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ApiError::new(
                "invalid_json",
                "the request body must be a JSON object",
            ));
        }
        T::deserialize(value)
            .map(Json)
            .map_err(|e| ApiError::new("invalid_json", format!("invalid request body: {e}")))
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                Self(docuvault_core::Error::UnsupportedType {
                    code: "expected_json",
                    message: "send the body as JSON with Content-Type: application/json".into(),
                })
            }
            other => ApiError::new("invalid_json", other.body_text()),
        }
    }
}

/// `axum::extract::Path`; a malformed id is a 400, not axum's plain-text answer.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new("invalid_path", r.body_text())
    }
}

/// `axum::extract::Query` with JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new("invalid_query", r.body_text())
    }
}
