//! `/api/auth/methods` and single sign-on (`/api/auth/oidc/*`): the sign-in page asks which ways
//! to sign in this server offers; the browser is sent to the OpenID Connect provider and comes
//! back to the callback, which sets the same session cookies as a password sign-in and opens the
//! app, where the page trades the refresh cookie for an access token as after any reload.
//!
//! The `state` of a started sign-in is also kept in a short-lived cookie of this browser
//! (`SameSite=Lax`, so it comes back with the provider's top-level redirect), and the callback
//! accepts only a `state` that matches it: a link carrying a code the attacker got for their
//! own account cannot sign a victim's browser in to it.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::{Meta, cookie, set_session_cookies};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use docuvault_core::services::sso::PENDING_TTL;

const STATE_COOKIE: &str = "docuvault_sso";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(methods))
        .routes(routes!(sso_start))
        .routes(routes!(sso_callback))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignInMethodsDto {
    /// Handle-or-email and password sign-in (with TOTP when enrolled).
    pub password: bool,
    /// Whether anyone may create an account with a password.
    pub registration: bool,
    /// Single sign-on, when set up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoMethodDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SsoMethodDto {
    /// The provider's name for the button ("Sign in with …").
    pub name: String,
    /// Where the button goes (add `?return_to=/path` to come back to a page).
    pub start_url: String,
}

/// How people can sign in here.
#[utoipa::path(
    get, path = "/api/auth/methods", tag = "auth",
    responses((status = 200, body = SignInMethodsDto))
)]
async fn methods(State(state): State<AppState>) -> Json<SignInMethodsDto> {
    let auth = &state.vault.auth;
    Json(SignInMethodsDto {
        password: auth.password_login,
        registration: auth.password_login && auth.allow_registration,
        sso: auth.oidc.as_ref().map(|o| SsoMethodDto {
            name: o.display_name.clone(),
            start_url: "/api/auth/oidc/start".to_owned(),
        }),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartParams {
    /// The app page to open after signing in (a path on this site; anything else opens `/`).
    #[param(max_length = 512)]
    pub return_to: Option<String>,
}

fn state_cookie(state: &AppState, value: &str, max_age: u64) -> Option<HeaderValue> {
    round_trip_cookie(state, STATE_COOKIE, "/api/auth/oidc", value, max_age)
}

/// The cookie that binds a provider round trip's `state` to this browser: `HttpOnly`,
/// `SameSite=Lax` (it comes back with the provider's top-level redirect), limited to `path`.
pub(crate) fn round_trip_cookie(
    state: &AppState,
    name: &str,
    path: &str,
    value: &str,
    max_age: u64,
) -> Option<HeaderValue> {
    let secure = if state.vault.auth.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly{secure}; SameSite=Lax; Path={path}; Max-Age={max_age}"
    ))
    .ok()
}

pub(crate) fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Start single sign-on: sends the browser to the identity provider.
#[utoipa::path(
    get, path = "/api/auth/oidc/start", tag = "auth", params(StartParams),
    responses(
        (status = 303, description = "to the identity provider; sets the sign-in's state cookie"),
        (status = 403, description = "single sign-on is not set up", body = ErrorBody),
        (status = 429, body = ErrorBody),
    )
)]
async fn sso_start(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Query(params): Query<StartParams>,
) -> Result<Response, ApiError> {
    let started = state
        .vault
        .sso_start(params.return_to.as_deref(), &meta)
        .await?;
    let mut resp = see_other(started.url.as_str());
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
    /// Set by the provider when it did not sign the person in (e.g. `access_denied`). Other
    /// parameters (`iss`, `session_state`, `error_description`) are ignored: the tokens are
    /// checked against the configured issuer.
    pub error: Option<String>,
}

/// Where the identity provider sends the browser back: signs in and opens the app. A failure
/// answers JSON to API clients and, for a browser (`Accept: text/html`), opens the sign-in
/// page with `?sso_error=<code>`.
#[utoipa::path(
    get, path = "/api/auth/oidc/callback", tag = "auth", params(CallbackParams),
    responses(
        (status = 303, description = "signed in (sets the refresh and CSRF cookies) and sent to the app, or, for a browser, to the sign-in page with the error's code"),
        (status = 400, description = "expired, used or foreign state; no code", body = ErrorBody),
        (status = 401, description = "the provider refused, or its tokens failed verification", body = ErrorBody),
        (status = 403, description = "no account matches, the email is unverified, the account is deactivated, or single sign-on is not set up", body = ErrorBody),
    )
)]
async fn sso_callback(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Response {
    let done = state
        .vault
        .sso_finish(
            p.state.as_deref(),
            cookie(&headers, STATE_COOKIE),
            p.code.as_deref(),
            p.error.as_deref(),
            &meta,
        )
        .await;
    let mut resp = match done {
        Ok(done) => {
            let csrf = state.vault.tokens.csrf_token(done.sign_in.family_id);
            let mut resp = see_other(&done.return_to);
            set_session_cookies(
                &mut resp,
                &state,
                Some((&done.sign_in.refresh_token, &csrf)),
            );
            resp
        }
        Err(e) => failure(&headers, e, "/sign-in?sso_error=").await,
    };
    // The state is used up either way.
    if let Some(c) = state_cookie(&state, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// A provider's way back that failed: a browser (`Accept: text/html`) is sent to the app page
/// `page` with the error's code appended; an API client gets the JSON error.
pub(crate) async fn failure(headers: &HeaderMap, e: docuvault_core::Error, page: &str) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let error = ApiError(e).into_response();
    if browser {
        let code = error_code(error).await;
        see_other(&format!("{page}{code}"))
    } else {
        error
    }
}

/// The `code` of an error answer (snake_case, safe in a URL).
async fn error_code(resp: Response) -> String {
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .filter(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'))
        .unwrap_or_else(|| "sso_failed".to_owned())
}
