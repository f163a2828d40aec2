//! Queries on `object_cleanup`: object keys to delete unless a document claims them by their
//! due time (see `migrations/0003_object_cleanup.sql`).

use std::time::Duration;

use sqlx::{PgExecutor, PgPool};

use crate::Result;

/// Deletes the object under `key` after `after`, unless a document claims it first.
pub async fn schedule(db: impl PgExecutor<'_>, key: &str, after: Duration) -> Result<()> {
    sqlx::query(
        "INSERT INTO object_cleanup (object_key, due_at)
         VALUES ($1, now() + make_interval(secs => $2))
         ON CONFLICT (object_key) DO UPDATE SET due_at = EXCLUDED.due_at",
    )
    .bind(key)
    .bind(after.as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets `key` (its object is gone or was claimed).
pub async fn forget(db: impl PgExecutor<'_>, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM object_cleanup WHERE object_key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Takes up to `limit` due keys off the list and returns those no document claims: their
/// objects are orphans to delete. Several workers may run this at once (`SKIP LOCKED`).
pub async fn take_due_orphans(pool: &PgPool, limit: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "WITH due AS (
              SELECT object_key FROM object_cleanup WHERE due_at <= now()
               ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED),
              taken AS (
              DELETE FROM object_cleanup c USING due WHERE c.object_key = due.object_key
              RETURNING c.object_key)
         SELECT t.object_key FROM taken t
          WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.object_key = t.object_key)",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
