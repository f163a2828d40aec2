//! Queries on `users` (and the `quotas` row every user has). State changes that must not race
//! — a TOTP step accepted once, a recovery code used once — are single conditional UPDATEs.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;
use crate::error::{Error, violated_constraint};

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub handle: String,
    pub email: String,
    pub password_hash: String,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub role: String,
    pub is_active: bool,
    pub token_version: i32,
    pub totp_last_step: Option<i64>,
    pub recovery_codes_left: i32,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, handle, email, password_hash, totp_secret, totp_enabled, role, is_active, \
     token_version, totp_last_step, cardinality(recovery_codes) AS recovery_codes_left, created_at";

/// What the bearer-token check needs, in one primary-key probe.
#[derive(Debug, Clone, FromRow)]
pub struct AuthState {
    pub handle: String,
    pub role: String,
    pub is_active: bool,
    pub token_version: i32,
}

pub async fn auth_state(pool: &PgPool, id: Uuid) -> Result<Option<AuthState>> {
    Ok(
        sqlx::query_as("SELECT handle, role, is_active, token_version FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// By handle or email, either case.
pub async fn find_by_login(pool: &PgPool, login: &str) -> Result<Option<UserRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE lower(handle) = lower($1) OR lower(email) = lower($1) LIMIT 1"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(login.trim())
        .fetch_optional(pool)
        .await?)
}

pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE lower(email) = lower($1)");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(pool)
        .await?)
}

/// Creates the user and their quota row (`quota_bytes`) in one statement; `ai_self_service`:
/// whether they may choose their own AI provider.
pub async fn create(
    db: impl PgExecutor<'_>,
    handle: &str,
    email: &str,
    password_hash: &str,
    role: &str,
    quota_bytes: i64,
    ai_self_service: bool,
) -> Result<UserRow> {
    let sql = format!(
        "WITH u AS (
             INSERT INTO users (handle, email, password_hash, role, ai_self_service)
             VALUES ($1, $2, $3, $4, $6)
             RETURNING {COLUMNS}
         ), q AS (INSERT INTO quotas (user_id, limit_bytes) SELECT id, $5 FROM u)
         SELECT * FROM u"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(handle)
        .bind(email)
        .bind(password_hash)
        .bind(role)
        .bind(quota_bytes)
        .bind(ai_self_service)
        .fetch_one(db)
        .await
        .map_err(|e| match violated_constraint(&e) {
            Some("users_handle_key" | "users_handle_lower_key") => Error::Conflict {
                code: "handle_taken",
                message: "this handle is taken".into(),
            },
            Some("users_email_key" | "users_email_lower_key") => Error::Conflict {
                code: "email_taken",
                message: "an account with this email exists".into(),
            },
            _ => e.into(),
        })
}

/// Sets a new password and ends every access token issued before.
pub async fn set_password(db: impl PgExecutor<'_>, id: Uuid, hash: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $2, token_version = token_version + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(hash)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// "Sign out everywhere" for access tokens: every token issued before carries an older version.
pub async fn bump_token_version(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Stores a new, not yet active, TOTP secret (sealed), replacing an unfinished enrolment.
pub async fn set_pending_totp(pool: &PgPool, id: Uuid, sealed: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET totp_secret = $2, totp_last_step = NULL
          WHERE id = $1 AND NOT totp_enabled",
    )
    .bind(id)
    .bind(sealed)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns TOTP on with the step of the first valid code and the recovery-code hashes.
pub async fn enable_totp(pool: &PgPool, id: Uuid, step: i64, recovery: &[String]) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET totp_enabled = true, totp_last_step = $2, recovery_codes = $3
          WHERE id = $1 AND NOT totp_enabled AND totp_secret IS NOT NULL",
    )
    .bind(id)
    .bind(step)
    .bind(recovery)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Accepts `step` only if it is later than the last accepted one (across all API processes).
pub async fn accept_totp_step(pool: &PgPool, id: Uuid, step: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET totp_last_step = $2
          WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses up a recovery code; false if it is not (or no longer) one of the user's.
pub async fn use_recovery_code(pool: &PgPool, id: Uuid, hash: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET recovery_codes = array_remove(recovery_codes, $2)
          WHERE id = $1 AND $2 = ANY (recovery_codes)",
    )
    .bind(id)
    .bind(hash)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn disable_totp(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET totp_enabled = false, totp_secret = NULL, totp_last_step = NULL,
                recovery_codes = '{}'
          WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_security_notice(db: impl PgExecutor<'_>, id: Uuid, notice: &str) -> Result<()> {
    sqlx::query("UPDATE users SET security_notice = $2 WHERE id = $1")
        .bind(id)
        .bind(notice)
        .execute(db)
        .await?;
    Ok(())
}

/// Reads and clears the notice in one statement (the joined row is the state before).
pub async fn take_security_notice(pool: &PgPool, id: Uuid) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "UPDATE users u SET security_notice = NULL
           FROM users before
          WHERE u.id = $1 AND before.id = u.id AND before.security_notice IS NOT NULL
      RETURNING before.security_notice",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// A user as an admin sees them: account state and quota, nothing of their content.
#[derive(Debug, Clone, FromRow)]
pub struct AdminUserRow {
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

const ADMIN_COLUMNS: &str = "u.id, u.handle, u.email, u.role, u.is_active, u.totp_enabled, u.created_at, \
     q.limit_bytes AS quota_limit_bytes, q.used_bytes AS quota_used_bytes";

/// By handle; `after` is the last handle of the previous page.
pub async fn admin_list(
    pool: &PgPool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AdminUserRow>> {
    let sql = format!(
        "SELECT {ADMIN_COLUMNS} FROM users u LEFT JOIN quotas q ON q.user_id = u.id
          WHERE ($1::text IS NULL OR u.handle > $1) ORDER BY u.handle LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

pub async fn admin_get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<AdminUserRow>> {
    let sql = format!(
        "SELECT {ADMIN_COLUMNS} FROM users u LEFT JOIN quotas q ON q.user_id = u.id WHERE u.id = $1"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// Activates or deactivates; deactivating also ends every access token.
pub async fn set_active(db: impl PgExecutor<'_>, id: Uuid, active: bool) -> Result<()> {
    sqlx::query(
        "UPDATE users SET is_active = $2,
                token_version = token_version + CASE WHEN $2 THEN 0 ELSE 1 END
          WHERE id = $1",
    )
    .bind(id)
    .bind(active)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the user may choose their own AI provider (`None`: no such user).
pub async fn ai_self_service(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<bool>> {
    Ok(
        sqlx::query_scalar("SELECT ai_self_service FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

pub async fn set_ai_self_service(db: impl PgExecutor<'_>, id: Uuid, allowed: bool) -> Result<()> {
    sqlx::query("UPDATE users SET ai_self_service = $2 WHERE id = $1")
        .bind(id)
        .bind(allowed)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_role(db: impl PgExecutor<'_>, id: Uuid, role: &str) -> Result<()> {
    sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_quota(db: impl PgExecutor<'_>, id: Uuid, limit_bytes: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO quotas (user_id, limit_bytes) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET limit_bytes = EXCLUDED.limit_bytes",
    )
    .bind(id)
    .bind(limit_bytes)
    .execute(db)
    .await?;
    Ok(())
}

/// Serialises, until the transaction ends, every change that could leave no active admin
/// (a transaction-scoped advisory lock, so it is released even if the caller forgets).
pub async fn lock_admin_changes(db: impl PgExecutor<'_>) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('docuvault:admin-changes'))")
        .execute(db)
        .await?;
    Ok(())
}

pub async fn active_admins(db: impl PgExecutor<'_>) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND is_active")
            .fetch_one(db)
            .await?,
    )
}

pub async fn find_by_handle(pool: &PgPool, handle: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE lower(handle) = lower($1)");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(handle)
        .fetch_optional(pool)
        .await?)
}

/// Locks the user's row until the transaction ends, so one user's changes that check a count
/// (live API tokens) queue. `NO KEY UPDATE` lets rows that reference the user be written.
pub async fn lock_row(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
