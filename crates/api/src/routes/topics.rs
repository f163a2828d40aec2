//! `/api/topics`: the user's own topics (name unique per user, description, `#rrggbb` colour).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path};
use docuvault_core::db::topics::TopicRow;
use docuvault_core::services::topics::TopicInput;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicDto {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub color: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TopicRow> for TopicDto {
    fn from(t: TopicRow) -> Self {
        Self {
            id: t.id,
            name: t.name,
            description: t.description,
            color: t.color,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A topic as written by the client. PUT replaces all fields: an omitted description becomes
/// empty and an omitted colour the default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicInputDto {
    /// 1 to 64 characters (after trimming; no control characters), unique per user
    /// (case-insensitive).
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// What belongs in this topic; the classifier reads it. At most 2000 characters.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// `#rrggbb`; default `#6366f1`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub color: Option<String>,
}

impl From<TopicInputDto> for TopicInput {
    fn from(t: TopicInputDto) -> Self {
        Self {
            name: t.name,
            description: t.description,
            color: t.color,
        }
    }
}

/// All topics, by name.
#[utoipa::path(get, path = "/api/topics", tag = "topics", responses((status = 200, body = Vec<TopicDto>)))]
async fn list(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<Vec<TopicDto>>, ApiError> {
    let topics = state.vault.list_topics(caller.id).await?;
    Ok(Json(topics.into_iter().map(TopicDto::from).collect()))
}

/// Create a topic.
#[utoipa::path(
    post, path = "/api/topics", tag = "topics", request_body = TopicInputDto,
    responses(
        (status = 201, body = TopicDto),
        (status = 409, description = "name taken", body = ErrorBody),
        (status = 422, description = "invalid name, description or colour", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Json(input): Json<TopicInputDto>,
) -> Result<(StatusCode, Json<TopicDto>), ApiError> {
    let topic = state.vault.create_topic(caller.id, &input.into()).await?;
    Ok((StatusCode::CREATED, Json(topic.into())))
}

/// Replace a topic's fields.
#[utoipa::path(
    put, path = "/api/topics/{id}", tag = "topics", params(("id" = Uuid, Path)), request_body = TopicInputDto,
    responses(
        (status = 200, body = TopicDto),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn update(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
    Json(input): Json<TopicInputDto>,
) -> Result<Json<TopicDto>, ApiError> {
    let topic = state
        .vault
        .update_topic(caller.id, id, &input.into())
        .await?;
    Ok(Json(topic.into()))
}

/// Delete a topic; documents lose it.
#[utoipa::path(
    delete, path = "/api/topics/{id}", tag = "topics", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
async fn delete(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.vault.delete_topic(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
