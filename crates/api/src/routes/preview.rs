//! Viewing in the browser: `/api/documents/{id}/preview` (inline, byte ranges, sandboxed) and
//! `/api/documents/{id}/thumbnail`, each reachable with the bearer token or with a short-lived
//! media token in `?token=` (for `<img src>` and the PDF viewer, which cannot send headers).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody, error_response};
use crate::extract::{Json, Path, Query};
use docuvault_core::Error;
use docuvault_core::services::preview::{ByteRange, Media};
use docuvault_domain::filename::content_disposition;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preview_link))
        .routes(routes!(preview))
        .routes(routes!(thumbnail_token))
        .routes(routes!(thumbnail))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaLinkDto {
    /// A same-origin URL that works without the Authorization header until `expires_at`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaTokenDto {
    /// Append as `?token=` to `/api/documents/{id}/thumbnail`; stays the same for up to an hour.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaParams {
    /// A media token (from `preview-link` or `thumbnail-token`), instead of the bearer token.
    pub token: Option<String>,
    /// Answer as an attachment to save (the download link of a document kept in its owner's
    /// cloud) rather than inline.
    pub download: Option<bool>,
}

/// A link that shows the document in the browser for the next 10 minutes, for viewers that
/// cannot send the bearer token (the PDF viewer, `<img>`).
#[utoipa::path(
    get, path = "/api/documents/{id}/preview-link", tag = "documents", params(("id" = Uuid, Path)),
    responses((status = 200, body = MediaLinkDto), (status = 404, body = ErrorBody))
)]
async fn preview_link(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<MediaLinkDto>, ApiError> {
    let (token, expires_at) = state
        .vault
        .media_token(caller.id, Media::Preview(id))
        .await?;
    Ok(Json(MediaLinkDto {
        url: format!("/api/documents/{id}/preview?token={token}"),
        expires_at,
    }))
}

/// A token for the thumbnails of every document you may read.
#[utoipa::path(
    get, path = "/api/me/thumbnail-token", tag = "me",
    responses((status = 200, body = MediaTokenDto), (status = 401, body = ErrorBody))
)]
async fn thumbnail_token(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<MediaTokenDto>, ApiError> {
    let (token, expires_at) = state
        .vault
        .media_token(caller.id, Media::Thumbnails)
        .await?;
    Ok(Json(MediaTokenDto { token, expires_at }))
}

/// The caller: from the bearer token when there is one, else from the media token.
async fn media_caller(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<&str>,
    media: Media,
    route: &str,
) -> Result<Uuid, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match (bearer, token) {
        (Some(b), _) => {
            let caller = state.vault.authenticate(b.trim()).await?;
            crate::auth::check_scope(&caller, "GET", Some(route))?;
            Ok(caller.id)
        }
        (None, Some(t)) => Ok(state.vault.media_caller(t, media).await?),
        (None, None) => Err(Error::unauthorized(
            "missing_token",
            "send the access token as Authorization: Bearer <token>, or open a preview link",
        )
        .into()),
    }
}

/// The document's bytes to view in the browser: inline, with its detected type, answering
/// `Range: bytes=…` with 206. Served sandboxed (`Content-Security-Policy: sandbox`): nothing in
/// a document can run as the app.
#[utoipa::path(
    get, path = "/api/documents/{id}/preview", tag = "documents",
    params(("id" = Uuid, Path), MediaParams),
    responses(
        (status = 200, description = "the bytes, inline",
            content((Vec<u8> = "application/pdf"), (String = "text/plain"), (Vec<u8> = "image/png"),
                    (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/tiff"))),
        (status = 206, description = "the asked range of the bytes"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 416, description = "the range is outside the document", body = ErrorBody),
    )
)]
async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(p): Query<MediaParams>,
) -> Result<Response, ApiError> {
    let caller = media_caller(
        &state,
        &headers,
        p.token.as_deref(),
        Media::Preview(id),
        "/api/documents/{id}/preview",
    )
    .await?;
    let row = state.vault.preview_document(caller, id).await?;
    let size = u64::try_from(row.size_bytes).unwrap_or(0);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(raw) => match parse_range(raw, size) {
            RangeAsk::Whole => None,
            RangeAsk::Part(r) => Some(r),
            RangeAsk::Unsatisfiable => {
                let mut resp = error_response(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the document has {size} bytes"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(resp);
            }
        },
    };
    let body = state.vault.preview_bytes(&row, range).await?;
    let mut resp = Body::from_stream(body.map_err(std::io::Error::other)).into_response();
    let h = resp.headers_mut();
    if let Some(r) = range {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(r.end - r.start + 1),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{size}", r.start, r.end)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    } else {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&row.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    let disposition = if p.download == Some(true) {
        content_disposition(&row.filename)
    } else {
        content_disposition(&row.filename).replacen("attachment", "inline", 1)
    };
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    sandboxed(h);
    Ok(resp)
}

/// The first page as a PNG about 300 px on its longer side (PDFs; made by the worker).
#[utoipa::path(
    get, path = "/api/documents/{id}/thumbnail", tag = "documents",
    params(("id" = Uuid, Path), MediaParams),
    responses(
        (status = 200, description = "the thumbnail", content((Vec<u8> = "image/png"))),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such document, or it has no thumbnail", body = ErrorBody),
    )
)]
async fn thumbnail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(p): Query<MediaParams>,
) -> Result<Response, ApiError> {
    let caller = media_caller(
        &state,
        &headers,
        p.token.as_deref(),
        Media::Thumbnails,
        "/api/documents/{id}/thumbnail",
    )
    .await?;
    let body = state.vault.open_thumbnail(caller, id).await?;
    let mut resp = Body::from_stream(body.map_err(std::io::Error::other)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    sandboxed(h);
    // The URL changes with the token every hour; within it the image may be reused.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(resp)
}

/// The bytes are the user's, not ours: never let a browser run them in our origin.
fn sandboxed(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("private, no-cache"));
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// No usable single range (absent, several, or malformed): send it all, as HTTP allows.
    Whole,
    Part(ByteRange),
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`) of a `size`-byte document.
fn parse_range(raw: &str, size: u64) -> RangeAsk {
    let Some(spec) = raw.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", "") => return RangeAsk::Whole,
        ("", n) => match n.parse::<u64>() {
            Ok(0) => return RangeAsk::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            Err(_) => return RangeAsk::Whole,
        },
        (a, b) => {
            let Ok(start) = a.parse::<u64>() else {
                return RangeAsk::Whole;
            };
            let end = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                match b.parse::<u64>() {
                    Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                    _ => return RangeAsk::Whole,
                }
            };
            (start, end)
        }
    };
    if size == 0 || start >= size {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Part(ByteRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_a_thousand_bytes() {
        let part = |start, end| RangeAsk::Part(ByteRange { start, end });
        assert_eq!(parse_range("bytes=0-99", 1000), part(0, 99));
        assert_eq!(parse_range("bytes=900-", 1000), part(900, 999));
        assert_eq!(parse_range("bytes=-100", 1000), part(900, 999));
        assert_eq!(parse_range("bytes=990-5000", 1000), part(990, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), part(0, 999));
        assert_eq!(parse_range("bytes=1000-", 1000), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=9-2", 1000), RangeAsk::Whole);
        assert_eq!(parse_range("items=0-1", 1000), RangeAsk::Whole);
    }
}
