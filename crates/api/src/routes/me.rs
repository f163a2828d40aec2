//! `/api/me`: the signed-in user's account, sessions, password and two-factor sign-in.

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
use docuvault_core::services::accounts::UserView;
use docuvault_core::services::notify::NotificationSettings;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(sessions))
        .routes(routes!(end_session))
        .routes(routes!(quota))
        .routes(routes!(change_password))
        .routes(routes!(totp_enroll))
        .routes(routes!(totp_verify))
        .routes(routes!(totp_disable))
        .routes(routes!(notifications, set_notifications))
}

/// Which emails the user gets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsDto {
    /// A document of theirs could not be processed (default off).
    pub document_failed: bool,
    /// Someone shared a document with them (default off).
    pub document_shared: bool,
    /// A sign-in token of theirs was used twice: it was copied (default on).
    pub suspicious_sign_in: bool,
}

impl From<NotificationSettings> for NotificationsDto {
    fn from(s: NotificationSettings) -> Self {
        Self {
            document_failed: s.notify_document_failed,
            document_shared: s.notify_document_shared,
            suspicious_sign_in: s.notify_suspicious_sign_in,
        }
    }
}

/// The emails the signed-in user gets.
#[utoipa::path(get, path = "/api/me/notifications", tag = "me",
    responses((status = 200, body = NotificationsDto), (status = 401, body = ErrorBody)))]
async fn notifications(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<NotificationsDto>, ApiError> {
    Ok(Json(
        state.vault.notification_settings(caller.id).await?.into(),
    ))
}

/// Choose the emails the signed-in user gets.
#[utoipa::path(put, path = "/api/me/notifications", tag = "me", request_body = NotificationsDto,
    responses((status = 200, body = NotificationsDto), (status = 401, body = ErrorBody)))]
async fn set_notifications(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Json(input): Json<NotificationsDto>,
) -> Result<Json<NotificationsDto>, ApiError> {
    let saved = state
        .vault
        .set_notification_settings(
            caller.id,
            NotificationSettings {
                notify_document_failed: input.document_failed,
                notify_document_shared: input.document_shared,
                notify_suspicious_sign_in: input.suspicious_sign_in,
            },
        )
        .await?;
    Ok(Json(saved.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub handle: String,
    pub email: String,
    /// `user` or `admin`.
    pub role: String,
    pub is_active: bool,
    pub totp_enabled: bool,
    pub recovery_codes_left: i32,
    pub created_at: DateTime<Utc>,
    /// False for an account made by single sign-on: it has no password to change, and
    /// two-factor sign-in (which guards password sign-in) does not apply to it.
    pub password_set: bool,
}

impl From<UserView> for UserDto {
    fn from(u: UserView) -> Self {
        Self {
            id: u.id,
            handle: u.handle,
            email: u.email,
            role: u.role,
            is_active: u.is_active,
            totp_enabled: u.totp_enabled,
            recovery_codes_left: u.recovery_codes_left,
            created_at: u.created_at,
            password_set: u.password_set,
        }
    }
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/me", tag = "me",
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<UserDto>, ApiError> {
    Ok(Json(state.vault.me(&caller).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaDto {
    /// Bytes the user's documents take.
    pub used_bytes: i64,
    /// Bytes they may store (set by an admin; `QUOTA_DEFAULT_BYTES` for new accounts).
    pub limit_bytes: i64,
}

/// The signed-in user's storage: used and total.
#[utoipa::path(get, path = "/api/me/quota", tag = "me",
    responses((status = 200, body = QuotaDto), (status = 401, body = ErrorBody)))]
async fn quota(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<QuotaDto>, ApiError> {
    let q = state.vault.quota(caller.id).await?;
    Ok(Json(QuotaDto {
        used_bytes: q.used_bytes,
        limit_bytes: q.limit_bytes,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub id: Uuid,
    pub signed_in_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
}

/// The sign-ins that can still be refreshed, most recently used first.
#[utoipa::path(get, path = "/api/me/sessions", tag = "me",
    responses((status = 200, body = Vec<SessionDto>), (status = 401, body = ErrorBody)))]
async fn sessions(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<Vec<SessionDto>>, ApiError> {
    let rows = state.vault.sessions(&caller).await?;
    Ok(Json(
        rows.into_iter()
            .map(|s| SessionDto {
                id: s.family_id,
                signed_in_at: s.signed_in_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent,
                ip_address: s.ip_address,
            })
            .collect(),
    ))
}

/// End one sign-in (an `id` from `GET /api/me/sessions`): it can no longer refresh, so it ends
/// when its current access token expires (at most `ACCESS_TOKEN_TTL_SECS`).
#[utoipa::path(delete, path = "/api/me/sessions/{id}", tag = "me", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, description = "no live sign-in of yours by that id", body = ErrorBody)))]
async fn end_session(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.vault.end_session(&caller, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeDto {
    pub current_password: String,
    pub new_password: String,
}

/// Change the password; every sign-in (this one too) ends.
#[utoipa::path(post, path = "/api/me/password", tag = "me", request_body = PasswordChangeDto,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, description = "wrong current password", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Json(body): Json<PasswordChangeDto>,
) -> Result<StatusCode, ApiError> {
    state
        .vault
        .change_password(&caller, &body.current_password, &body.new_password, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolmentDto {
    /// For authenticator apps; also shown as the QR code.
    pub otpauth_uri: String,
    /// The base32 secret, for typing in by hand.
    pub secret: String,
    /// The QR code of `otpauth_uri` as an SVG document.
    pub qr_svg: String,
}

/// Start two-factor enrolment. It is active only after `/api/me/totp/verify`.
#[utoipa::path(post, path = "/api/me/totp/enroll", tag = "me",
    responses((status = 200, body = TotpEnrolmentDto), (status = 409, description = "already on", body = ErrorBody)))]
async fn totp_enroll(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<TotpEnrolmentDto>, ApiError> {
    let e = state.vault.totp_enroll(&caller).await?;
    Ok(Json(TotpEnrolmentDto {
        otpauth_uri: e.otpauth_uri,
        secret: e.secret,
        qr_svg: e.qr_svg,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCodeDto {
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesDto {
    /// Shown once: each works once instead of a TOTP code.
    pub recovery_codes: Vec<String>,
}

/// Turn two-factor sign-in on with the first code from the app.
#[utoipa::path(post, path = "/api/me/totp/verify", tag = "me", request_body = TotpCodeDto,
    responses((status = 200, body = RecoveryCodesDto), (status = 400, description = "wrong code", body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn totp_verify(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Json(body): Json<TotpCodeDto>,
) -> Result<Json<RecoveryCodesDto>, ApiError> {
    let recovery_codes = state.vault.totp_verify(&caller, &body.code, &meta).await?;
    Ok(Json(RecoveryCodesDto { recovery_codes }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpDisableDto {
    pub password: String,
    /// A current TOTP code or a recovery code.
    pub code: String,
}

/// Turn two-factor sign-in off (password and a code needed).
#[utoipa::path(post, path = "/api/me/totp/disable", tag = "me", request_body = TotpDisableDto,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn totp_disable(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Json(body): Json<TotpDisableDto>,
) -> Result<StatusCode, ApiError> {
    state
        .vault
        .totp_disable(&caller, &body.password, &body.code, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
