//! `/api/uploads`: presigned uploads. The client reserves room for a file, PUTs its bytes
//! straight to the object store with the URLs it gets (one, or one per part), then completes
//! the upload, which creates the document. See `docuvault_core::services::uploads`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::documents::DocumentDto;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, whole_number};
use docuvault_core::services::uploads::{Completion, Reservation, UploadRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reserve))
        .routes(routes!(complete))
        .routes(routes!(cancel))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequestDto {
    /// The original filename, for display and downloads.
    pub filename: String,
    /// The file's exact size in bytes (at most `MAX_UPLOAD_BYTES`); it is charged to the quota
    /// now and the store accepts no other size.
    #[serde(deserialize_with = "whole_number")]
    #[schema(value_type = i64, minimum = 1)]
    pub size: Option<i64>,
    /// The file's MIME type. With the filename's extension it must name a supported type
    /// (PDF, plain text, PNG, JPEG, TIFF), and the bytes must turn out to be of it.
    pub content_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadPartDto {
    /// 1-based.
    pub number: u16,
    /// Where in the file this part starts.
    pub offset: u64,
    /// How many bytes to send: exactly this many (the URL is signed for it).
    pub size: u64,
    /// `PUT` the part's bytes here, straight to the object store.
    pub url: String,
}

/// An upload reserved: send each part's bytes with a `PUT` to its URL (in any order, several
/// at once if you like), then `POST /api/uploads/{id}/complete` before `expires_at`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadDto {
    /// Also the id of the document the upload becomes.
    pub id: Uuid,
    pub size: u64,
    /// Every part but the last has this size.
    pub part_bytes: u64,
    /// After this the URLs stop working and the reservation is released.
    pub expires_at: DateTime<Utc>,
    pub parts: Vec<UploadPartDto>,
}

impl From<Reservation> for UploadDto {
    fn from(r: Reservation) -> Self {
        Self {
            id: r.id,
            size: r.size,
            part_bytes: r.part_bytes,
            expires_at: r.expires_at,
            parts: r
                .parts
                .into_iter()
                .map(|p| UploadPartDto {
                    number: p.number,
                    offset: p.offset,
                    size: p.size,
                    url: p.url.into(),
                })
                .collect(),
        }
    }
}

/// Reserve room for a file and get the URLs to send it straight to the object store. For
/// large files: nothing passes through the API.
#[utoipa::path(
    post, path = "/api/uploads", tag = "uploads", request_body = UploadRequestDto,
    responses(
        (status = 201, body = UploadDto),
        (status = 400, description = "an empty file (`empty_file`) or a malformed request", body = ErrorBody),
        (status = 413, description = "larger than MAX_UPLOAD_BYTES (`file_too_large`), or more than is left of the quota (`quota_exceeded`; nothing is reserved)", body = ErrorBody),
        (status = 415, description = "no supported type named (`unsupported_file_type`), or the type and the extension disagree (`content_type_mismatch`)", body = ErrorBody),
        (status = 503, description = "a dependency is down", body = ErrorBody),
    )
)]
async fn reserve(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Json(req): Json<UploadRequestDto>,
) -> Result<(StatusCode, Json<UploadDto>), ApiError> {
    let size = req
        .size
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| ApiError::new("invalid_size", "size must be a whole number of bytes"))?;
    let reservation = state
        .vault
        .reserve_upload(
            caller.id,
            UploadRequest {
                filename: req.filename,
                size,
                content_type: req.content_type,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(reservation.into())))
}

/// Complete an upload once every part is sent: the file is checked (size, type) and becomes a
/// `pending` document. Safe to repeat: a completed upload answers its document (200).
#[utoipa::path(
    post, path = "/api/uploads/{id}/complete", tag = "uploads", params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "the document, created now", body = DocumentDto),
        (status = 200, description = "the document, created by an earlier completion", body = DocumentDto),
        (status = 404, description = "no such upload (or it was cancelled or refused)", body = ErrorBody),
        (status = 409, description = "not every part has arrived (`upload_incomplete`; send them and complete again), or the reservation expired (`upload_expired`)", body = ErrorBody),
        (status = 415, description = "the bytes are not of a supported type, or not of the announced one; the upload is cancelled", body = ErrorBody),
        (status = 422, description = "the stored size is not the reserved one (`size_mismatch`), or the store refused to join the parts (`upload_rejected`); the upload is cancelled", body = ErrorBody),
        (status = 503, description = "a dependency is down", body = ErrorBody),
    )
)]
async fn complete(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<DocumentDto>), ApiError> {
    Ok(match state.vault.complete_upload(caller.id, id).await? {
        Completion::Created(doc) => (StatusCode::CREATED, Json(doc.into())),
        Completion::AlreadyCompleted(doc) => (StatusCode::OK, Json(doc.into())),
    })
}

/// Cancel an upload that is not complete: its reservation is released and whatever was sent
/// is deleted.
#[utoipa::path(
    delete, path = "/api/uploads/{id}", tag = "uploads", params(("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the upload is complete (`upload_completed`): delete its document instead", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.vault.cancel_upload(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
