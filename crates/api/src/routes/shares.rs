//! Sharing: `/api/documents/{id}/shares` (the owner shares by handle, lists, revokes),
//! `/api/shared-with-me`, and a document's history, `/api/documents/{id}/activity`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::documents::DocumentDto;
use super::listing::{decode_time_cursor, encode_time_cursor, page_limit};
use crate::app::AppState;
use crate::auth::{AuthUser, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query};
use docuvault_core::db::activity::ActivityRow;
use docuvault_core::db::shares::{ShareRow, SharedAfter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_share, list_shares))
        .routes(routes!(revoke_share))
        .routes(routes!(shared_with_me))
        .routes(routes!(activity))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// The handle of the person to share with.
    #[schema(min_length = 1, max_length = 64)]
    pub handle: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShareDto {
    pub id: Uuid,
    pub document_id: Uuid,
    /// Who the document is shared with.
    pub handle: String,
    /// What they may do: `view` (see, preview and download it; never change it).
    pub permission: String,
    pub created_at: DateTime<Utc>,
}

impl From<ShareRow> for ShareDto {
    fn from(s: ShareRow) -> Self {
        Self {
            id: s.id,
            document_id: s.document_id,
            handle: s.recipient_handle,
            permission: s.permission,
            created_at: s.created_at,
        }
    }
}

/// Share your document with another user, by their handle, to view. Sharing again with the
/// same person returns the existing share (200).
#[utoipa::path(
    post, path = "/api/documents/{id}/shares", tag = "shares", params(("id" = Uuid, Path)),
    request_body = ShareRequest,
    responses(
        (status = 201, body = ShareDto),
        (status = 200, description = "already shared with them", body = ShareDto),
        (status = 404, description = "no document of yours by that id", body = ErrorBody),
        (status = 422, description = "no active user has that handle (`unknown_handle`), or it is yours (`cannot_share_with_self`)", body = ErrorBody),
        (status = 429, description = "too many unknown handles tried", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn create_share(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Path(id): Path<Uuid>,
    Json(body): Json<ShareRequest>,
) -> Result<(StatusCode, Json<ShareDto>), ApiError> {
    let (share, created) = state
        .vault
        .share_document(caller.id, id, &body.handle, meta.ip)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(share.into())))
}

/// Who your document is shared with.
#[utoipa::path(
    get, path = "/api/documents/{id}/shares", tag = "shares", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ShareDto>), (status = 404, body = ErrorBody))
)]
async fn list_shares(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<ShareDto>>, ApiError> {
    let shares = state.vault.shares_of(caller.id, id).await?;
    Ok(Json(shares.into_iter().map(ShareDto::from).collect()))
}

/// Take a share back. From now on the recipient cannot open, preview or download the document
/// (a download link handed out before lasts at most 5 minutes).
#[utoipa::path(
    delete, path = "/api/documents/{id}/shares/{share_id}", tag = "shares",
    params(("id" = Uuid, Path), ("share_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody))
)]
async fn revoke_share(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Path((id, share_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    state
        .vault
        .revoke_share(caller.id, id, share_id, meta.ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SharedParams {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SharedDocumentDto {
    #[serde(flatten)]
    pub document: DocumentDto,
    pub share_id: Uuid,
    pub shared_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SharedPage {
    pub items: Vec<SharedDocumentDto>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Documents other people shared with you, most recently shared first.
#[utoipa::path(
    get, path = "/api/shared-with-me", tag = "shares", params(SharedParams),
    responses((status = 200, body = SharedPage), (status = 400, body = ErrorBody))
)]
async fn shared_with_me(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(p): Query<SharedParams>,
) -> Result<Json<SharedPage>, ApiError> {
    let limit = page_limit(p.limit)?;
    let after = p
        .cursor
        .as_deref()
        .map(decode_time_cursor)
        .transpose()?
        .map(|(shared_at, share_id)| SharedAfter {
            shared_at,
            share_id,
        });
    let page = state.vault.shared_with_me(caller.id, after, limit).await?;
    Ok(Json(SharedPage {
        items: page
            .items
            .into_iter()
            .map(|s| SharedDocumentDto {
                document: s.document.into(),
                share_id: s.share_id,
                shared_at: s.shared_at,
            })
            .collect(),
        next_cursor: page
            .next
            .map(|n| encode_time_cursor(n.shared_at, n.share_id)),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityParams {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_before` of the previous page.
    pub before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityDto {
    pub id: i64,
    /// `uploaded`, `classified`, `failed`, `reclassify_requested`, `renamed`, `moved`,
    /// `topics_set`, `shared`, `share_revoked`, `viewed` (by a recipient), `downloaded`.
    pub kind: String,
    /// Who did it: a handle, or null for DocuVault itself (processing).
    pub actor: Option<String>,
    /// What the event says beyond its kind (e.g. `recipient`, `from`/`to`, `error`).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<ActivityRow> for ActivityDto {
    fn from(a: ActivityRow) -> Self {
        Self {
            id: a.id,
            kind: a.kind,
            actor: a.actor_handle,
            detail: a.detail,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityPage {
    pub items: Vec<ActivityDto>,
    /// Pass as `before` to get older events; null on the last page.
    pub next_before: Option<i64>,
}

/// Your document's history, newest first: uploaded, processed, edited, shared, viewed by a
/// recipient, downloaded.
#[utoipa::path(
    get, path = "/api/documents/{id}/activity", tag = "documents",
    params(("id" = Uuid, Path), ActivityParams),
    responses((status = 200, body = ActivityPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn activity(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<ActivityParams>,
) -> Result<Json<ActivityPage>, ApiError> {
    let limit = page_limit(p.limit)?;
    let (rows, next_before) = state
        .vault
        .activity_of(caller.id, id, p.before, limit)
        .await?;
    Ok(Json(ActivityPage {
        items: rows.into_iter().map(ActivityDto::from).collect(),
        next_before,
    }))
}
