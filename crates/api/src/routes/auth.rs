//! `/api/auth`: register, log in, refresh, log out, sign out everywhere, password reset.
//! The access token is returned in the body (the web app keeps it in memory only); the
//! refresh token travels only in its `HttpOnly; SameSite=Strict` cookie.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::{AuthUser, Meta, REFRESH_COOKIE, cookie, csrf_header, set_session_cookies};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::routes::me::UserDto;
use docuvault_core::Error;
use docuvault_core::services::accounts::{LoginOutcome, SignIn};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(reset_request))
        .routes(routes!(reset_confirm))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDto {
    /// 3 to 32 of a-z, 0-9, '.', '_', '-', starting with a letter or digit (upper case is
    /// folded; surrounding white space is trimmed).
    #[schema(pattern = "^\\s*[A-Za-z0-9][A-Za-z0-9._-]{2,31}\\s*$")]
    pub handle: String,
    #[schema(max_length = 254)]
    pub email: String,
    /// At least 10 characters and at most 256 bytes; not a common password, the handle or the
    /// email's local part.
    #[schema(min_length = 10, max_length = 256)]
    pub password: String,
}

/// Create an account.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth", request_body = RegisterDto,
    responses(
        (status = 201, body = UserDto),
        (status = 403, description = "registration closed", body = ErrorBody),
        (status = 409, description = "handle or email taken", body = ErrorBody),
        (status = 422, description = "invalid handle, email or weak password", body = ErrorBody),
        (status = 429, body = ErrorBody),
    )
)]
async fn register(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<RegisterDto>,
) -> Result<(StatusCode, Json<UserDto>), ApiError> {
    let user = state
        .vault
        .register(&body.handle, &body.email, &body.password, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginDto {
    /// Handle or email.
    pub login: String,
    pub password: String,
    /// The 6-digit code, or a recovery code, when two-factor sign-in is on.
    pub totp_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignInDto {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires; refresh before then.
    pub expires_in: u64,
    /// Send as `X-CSRF-Token` to refresh and logout (also in the `docuvault_csrf` cookie).
    pub csrf_token: String,
    pub user: UserDto,
    /// Set once after a security event (a copied sign-in token was detected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_notice: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpRequiredDto {
    pub totp_required: bool,
}

fn signed_in(state: &AppState, s: SignIn) -> Response {
    let csrf = state.vault.tokens.csrf_token(s.family_id);
    let body = SignInDto {
        access_token: s.access_token,
        token_type: "Bearer",
        expires_in: s.expires_in,
        csrf_token: csrf.clone(),
        user: s.user.into(),
        security_notice: s.security_notice,
    };
    let mut resp = Json(body).into_response();
    set_session_cookies(&mut resp, state, Some((&s.refresh_token, &csrf)));
    resp
}

/// Log in with handle or email and password (and a TOTP code once enrolled).
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth", request_body = LoginDto,
    responses(
        (status = 200, description = "signed in; sets the refresh and CSRF cookies", body = SignInDto),
        (status = 200, description = "password right; send it again with a TOTP code", body = TotpRequiredDto),
        (status = 401, description = "wrong login, password or code", body = ErrorBody),
        (status = 429, body = ErrorBody),
    )
)]
async fn login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<LoginDto>,
) -> Result<Response, ApiError> {
    let outcome = state
        .vault
        .login(
            &body.login,
            &body.password,
            body.totp_code.as_deref(),
            &meta,
        )
        .await?;
    Ok(match outcome {
        LoginOutcome::SignedIn(s) => signed_in(&state, *s),
        LoginOutcome::TotpRequired => Json(TotpRequiredDto {
            totp_required: true,
        })
        .into_response(),
    })
}

/// Trade the refresh cookie for a new access token; the refresh token rotates. A reused
/// (already rotated) token ends the whole sign-in.
#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    params(("X-CSRF-Token" = String, Header, description = "the csrf_token of the sign-in")),
    responses(
        (status = 200, body = SignInDto),
        (status = 401, body = ErrorBody),
        (status = 403, description = "missing or wrong CSRF token", body = ErrorBody),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(token) = cookie(&headers, REFRESH_COOKIE) else {
        return Err(Error::unauthorized(
            "invalid_refresh_token",
            "no sign-in cookie; sign in again",
        )
        .into());
    };
    let s = state
        .vault
        .refresh(token, csrf_header(&headers), &meta)
        .await?;
    Ok(signed_in(&state, s))
}

/// End this sign-in (its refresh-token family) and clear the cookies.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    params(("X-CSRF-Token" = String, Header, description = "the csrf_token of the sign-in")),
    responses((status = 204), (status = 403, body = ErrorBody))
)]
async fn logout(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .vault
        .logout(
            cookie(&headers, REFRESH_COOKIE),
            csrf_header(&headers),
            &meta,
        )
        .await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set_session_cookies(&mut resp, &state, None);
    Ok(resp)
}

/// Sign out everywhere: every sign-in ends and every access token stops working.
#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody))
)]
async fn logout_all(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
) -> Result<Response, ApiError> {
    state.vault.logout_all(&caller, &meta).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set_session_cookies(&mut resp, &state, None);
    Ok(resp)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestDto {
    pub email: String,
}

/// Email a password-reset link. Answers the same whether or not the address has an account.
#[utoipa::path(
    post, path = "/api/auth/password-reset/request", tag = "auth", request_body = ResetRequestDto,
    responses((status = 202), (status = 429, body = ErrorBody))
)]
async fn reset_request(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<ResetRequestDto>,
) -> Result<StatusCode, ApiError> {
    state
        .vault
        .request_password_reset(&body.email, &meta)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmDto {
    /// The token from the emailed link.
    pub token: String,
    pub new_password: String,
}

/// Set a new password with an emailed token (single use, 30 minutes); ends every sign-in.
#[utoipa::path(
    post, path = "/api/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmDto,
    responses(
        (status = 204),
        (status = 400, description = "invalid, used or expired token", body = ErrorBody),
        (status = 422, description = "weak password", body = ErrorBody),
        (status = 429, body = ErrorBody),
    )
)]
async fn reset_confirm(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<ResetConfirmDto>,
) -> Result<StatusCode, ApiError> {
    state
        .vault
        .confirm_password_reset(&body.token, &body.new_password, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
