//! Queries on `cloud_connections`: a person's own cloud storage (see
//! `migrations/0019_cloud_storage.sql`). Every query a request makes is scoped by owner; only
//! [`get_any`] is not, for the storage registry, which is handed connection ids by document
//! rows whose access was checked already.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::Result;
use crate::error::{Error, violated_constraint};

/// A connection as stored, its sealed credentials included (never sent anywhere).
#[derive(Debug, Clone, FromRow)]
pub struct ConnectionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    pub display_name: String,
    pub endpoint: String,
    pub username: Option<String>,
    pub credentials_enc: Vec<u8>,
    pub status: String,
    pub last_error: Option<String>,
    pub checked_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A connection as its owner sees it in the list.
#[derive(Debug, Clone, FromRow)]
pub struct ConnectionSummary {
    #[sqlx(flatten)]
    pub row: ConnectionRow,
    /// Documents kept there now.
    pub documents: i64,
    /// Documents on their way there or away from there.
    pub moving: i64,
    /// The owner's new uploads go there.
    pub is_default: bool,
}

const COLUMNS: &str = "c.id, c.user_id, c.provider, c.display_name, c.endpoint, c.username, \
                       c.credentials_enc, c.status, c.last_error, c.checked_at, c.created_at";

#[derive(Debug)]
pub struct NewConnection<'a> {
    pub id: Uuid,
    pub owner: Uuid,
    pub provider: &'a str,
    pub display_name: &'a str,
    pub endpoint: &'a str,
    pub username: Option<&'a str>,
    pub credentials_enc: &'a [u8],
    /// When the sealed access token runs out (OAuth connections).
    pub token_expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: impl PgExecutor<'_>, new: &NewConnection<'_>) -> Result<ConnectionRow> {
    let sql = format!(
        "INSERT INTO cloud_connections AS c
                (id, user_id, provider, display_name, endpoint, username, credentials_enc,
                 token_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(new.id)
        .bind(new.owner)
        .bind(new.provider)
        .bind(new.display_name)
        .bind(new.endpoint)
        .bind(new.username)
        .bind(new.credentials_enc)
        .bind(new.token_expires_at)
        .fetch_one(db)
        .await?)
}

pub async fn list(db: impl PgExecutor<'_>, owner: Uuid) -> Result<Vec<ConnectionSummary>> {
    let sql = format!(
        "SELECT {COLUMNS},
                (SELECT count(*) FROM documents d WHERE d.storage_connection_id = c.id) AS documents,
                (SELECT count(*) FROM storage_moves m JOIN documents d ON d.id = m.document_id
                  WHERE m.to_connection_id = c.id OR d.storage_connection_id = c.id) AS moving,
                (u.default_connection_id IS NOT DISTINCT FROM c.id) AS is_default
           FROM cloud_connections c JOIN users u ON u.id = c.user_id
          WHERE c.user_id = $1
          ORDER BY c.created_at, c.id"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .fetch_all(db)
        .await?)
}

pub async fn get(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<Option<ConnectionRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM cloud_connections c WHERE c.user_id = $1 AND c.id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// The connection, whoever owns it (for the storage registry only; see the module docs).
pub async fn get_any(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<ConnectionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM cloud_connections c WHERE c.id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// The connection, locked until the transaction ends (one token refresh at a time, across
/// processes: a provider that rotates refresh tokens accepts each one once).
pub async fn lock(db: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<ConnectionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM cloud_connections c WHERE c.id = $1 FOR UPDATE");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// Stores new sealed tokens (a refresh, or the owner signing in again): the connection works.
pub async fn set_tokens(
    db: &mut sqlx::PgConnection,
    id: Uuid,
    credentials_enc: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE cloud_connections
            SET credentials_enc = $2, token_expires_at = $3, status = 'active',
                last_error = NULL, checked_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(credentials_enc)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// OAuth connections whose access token runs out within `within` (and that still work: one in
/// `error` waits for its owner to sign in again).
pub async fn tokens_expiring(
    db: impl PgExecutor<'_>,
    within: std::time::Duration,
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM cloud_connections
          WHERE token_expires_at < now() + make_interval(secs => $1) AND status = 'active'
          ORDER BY token_expires_at
          LIMIT 100",
    )
    .bind(within.as_secs_f64())
    .fetch_all(db)
    .await?)
}

/// Records how the connection last answered: `active` (and no error), or `error` with why.
/// Only a change is written (and `checked_at` with it), so a busy connection costs no writes.
pub async fn set_status(db: impl PgExecutor<'_>, id: Uuid, error: Option<&str>) -> Result<bool> {
    let status = if error.is_some() { "error" } else { "active" };
    let changed = sqlx::query(
        "UPDATE cloud_connections SET status = $2, last_error = $3, checked_at = now()
          WHERE id = $1 AND status <> 'revoked'
            AND (status <> $2 OR last_error IS DISTINCT FROM $3)",
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .execute(db)
    .await?;
    Ok(changed.rows_affected() > 0)
}

/// Deletes the owner's connection; `Ok(false)` if there is none. `409 connection_in_use`
/// while documents are kept there (the foreign key refuses).
pub async fn delete(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM cloud_connections WHERE user_id = $1 AND id = $2")
        .bind(owner)
        .bind(id)
        .execute(db)
        .await;
    match done {
        Ok(done) => Ok(done.rows_affected() > 0),
        Err(e) if violated_constraint(&e) == Some("documents_storage_connection_id_fkey") => {
            Err(Error::conflict(
                "connection_in_use",
                "documents are kept in this storage; move them to another storage first",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// How many of the owner's documents are kept in the connection, or moving to or from it.
pub async fn documents_in(db: impl PgExecutor<'_>, id: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM documents WHERE storage_connection_id = $1)
              + (SELECT count(*) FROM storage_moves WHERE to_connection_id = $1)",
    )
    .bind(id)
    .fetch_one(db)
    .await?)
}

/// Where the owner's new uploads go (`None`: DocuVault's own store).
pub async fn default_of(db: impl PgExecutor<'_>, owner: Uuid) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT default_connection_id FROM users WHERE id = $1")
            .bind(owner)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// Sends the owner's new uploads to `connection` (theirs: checked in the statement) or, with
/// `None`, to DocuVault's own store. `false` if the connection is not the owner's.
pub async fn set_default(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    connection: Option<Uuid>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET default_connection_id = $2
          WHERE id = $1
            AND ($2::uuid IS NULL
                 OR EXISTS (SELECT 1 FROM cloud_connections
                             WHERE id = $2 AND user_id = $1 AND status <> 'revoked'))",
    )
    .bind(owner)
    .bind(connection)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}
