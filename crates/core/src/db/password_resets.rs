//! Queries on `password_resets`: single-use, expiring tokens, stored as hashes.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

pub async fn insert(
    pool: &PgPool,
    hash: &str,
    user: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(hash)
    .bind(user)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The user of a usable token, without using it up.
pub async fn peek(pool: &PgPool, hash: &str) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM password_resets
          WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?)
}

/// Uses the token up (once, whoever races) and every other open token of its user.
pub async fn consume(db: impl PgExecutor<'_>, hash: &str) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "WITH used AS (
             UPDATE password_resets SET used_at = now()
              WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
          RETURNING user_id
         ), others AS (
             UPDATE password_resets p SET used_at = now()
               FROM used WHERE p.user_id = used.user_id AND p.used_at IS NULL AND p.token_hash <> $1
         )
         SELECT user_id FROM used",
    )
    .bind(hash)
    .fetch_optional(db)
    .await?)
}
