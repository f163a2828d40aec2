//! `/api/me/tokens`: API tokens for scripts and scanners. Managed only from a sign-in (a token
//! cannot mint or list tokens); the secret is in the answer to its creation and nowhere else.

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
use docuvault_core::db::api_tokens::ApiTokenRow;
use docuvault_core::services::api_tokens::is_live;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInputDto {
    /// What the token is for, e.g. "scanner in the hall".
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `upload` (send documents in only), `read` (read only) or `full` (everything but account
    /// security and administration).
    #[schema(pattern = "^(upload|read|full)$")]
    pub scope: String,
    /// Days until it stops working (1 to 3650); left out, it works until revoked.
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    pub id: Uuid,
    pub name: String,
    pub scope: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Not revoked and not expired.
    pub live: bool,
}

impl From<ApiTokenRow> for TokenDto {
    fn from(r: ApiTokenRow) -> Self {
        Self {
            live: is_live(&r, Utc::now()),
            id: r.id,
            name: r.name,
            scope: r.scope,
            prefix: r.prefix,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenDto {
    /// The secret: send it as `Authorization: Bearer <token>`. Shown this once; only its hash
    /// is kept.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenDto,
}

/// The signed-in user's API tokens, newest first, revoked and expired ones included.
#[utoipa::path(get, path = "/api/me/tokens", tag = "me",
    responses((status = 200, body = Vec<TokenDto>), (status = 401, body = ErrorBody),
              (status = 403, description = "called with an API token", body = ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<Vec<TokenDto>>, ApiError> {
    let rows = state.vault.api_tokens(&caller).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// A new API token. The answer holds the secret, once.
#[utoipa::path(post, path = "/api/me/tokens", tag = "me", request_body = TokenInputDto,
    responses((status = 201, body = CreatedTokenDto), (status = 401, body = ErrorBody),
              (status = 403, description = "called with an API token", body = ErrorBody),
              (status = 409, description = "too many live tokens", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Json(input): Json<TokenInputDto>,
) -> Result<(StatusCode, Json<CreatedTokenDto>), ApiError> {
    let created = state
        .vault
        .create_api_token(
            &caller,
            &input.name,
            &input.scope,
            // Out of range becomes 0, which the service refuses with `invalid_token_expiry`.
            input.expires_in_days.map(|d| u32::try_from(d).unwrap_or(0)),
            &meta,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenDto {
            token: created.token,
            info: created.row.into(),
        }),
    ))
}

/// Revoke a token: it stops working at once.
#[utoipa::path(delete, path = "/api/me/tokens/{id}", tag = "me", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, description = "called with an API token", body = ErrorBody),
              (status = 404, description = "no live token of yours by that id", body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.vault.revoke_api_token(&caller, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
