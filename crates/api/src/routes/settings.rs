//! `/api/settings`: the AI provider, model and endpoint that classify the caller's documents;
//! `/api/admin/users/{id}/ai`: an admin assigns them per user and decides whether the user may
//! change them. The API key is write-only: it can be set, replaced or removed, and the answer
//! only says whether one is set.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::{AuthUser, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path};
use docuvault_core::services::settings::{AiAssignment, AiSettingsView};
use docuvault_domain::AiSettingsUpdate;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(get_assignment, put_assignment))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsDto {
    /// `local` (default, no network), `openai` (any OpenAI-compatible API) or `anthropic`.
    pub provider: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Whether an API key is stored. The key itself is never returned.
    pub api_key_set: bool,
    /// Who chose these settings: `default` (the instance's), `admin` (assigned to this user)
    /// or `user` (chosen by the user).
    pub source: String,
    /// Whether the user may change them (`PUT /api/settings`); admins always may.
    pub self_service: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<AiSettingsView> for SettingsDto {
    fn from(v: AiSettingsView) -> Self {
        Self {
            provider: v.provider,
            model: v.model,
            base_url: v.base_url,
            api_key_set: v.api_key_set,
            source: v.source.to_owned(),
            self_service: v.self_service,
            updated_at: v.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdateDto {
    /// `local`, `openai` or `anthropic`.
    #[schema(pattern = "^(local|openai|anthropic)$")]
    pub provider: String,
    /// At most 200 characters (after trimming).
    #[schema(max_length = 200)]
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Omit to keep the stored key; a string to replace it; null or "" to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit null (`Some(caller.id)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The AI settings that classify your documents (never the API key), and who chose them.
#[utoipa::path(get, path = "/api/settings", tag = "settings", responses((status = 200, body = SettingsDto)))]
async fn get_settings(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<SettingsDto>, ApiError> {
    Ok(Json(state.vault.ai_settings(&caller).await?.into()))
}

/// Choose the AI provider that classifies your documents (admins, and users an admin allowed).
#[utoipa::path(
    put, path = "/api/settings", tag = "settings", request_body = SettingsUpdateDto,
    responses((status = 200, body = SettingsDto),
        (status = 403, description = "an admin chooses this user's provider (`ai_settings_locked`)", body = ErrorBody),
        (status = 422, body = ErrorBody))
)]
async fn put_settings(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Json(body): Json<SettingsUpdateDto>,
) -> Result<Json<SettingsDto>, ApiError> {
    let update = AiSettingsUpdate::parse(
        &body.provider,
        body.model.as_deref(),
        body.base_url.as_deref(),
        body.api_key.as_ref().map(Option::as_deref),
    )?;
    Ok(Json(
        state
            .vault
            .update_ai_settings(&caller, update, &meta)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiAssignmentDto {
    /// `default` (the instance's default applies again; then leave out `model`, `base_url` and
    /// `api_key`), `local`, `openai` or `anthropic`.
    #[schema(pattern = "^(default|local|openai|anthropic)$")]
    pub provider: String,
    /// At most 200 characters (after trimming).
    #[schema(max_length = 200)]
    pub model: Option<String>,
    /// May be a private address (an admin's choice): Ollama on the LAN, say.
    pub base_url: Option<String>,
    /// Omit to keep the stored key; a string to replace it; null or "" to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<String>>,
    /// Whether the user may change their settings themself; omit to leave it as it is.
    pub self_service: Option<bool>,
}

/// A user's AI settings: what classifies their documents, and who chose it (admins only).
#[utoipa::path(get, path = "/api/admin/users/{id}/ai", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = SettingsDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_assignment(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<SettingsDto>, ApiError> {
    Ok(Json(
        state.vault.admin_ai_settings(&caller, id).await?.into(),
    ))
}

/// Assign the AI provider that classifies a user's documents, and whether they may change it
/// (admins only; audited).
#[utoipa::path(put, path = "/api/admin/users/{id}/ai", tag = "admin", params(("id" = Uuid, Path)),
    request_body = AiAssignmentDto,
    responses((status = 200, body = SettingsDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn put_assignment(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Path(id): Path<Uuid>,
    Json(body): Json<AiAssignmentDto>,
) -> Result<Json<SettingsDto>, ApiError> {
    let settings = match body.provider.as_str() {
        "default" if body.model.is_some() || body.base_url.is_some() || body.api_key.is_some() => {
            return Err(docuvault_domain::ValidationError::new(
                "invalid_assignment",
                "with provider default, leave out model, base_url and api_key: the instance's apply",
            )
            .into());
        }
        "default" => None,
        provider => Some(AiSettingsUpdate::parse(
            provider,
            body.model.as_deref(),
            body.base_url.as_deref(),
            body.api_key.as_ref().map(Option::as_deref),
        )?),
    };
    let assignment = AiAssignment {
        settings,
        self_service: body.self_service,
    };
    Ok(Json(
        state
            .vault
            .admin_assign_ai(&caller, id, assignment, &meta)
            .await?
            .into(),
    ))
}
