//! Queries on `refresh_tokens`: one row per issued refresh token, grouped in families (one
//! family per sign-in). Only token hashes are stored.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct NewRefresh<'a> {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
    pub ip: Option<IpAddr>,
}

pub async fn insert(db: impl PgExecutor<'_>, t: &NewRefresh<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, user_agent, ip_address)
         VALUES ($1, $2, $3, $4, $5, $6::inet)",
    )
    .bind(t.user_id)
    .bind(t.family_id)
    .bind(&t.token_hash)
    .bind(t.expires_at)
    .bind(t.user_agent)
    .bind(t.ip.map(|ip| ip.to_string()))
    .execute(db)
    .await?;
    Ok(())
}

/// The token with this hash, locked until the transaction ends (one refresh at a time).
pub async fn find_for_update(db: impl PgExecutor<'_>, hash: &str) -> Result<Option<RefreshRow>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, family_id, expires_at, revoked, used_at
           FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash)
    .fetch_optional(db)
    .await?)
}

pub async fn mark_used(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn revoke_family(db: impl PgExecutor<'_>, family: Uuid) -> Result<u64> {
    Ok(
        sqlx::query(
            "UPDATE refresh_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked",
        )
        .bind(family)
        .execute(db)
        .await?
        .rows_affected(),
    )
}

/// Revokes one sign-in of `user` (a family of refresh tokens); false if the user has no live
/// sign-in by that id.
pub async fn revoke_family_of(db: impl PgExecutor<'_>, user: Uuid, family: Uuid) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked = true
          WHERE family_id = $1 AND user_id = $2 AND NOT revoked",
    )
    .bind(family)
    .bind(user)
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}

pub async fn revoke_all(db: impl PgExecutor<'_>, user: Uuid) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE refresh_tokens SET revoked = true WHERE user_id = $1 AND NOT revoked")
            .bind(user)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// A sign-in that can still be refreshed, as shown to its owner.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub family_id: Uuid,
    pub signed_in_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
}

pub async fn list_active(pool: &PgPool, user: Uuid) -> Result<Vec<SessionRow>> {
    Ok(sqlx::query_as(
        "SELECT f.family_id, f.signed_in_at, t.created_at AS last_used_at, t.expires_at,
                t.user_agent, host(t.ip_address) AS ip_address
           FROM (SELECT family_id, min(created_at) AS signed_in_at
                   FROM refresh_tokens WHERE user_id = $1 GROUP BY family_id) f
           JOIN refresh_tokens t ON t.family_id = f.family_id
          WHERE t.user_id = $1 AND NOT t.revoked AND t.used_at IS NULL AND t.expires_at > now()
          ORDER BY t.created_at DESC",
    )
    .bind(user)
    .fetch_all(pool)
    .await?)
}

/// Forgets refresh tokens and reset links that expired more than a day ago, a batch at a time
/// (a rotated token is kept until its own expiry, so its reuse is recognised until then).
pub async fn prune_expired(pool: &PgPool) -> Result<u64> {
    let tokens = sqlx::query(
        "DELETE FROM refresh_tokens WHERE id IN (
             SELECT id FROM refresh_tokens WHERE expires_at < now() - interval '1 day' LIMIT 1000)",
    )
    .execute(pool)
    .await?
    .rows_affected();
    let resets = sqlx::query(
        "DELETE FROM password_resets WHERE token_hash IN (
             SELECT token_hash FROM password_resets WHERE expires_at < now() - interval '1 day' LIMIT 1000)",
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(tokens + resets)
}
