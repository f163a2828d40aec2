//! `/api/admin`: account management and the audit log, for admins only. There is deliberately
//! no route that reads a user's documents or issues a token for another user.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query};
use docuvault_core::db::audit::AuditRow;
use docuvault_core::db::users::AdminUserRow;
use docuvault_core::services::admin::UserChanges;
use docuvault_domain::Role;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(update_user))
        .routes(routes!(audit_log))
}

const MAX_PAGE: i64 = 200;

fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit.unwrap_or(50) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(ApiError::new(
            "invalid_limit",
            format!("limit must be 1 to {MAX_PAGE}"),
        )),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserDto {
    pub id: Uuid,
    pub handle: String,
    pub email: String,
    pub role: String,
    pub is_active: bool,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub quota_limit_bytes: Option<i64>,
    pub quota_used_bytes: Option<i64>,
}

impl From<AdminUserRow> for AdminUserDto {
    fn from(u: AdminUserRow) -> Self {
        Self {
            id: u.id,
            handle: u.handle,
            email: u.email,
            role: u.role,
            is_active: u.is_active,
            totp_enabled: u.totp_enabled,
            created_at: u.created_at,
            quota_limit_bytes: u.quota_limit_bytes,
            quota_used_bytes: u.quota_used_bytes,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserPage {
    /// The last handle of the previous page.
    pub after: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Every account, by handle.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", params(UserPage),
    responses((status = 200, body = Vec<AdminUserDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(page): Query<UserPage>,
) -> Result<Json<Vec<AdminUserDto>>, ApiError> {
    let limit = page_limit(page.limit)?;
    let rows = state
        .vault
        .admin_list_users(&caller, page.after.as_deref(), limit)
        .await?;
    Ok(Json(rows.into_iter().map(AdminUserDto::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChangesDto {
    pub is_active: Option<bool>,
    /// `user` or `admin`.
    #[schema(pattern = "^(user|admin)$")]
    pub role: Option<String>,
    /// `true` turns the user's two-factor sign-in off (they enrol again).
    #[serde(default)]
    pub reset_totp: bool,
    /// The user's storage limit in bytes.
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    #[schema(minimum = 0)]
    pub quota_bytes: Option<i64>,
}

/// Deactivate or reactivate an account, reset its TOTP, change its role or quota.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin",
    params(("id" = Uuid, Path)), request_body = UserChangesDto,
    responses((status = 200, body = AdminUserDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "would leave no active admin", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Meta(meta): Meta,
    Path(id): Path<Uuid>,
    Json(body): Json<UserChangesDto>,
) -> Result<Json<AdminUserDto>, ApiError> {
    let changes = UserChanges {
        is_active: body.is_active,
        role: body.role.as_deref().map(Role::parse).transpose()?,
        reset_totp: body.reset_totp,
        quota_bytes: body.quota_bytes,
    };
    let row = state
        .vault
        .admin_update_user(&caller, id, changes, &meta)
        .await?;
    Ok(Json(row.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryDto {
    pub id: i64,
    pub event_type: String,
    /// The account the event is about.
    pub user_id: Option<Uuid>,
    /// Who acted (absent for anonymous attempts).
    pub actor_id: Option<Uuid>,
    pub ip_address: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEntryDto {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            event_type: r.event_type,
            user_id: r.user_id,
            actor_id: r.actor_id,
            ip_address: r.ip_address,
            metadata: r.metadata,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub user_id: Option<Uuid>,
    pub event_type: Option<String>,
    /// The last id of the previous page.
    pub before: Option<i64>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Security events, newest first.
#[utoipa::path(get, path = "/api/admin/audit-log", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntryDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn audit_log(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntryDto>>, ApiError> {
    let limit = page_limit(q.limit)?;
    let rows = state
        .vault
        .admin_audit_log(&caller, q.user_id, q.event_type.as_deref(), q.before, limit)
        .await?;
    Ok(Json(rows.into_iter().map(AuditEntryDto::from).collect()))
}
