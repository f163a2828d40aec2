//! `/api/settings`: the AI provider, model and endpoint. The API key is write-only: it can be
//! set, replaced or removed, and the answer only says whether one is set.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use docuvault_core::services::settings::AiSettingsView;
use docuvault_domain::AiSettingsUpdate;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, put_settings))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsDto {
    /// `local` (default, no network), `openai` (any OpenAI-compatible API) or `anthropic`.
    pub provider: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Whether an API key is stored. The key itself is never returned.
    pub api_key_set: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<AiSettingsView> for SettingsDto {
    fn from(v: AiSettingsView) -> Self {
        Self {
            provider: v.provider,
            model: v.model,
            base_url: v.base_url,
            api_key_set: v.api_key_set,
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

/// The AI settings (never the API key).
#[utoipa::path(get, path = "/api/settings", tag = "settings", responses((status = 200, body = SettingsDto)))]
async fn get_settings(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<SettingsDto>, ApiError> {
    Ok(Json(state.vault.ai_settings(caller.id).await?.into()))
}

/// Replace the AI settings.
#[utoipa::path(
    put, path = "/api/settings", tag = "settings", request_body = SettingsUpdateDto,
    responses((status = 200, body = SettingsDto), (status = 422, body = ErrorBody))
)]
async fn put_settings(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
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
            .update_ai_settings(&caller, update)
            .await?
            .into(),
    ))
}
