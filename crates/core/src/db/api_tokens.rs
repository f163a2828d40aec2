//! Queries on `api_tokens`. The bearer check is one statement: it finds a live token of an
//! active user by its hash and records the use.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, FromRow)]
pub struct ApiTokenRow {
    pub id: Uuid,
    pub name: String,
    pub scope: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, scope, prefix, created_at, expires_at, last_used_at, revoked_at";

/// What the bearer check learns from a token.
#[derive(Debug, Clone, FromRow)]
pub struct TokenUse {
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub scope: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub handle: String,
    pub role: String,
}

pub struct NewApiToken<'a> {
    pub user_id: Uuid,
    pub name: &'a str,
    pub scope: &'a str,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: impl PgExecutor<'_>, t: &NewApiToken<'_>) -> Result<ApiTokenRow> {
    let sql = format!(
        "INSERT INTO api_tokens (user_id, name, scope, token_hash, prefix, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(t.user_id)
        .bind(t.name)
        .bind(t.scope)
        .bind(t.token_hash)
        .bind(t.prefix)
        .bind(t.expires_at)
        .fetch_one(db)
        .await?)
}

/// The user's live tokens (not revoked, not expired), the caller's limit is checked against.
pub async fn count_live(db: impl PgExecutor<'_>, user: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM api_tokens
          WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(user)
    .fetch_one(db)
    .await?)
}

/// Every token of the user's, newest first, revoked and expired ones included.
pub async fn list(pool: &PgPool, user: Uuid) -> Result<Vec<ApiTokenRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .fetch_all(pool)
        .await?)
}

/// Revokes the user's token `id`; its name if it was live, `None` if there is no such live
/// token of theirs.
pub async fn revoke(db: impl PgExecutor<'_>, user: Uuid, id: Uuid) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "UPDATE api_tokens SET revoked_at = now()
          WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
          RETURNING name",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await?)
}

/// The token with this hash if it is live and its owner active, marking it used now.
pub async fn use_token(pool: &PgPool, hash: &str) -> Result<Option<TokenUse>> {
    Ok(sqlx::query_as(
        "UPDATE api_tokens t SET last_used_at = now()
           FROM users u
          WHERE t.token_hash = $1 AND u.id = t.user_id AND u.is_active
            AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
      RETURNING t.id AS token_id, t.user_id, t.scope, t.expires_at, u.handle, u.role",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?)
}
