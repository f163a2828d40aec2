//! Queries on `quotas`: one row per user. `used_bytes` counts the user's documents and their
//! open upload reservations. It is changed only by the statements that record or remove what
//! it counts (`db::documents::insert_charged` and `delete_releasing`, `db::uploads::reserve`
//! and `release`, each one statement with a conditional `UPDATE`) — never read, computed in
//! Rust and written back — and by the operator's `recompute`.

use sqlx::{AssertSqlSafe, FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

/// A user's storage: what they use and what they may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct Quota {
    pub used_bytes: i64,
    pub limit_bytes: i64,
}

pub async fn get(db: impl PgExecutor<'_>, user: Uuid) -> Result<Option<Quota>> {
    Ok(
        sqlx::query_as("SELECT used_bytes, limit_bytes FROM quotas WHERE user_id = $1")
            .bind(user)
            .fetch_optional(db)
            .await?,
    )
}

/// What a user actually uses: their documents in DocuVault's own store (the quota does not count
/// the owner's own cloud) and their open upload reservations (a completed reservation's size is
/// its document's).
const ACTUAL_USE: &str = "SELECT user_id, sum(size_bytes) AS actual FROM (
              SELECT user_id, size_bytes FROM documents WHERE storage_connection_id IS NULL
              UNION ALL
              SELECT user_id, size_bytes FROM uploads WHERE completed_at IS NULL) held
           GROUP BY user_id";

/// A user whose recorded use differs from the sum of their documents' and open reservations'
/// sizes.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Drift {
    pub user_id: Uuid,
    pub handle: String,
    pub recorded_bytes: i64,
    pub actual_bytes: i64,
}

/// Every user whose `used_bytes` is not what their documents and reservations add up to.
pub async fn drift(pool: &PgPool) -> Result<Vec<Drift>> {
    let sql = format!(
        "SELECT u.id AS user_id, u.handle, q.used_bytes AS recorded_bytes,
                coalesce(s.actual, 0)::bigint AS actual_bytes
           FROM quotas q
           JOIN users u ON u.id = q.user_id
           LEFT JOIN ({ACTUAL_USE}) s ON s.user_id = q.user_id
          WHERE q.used_bytes <> coalesce(s.actual, 0)
          ORDER BY u.handle"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(pool).await?)
}

/// Sets one user's use to the sum of their documents' and open reservations' sizes. The quota row is locked first:
/// uploads and deletes change it only while holding that lock, in the transaction that changes
/// the documents, so the sum read after taking it (a new snapshot, READ COMMITTED) counts every
/// one of them that committed, and none can commit in between. Returns the new value.
pub async fn recompute(pool: &PgPool, user: Uuid) -> Result<i64> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM quotas WHERE user_id = $1 FOR UPDATE")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let used: i64 = sqlx::query_scalar(
        "UPDATE quotas
            SET used_bytes = (SELECT coalesce(sum(size_bytes), 0)::bigint FROM (
                                  SELECT size_bytes FROM documents
                                   WHERE user_id = $1 AND storage_connection_id IS NULL
                                  UNION ALL
                                  SELECT size_bytes FROM uploads
                                   WHERE user_id = $1 AND completed_at IS NULL) held)
          WHERE user_id = $1
      RETURNING used_bytes",
    )
    .bind(user)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(used)
}
