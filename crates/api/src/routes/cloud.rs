//! `/api/cloud-connections`, `/api/me/storage` and `/api/documents/{id}/move-storage`: a
//! person's own cloud (WebDAV, Nextcloud) as the place their documents are kept. Passwords are
//! write-only: no answer carries them.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path};
use docuvault_core::Error;
use docuvault_core::db::cloud_connections::{ConnectionRow, ConnectionSummary};
use docuvault_core::services::cloud::{Backend, NewCloud};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, add_connection))
        .routes(routes!(delete_connection))
        .routes(routes!(test_connection))
        .routes(routes!(get_storage, set_storage))
        .routes(routes!(move_all))
        .routes(routes!(move_storage))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudConnectionInputDto {
    /// `webdav` (any WebDAV server) or `nextcloud` (its WebDAV under
    /// `/remote.php/dav/files/<user>/`).
    #[schema(pattern = "^(webdav|nextcloud)$")]
    pub provider: String,
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: String,
    /// The WebDAV folder's URL, or the Nextcloud server's (e.g. `https://cloud.example.org`).
    #[schema(min_length = 1, max_length = 2000)]
    pub url: String,
    #[schema(min_length = 1, max_length = 320)]
    pub username: String,
    /// For Nextcloud, an app password (Settings → Security). Write-only.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CloudConnectionDto {
    pub id: Uuid,
    pub provider: String,
    pub display_name: String,
    pub url: String,
    pub username: Option<String>,
    /// `active`, `error` (with `last_error` saying why) or `revoked`.
    pub status: String,
    pub last_error: Option<String>,
    pub checked_at: DateTime<Utc>,
    /// Documents kept there now.
    pub documents: i64,
    /// Documents on their way there or away from there.
    pub moving: i64,
    /// New uploads go there.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

fn dto(row: ConnectionRow, documents: i64, moving: i64, is_default: bool) -> CloudConnectionDto {
    CloudConnectionDto {
        id: row.id,
        provider: row.provider,
        display_name: row.display_name,
        url: row.endpoint,
        username: row.username,
        status: row.status,
        last_error: row.last_error,
        checked_at: row.checked_at,
        documents,
        moving,
        is_default,
        created_at: row.created_at,
    }
}

impl From<ConnectionSummary> for CloudConnectionDto {
    fn from(c: ConnectionSummary) -> Self {
        dto(c.row, c.documents, c.moving, c.is_default)
    }
}

/// Your cloud connections.
#[utoipa::path(get, path = "/api/cloud-connections", tag = "storage",
    responses((status = 200, body = Vec<CloudConnectionDto>), (status = 401, body = ErrorBody)))]
async fn list_connections(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<Vec<CloudConnectionDto>>, ApiError> {
    let rows = state.vault.list_cloud_connections(caller.id).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Connect a WebDAV server or a Nextcloud. DocuVault lists its folder with these credentials
/// first and keeps nothing if that fails.
#[utoipa::path(post, path = "/api/cloud-connections", tag = "storage",
    request_body = CloudConnectionInputDto,
    responses((status = 201, body = CloudConnectionDto), (status = 401, body = ErrorBody),
              (status = 409, description = "too many connections", body = ErrorBody),
              (status = 422, description = "invalid input, a private address, or the server refused or did not answer (`cloud_connection_failed`)", body = ErrorBody)))]
async fn add_connection(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Json(input): Json<CloudConnectionInputDto>,
) -> Result<(StatusCode, Json<CloudConnectionDto>), ApiError> {
    let row = state
        .vault
        .add_cloud_connection(
            caller.id,
            NewCloud {
                provider: input.provider,
                display_name: input.display_name,
                url: input.url,
                username: input.username,
                password: input.password,
            },
            meta.ip,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(dto(row, 0, 0, false))))
}

/// Disconnect. Refused (`409 connection_in_use`) while documents are kept there or moving
/// there: move them to another storage first. Files DocuVault put there before stay there.
#[utoipa::path(delete, path = "/api/cloud-connections/{id}", tag = "storage",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn delete_connection(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .vault
        .delete_cloud_connection(caller.id, id, meta.ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check the connection now; its status says how it answered.
#[utoipa::path(post, path = "/api/cloud-connections/{id}/test", tag = "storage",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CloudConnectionDto), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn test_connection(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<CloudConnectionDto>, ApiError> {
    let c = state.vault.test_cloud_connection(caller.id, id).await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageChoiceDto {
    /// `vault` (DocuVault's own store) or the id of one of your cloud connections.
    #[schema(example = "vault")]
    pub default: String,
}

/// `vault` or a connection id.
fn backend(raw: &str) -> Result<Backend, ApiError> {
    if raw == "vault" {
        return Ok(Backend::Vault);
    }
    raw.parse::<Uuid>().map(Backend::Cloud).map_err(|_| {
        Error::Invalid(docuvault_domain::ValidationError::new(
            "invalid_storage",
            "the storage is \"vault\" or the id of one of your cloud connections",
        ))
        .into()
    })
}

fn name(b: Backend) -> String {
    b.connection()
        .map_or_else(|| "vault".to_owned(), |id| id.to_string())
}

/// Where your new uploads are kept.
#[utoipa::path(get, path = "/api/me/storage", tag = "storage",
    responses((status = 200, body = StorageChoiceDto), (status = 401, body = ErrorBody)))]
async fn get_storage(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<StorageChoiceDto>, ApiError> {
    let b = state.vault.default_storage(caller.id).await?;
    Ok(Json(StorageChoiceDto { default: name(b) }))
}

/// Choose where your new uploads are kept. Documents already stored stay where they are
/// (move them with `move-storage`).
#[utoipa::path(put, path = "/api/me/storage", tag = "storage", request_body = StorageChoiceDto,
    responses((status = 200, body = StorageChoiceDto), (status = 401, body = ErrorBody),
              (status = 404, description = "no connection of yours by that id", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn set_storage(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Json(input): Json<StorageChoiceDto>,
) -> Result<Json<StorageChoiceDto>, ApiError> {
    let b = state
        .vault
        .set_default_storage(caller.id, backend(&input.default)?)
        .await?;
    Ok(Json(StorageChoiceDto { default: name(b) }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveStorageDto {
    /// `vault` or the id of one of your cloud connections.
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MoveAcceptedDto {
    /// Moves asked for: a worker copies each document, checks the copy, switches to it and
    /// deletes the old one. 0 when the documents are there already.
    pub requested: usize,
}

/// Move your document to another storage. The worker does it (large files take a while); the
/// document stays readable all along.
#[utoipa::path(post, path = "/api/documents/{id}/move-storage", tag = "storage",
    params(("id" = Uuid, Path)), request_body = MoveStorageDto,
    responses((status = 202, body = MoveAcceptedDto),
              (status = 200, description = "it is there already", body = MoveAcceptedDto),
              (status = 401, body = ErrorBody),
              (status = 404, description = "no document or connection of yours by that id", body = ErrorBody),
              (status = 409, description = "a move of it is under way (`document_moving`)", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn move_storage(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
    Json(input): Json<MoveStorageDto>,
) -> Result<(StatusCode, Json<MoveAcceptedDto>), ApiError> {
    let to = backend(&input.to)?;
    let requested = state.vault.request_storage_move(caller.id, id, to).await?;
    let status = if requested {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(MoveAcceptedDto {
            requested: usize::from(requested),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveAllDto {
    /// Where the documents are: `vault` or a connection id.
    pub from: String,
    /// Where they go: `vault` or a connection id.
    pub to: String,
}

/// Move every document kept in one storage to another (before disconnecting, say).
#[utoipa::path(post, path = "/api/me/storage/move-all", tag = "storage", request_body = MoveAllDto,
    responses((status = 202, body = MoveAcceptedDto), (status = 401, body = ErrorBody),
              (status = 404, description = "no connection of yours by that id", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn move_all(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Json(input): Json<MoveAllDto>,
) -> Result<(StatusCode, Json<MoveAcceptedDto>), ApiError> {
    let (from, to) = (backend(&input.from)?, backend(&input.to)?);
    let requested = state
        .vault
        .request_storage_moves(caller.id, from, to)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(MoveAcceptedDto { requested })))
}
