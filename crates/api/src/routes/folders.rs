//! `/api/folders`: the user's folder tree (folders inside folders; documents are filed with
//! `PATCH /api/documents/{id} {folder_id}`).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query, present};
use docuvault_core::db::folders::FolderRow;
use docuvault_core::services::folders::{Contents, FolderChanges};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FolderDto {
    pub id: Uuid,
    /// null: a top-level folder.
    pub parent_id: Option<Uuid>,
    pub name: String,
    /// Documents filed directly in it.
    pub document_count: i64,
    pub created_at: DateTime<Utc>,
}

impl From<FolderRow> for FolderDto {
    fn from(f: FolderRow) -> Self {
        Self {
            id: f.id,
            parent_id: f.parent_id,
            name: f.name,
            document_count: f.document_count,
            created_at: f.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderInputDto {
    /// 1 to 128 characters, unique among its siblings.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// Inside this folder (one of yours); absent or null: at the top.
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderPatchDto {
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
    /// Move it inside this folder; `null`: to the top.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// What becomes of a non-empty folder's documents and subfolders: `move_to_parent`, or
    /// `delete` (they are deleted and their storage given back). Without it a non-empty folder
    /// is not deleted (409 `folder_not_empty`).
    #[param(pattern = "^(move_to_parent|delete)$")]
    pub contents: Option<String>,
}

/// Your folders (the whole tree, as a flat list: each names its parent).
#[utoipa::path(get, path = "/api/folders", tag = "folders",
    responses((status = 200, body = Vec<FolderDto>)))]
async fn list(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<Vec<FolderDto>>, ApiError> {
    let rows = state.vault.folders(caller.id).await?;
    Ok(Json(rows.into_iter().map(FolderDto::from).collect()))
}

/// Make a folder, at the top or inside another.
#[utoipa::path(post, path = "/api/folders", tag = "folders", request_body = FolderInputDto,
    responses(
        (status = 201, body = FolderDto),
        (status = 404, description = "no folder of yours by `parent_id`", body = ErrorBody),
        (status = 409, description = "the name is taken there (`folder_name_taken`), or folders would nest deeper than 32 (`folder_too_deep`)", body = ErrorBody),
        (status = 422, description = "an empty or over-long name (`invalid_folder_name`)", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Json(body): Json<FolderInputDto>,
) -> Result<(StatusCode, Json<FolderDto>), ApiError> {
    let row = state
        .vault
        .create_folder(caller.id, &body.name, body.parent_id)
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Rename a folder or move it (with everything in it).
#[utoipa::path(patch, path = "/api/folders/{id}", tag = "folders", params(("id" = Uuid, Path)),
    request_body = FolderPatchDto,
    responses(
        (status = 200, body = FolderDto),
        (status = 404, body = ErrorBody),
        (status = 409, description = "into itself or its own subfolder (`folder_cycle`), a taken name (`folder_name_taken`), too deep (`folder_too_deep`)", body = ErrorBody),
        (status = 422, description = "an empty or over-long name (`invalid_folder_name`)", body = ErrorBody),
    ))]
async fn update(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<FolderPatchDto>,
) -> Result<Json<FolderDto>, ApiError> {
    let row = state
        .vault
        .update_folder(
            caller.id,
            id,
            FolderChanges {
                name: body.name,
                parent: body.parent_id,
            },
        )
        .await?;
    Ok(Json(row.into()))
}

/// Delete a folder.
#[utoipa::path(delete, path = "/api/folders/{id}", tag = "folders",
    params(("id" = Uuid, Path), DeleteParams),
    responses(
        (status = 204),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not empty and no `contents` given (`folder_not_empty`), or a moved subfolder's name is taken in the parent (`folder_name_taken`)", body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    let contents = match p.contents.as_deref() {
        None => Contents::MustBeEmpty,
        Some("move_to_parent") => Contents::MoveToParent,
        Some("delete") => Contents::Delete,
        Some(_) => {
            return Err(ApiError::new(
                "invalid_contents",
                "contents is `move_to_parent` or `delete`",
            ));
        }
    };
    state.vault.delete_folder(caller.id, id, contents).await?;
    Ok(StatusCode::NO_CONTENT)
}
