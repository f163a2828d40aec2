//! `/api/cloud-connections/oauth/*`: connecting OneDrive or Google Drive by signing in there.
//! The app asks for the authorization URL and sends the browser to it; the provider sends the
//! browser back to the callback, which saves the connection and opens the Storage page.
//!
//! The callback carries no DocuVault session, so the `state` of a started sign-in is also kept
//! in a short-lived cookie of this browser (`SameSite=Lax`: it comes back with the provider's
//! top-level redirect), and the callback accepts only a `state` that matches it.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::sso::{failure, round_trip_cookie, see_other};
use crate::app::AppState;
use crate::auth::{AuthUser, Meta, cookie};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use docuvault_core::services::cloud_oauth::PENDING_TTL;

const STATE_COOKIE: &str = "docuvault_cloud_oauth";
const COOKIE_PATH: &str = "/api/cloud-connections/oauth";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(providers))
        .routes(routes!(start))
        .routes(routes!(callback))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthProviderDto {
    /// `onedrive` or `gdrive`.
    pub provider: String,
    /// Its name for the button ("Connect …").
    pub name: String,
}

/// The providers you can connect by signing in there (those the operator set up).
#[utoipa::path(get, path = "/api/cloud-connections/oauth/providers", tag = "storage",
    responses((status = 200, body = Vec<OAuthProviderDto>), (status = 401, body = ErrorBody)))]
async fn providers(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
) -> Json<Vec<OAuthProviderDto>> {
    Json(
        state
            .vault
            .cloud_oauth_providers()
            .into_iter()
            .map(|p| OAuthProviderDto {
                provider: p.as_str().to_owned(),
                name: p.label().to_owned(),
            })
            .collect(),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthStartDto {
    #[schema(pattern = "^(onedrive|gdrive)$")]
    pub provider: String,
    /// The connection's name (the provider's name when left out).
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    /// Sign in again to this connection (one in `error`), keeping its documents.
    pub connection_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthStartedDto {
    /// Send the browser here; it comes back to the callback.
    pub authorization_url: String,
}

fn state_cookie(state: &AppState, value: &str, max_age: u64) -> Option<HeaderValue> {
    round_trip_cookie(state, STATE_COOKIE, COOKIE_PATH, value, max_age)
}

/// Start connecting OneDrive or Google Drive: the URL to send the browser to (sets the
/// sign-in's state cookie, which the callback checks).
#[utoipa::path(post, path = "/api/cloud-connections/oauth/start", tag = "storage",
    request_body = OAuthStartDto,
    responses((status = 200, body = OAuthStartedDto), (status = 401, body = ErrorBody),
              (status = 404, description = "no such connection to sign in again to", body = ErrorBody),
              (status = 409, description = "too many connections", body = ErrorBody),
              (status = 422, description = "unknown provider, or not set up on this server", body = ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Json(input): Json<OAuthStartDto>,
) -> Result<Response, ApiError> {
    let started = state
        .vault
        .cloud_oauth_start(
            caller.id,
            &input.provider,
            input.display_name.as_deref(),
            input.connection_id,
        )
        .await?;
    let mut resp = Json(OAuthStartedDto {
        authorization_url: started.url.to_string(),
    })
    .into_response();
    if let Some(c) = state_cookie(&state, &started.state, PENDING_TTL.as_secs()) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the person did not let DocuVault in (e.g. `access_denied`).
    pub error: Option<String>,
}

/// Where the provider sends the browser back: saves the connection and opens the Storage page
/// (`/storage?connected=<id>`). A failure answers JSON to API clients and, for a browser
/// (`Accept: text/html`), opens the Storage page with `?cloud_error=<code>`.
#[utoipa::path(get, path = "/api/cloud-connections/oauth/callback", tag = "storage",
    params(CallbackParams),
    responses(
        (status = 303, description = "connected, and sent to the Storage page; or, for a browser, sent there with the error's code"),
        (status = 400, description = "expired, used or foreign state; no code; the provider refused", body = ErrorBody),
        (status = 403, description = "the account was deactivated meanwhile", body = ErrorBody),
        (status = 409, description = "signed in as another account than the connection's", body = ErrorBody),
        (status = 422, description = "the drive did not answer with the new tokens", body = ErrorBody),
        (status = 503, description = "the provider cannot be reached", body = ErrorBody),
    )
)]
async fn callback(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Response {
    let done = state
        .vault
        .cloud_oauth_finish(
            p.state.as_deref(),
            cookie(&headers, STATE_COOKIE),
            p.code.as_deref(),
            p.error.as_deref(),
            meta.ip,
        )
        .await;
    let mut resp = match done {
        Ok(row) => see_other(&format!("/storage?connected={}", row.id)),
        Err(e) => failure(&headers, e, "/storage?cloud_error=").await,
    };
    // The state is used up either way.
    if let Some(c) = state_cookie(&state, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}
