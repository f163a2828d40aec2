//! Queries on `mail_accounts`: every one scoped to its owner, except the workers' claim of the
//! next mailbox due, which moves `next_check_at` on in the same statement (no two workers read
//! one mailbox at once).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, FromRow)]
pub struct MailAccountRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub host: String,
    pub port: i32,
    pub security: String,
    pub username: String,
    pub password_enc: Vec<u8>,
    pub folder: String,
    pub status: String,
    pub last_error: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub next_check_at: DateTime<Utc>,
    pub imported: i32,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, host, port, security, username, password_enc, folder, status, \
     last_error, last_checked_at, next_check_at, imported, created_at";

pub struct NewMailAccount<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub host: &'a str,
    pub port: i32,
    pub security: &'a str,
    pub username: &'a str,
    pub password_enc: &'a [u8],
    pub folder: &'a str,
}

pub async fn insert(db: impl PgExecutor<'_>, a: &NewMailAccount<'_>) -> Result<MailAccountRow> {
    let sql = format!(
        "INSERT INTO mail_accounts (id, user_id, host, port, security, username, password_enc, folder)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(a.id)
        .bind(a.user_id)
        .bind(a.host)
        .bind(a.port)
        .bind(a.security)
        .bind(a.username)
        .bind(a.password_enc)
        .bind(a.folder)
        .fetch_one(db)
        .await?)
}

pub async fn count(db: impl PgExecutor<'_>, user: Uuid) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM mail_accounts WHERE user_id = $1")
            .bind(user)
            .fetch_one(db)
            .await?,
    )
}

pub async fn list(pool: &PgPool, user: Uuid) -> Result<Vec<MailAccountRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM mail_accounts WHERE user_id = $1 ORDER BY created_at, id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .fetch_all(pool)
        .await?)
}

/// Deletes the user's account; whether there was one.
pub async fn delete(pool: &PgPool, user: Uuid, id: Uuid) -> Result<bool> {
    Ok(
        sqlx::query("DELETE FROM mail_accounts WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user)
            .execute(pool)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Makes the user's account due now (and active again); whether there was one.
pub async fn check_soon(pool: &PgPool, user: Uuid, id: Uuid) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE mail_accounts SET next_check_at = now(), status = 'active'
          WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Takes the mailbox due longest ago, moving its next look `lease` on, so no other worker
/// takes it meanwhile. Accounts in error are looked at too (a password fixed on the server,
/// a server back up): their owner sees the last reason until a look succeeds.
pub async fn claim_due(
    pool: &PgPool,
    lease: std::time::Duration,
) -> Result<Option<MailAccountRow>> {
    let sql = format!(
        "UPDATE mail_accounts SET next_check_at = now() + make_interval(secs => $1)
          WHERE id = (SELECT id FROM mail_accounts WHERE next_check_at <= now()
                       ORDER BY next_check_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(lease.as_secs_f64())
        .fetch_optional(pool)
        .await?)
}

/// Records how a look ended: `error` is `None` after a successful one.
pub async fn record_look(
    pool: &PgPool,
    id: Uuid,
    imported: i32,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE mail_accounts
            SET last_checked_at = now(), imported = imported + $2,
                status = CASE WHEN $3::text IS NULL THEN 'active' ELSE 'error' END,
                last_error = $3
          WHERE id = $1",
    )
    .bind(id)
    .bind(imported)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}
