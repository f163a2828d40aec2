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

/// A field that may be absent (`None`: leave it), `null` (`Some(None)`: clear it) or a value;
/// use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(d).map(Some)
}

/// An optional integer field that also takes a JSON number written with a zero fraction
/// (`5.0`): JSON Schema calls that an integer, so a client generated from the OpenAPI document
/// may send it. Any other fraction, or a value out of range, is refused.
pub fn whole_number<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    // 2^63 is the first float past i64::MAX; -2^63 is i64::MIN itself.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) =>
        {
            #[allow(clippy::cast_possible_truncation)]
            Ok(Some(f as i64))
        }
        _ => Err(D::Error::custom(format!("{n} is not a whole number"))),
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::whole_number")]
        n: Option<i64>,
    }

    fn parse(json: &str) -> Result<Option<i64>, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        serde_json::from_value::<Body>(value).map(|b| b.n)
    }

    #[test]
    fn whole_numbers_with_or_without_a_zero_fraction() {
        assert_eq!(parse(r#"{"n": 5}"#).ok(), Some(Some(5)));
        assert_eq!(parse(r#"{"n": 5.0}"#).ok(), Some(Some(5)));
        assert_eq!(parse(r#"{"n": -42052.0}"#).ok(), Some(Some(-42052)));
        assert_eq!(parse(r#"{"n": null}"#).ok(), Some(None));
        assert_eq!(parse(r#"{}"#).ok(), Some(None));
        assert!(parse(r#"{"n": 5.5}"#).is_err());
        assert!(parse(r#"{"n": 1e19}"#).is_err());
        assert!(parse(r#"{"n": "5"}"#).is_err());
    }
}
