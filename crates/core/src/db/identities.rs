//! Queries on `user_identities`: an account's sign-ins at the OpenID Connect provider, found by
//! the provider's issuer and subject.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, FromRow)]
pub struct IdentityRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
}

/// The account an identity belongs to, recording this use and the email the provider now
/// gives.
pub async fn use_identity(
    db: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
    email: Option<&str>,
) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "UPDATE user_identities SET last_used_at = now(), email = coalesce($3, email)
          WHERE issuer = $1 AND subject = $2
          RETURNING user_id",
    )
    .bind(issuer)
    .bind(subject)
    .bind(email)
    .fetch_optional(db)
    .await?)
}

/// Links an identity to an account. `false` when the identity is linked already (to this or,
/// through a concurrent first sign-in, to another account).
pub async fn link(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    issuer: &str,
    subject: &str,
    email: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO user_identities (user_id, issuer, subject, email)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (issuer, subject) DO NOTHING",
    )
    .bind(user_id)
    .bind(issuer)
    .bind(subject)
    .bind(email)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn list(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<IdentityRow>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, issuer, subject, email, created_at, last_used_at
           FROM user_identities WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?)
}
