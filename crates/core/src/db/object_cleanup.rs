//! Queries on `object_cleanup`: object keys to delete unless a document claims them by their
//! due time (see `migrations/0003_object_cleanup.sql`).

use std::time::Duration;

use sqlx::{FromRow, PgExecutor, PgPool};

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

/// An object to delete, and the multipart upload to abort first if it was still being sent in
/// parts (a presigned upload never completed).
#[derive(Debug, Clone, FromRow)]
pub struct Orphan {
    pub object_key: String,
    pub multipart_id: Option<String>,
}

/// Takes up to `limit` due keys whose objects are orphans to delete: entries a document
/// claims are dropped, the others are put off by `lease` and returned. The caller deletes each
/// object and only then [`forget`]s its key, so a crash in between leaves the entry, due again
/// after `lease`, and the object is never lost track of. Several workers may run this at once
/// (`SKIP LOCKED`).
pub async fn take_due_orphans(pool: &PgPool, limit: i64, lease: Duration) -> Result<Vec<Orphan>> {
    Ok(sqlx::query_as(
        "WITH due AS (
              SELECT object_key FROM object_cleanup WHERE due_at <= now()
               ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED),
              claimed AS (
              DELETE FROM object_cleanup c USING due
               WHERE c.object_key = due.object_key
                 AND (EXISTS (SELECT 1 FROM documents d WHERE d.object_key = c.object_key)
                      OR EXISTS (SELECT 1 FROM storage_moves m WHERE m.to_locator = c.object_key))),
              taken AS (
              UPDATE object_cleanup c SET due_at = now() + make_interval(secs => $2)
                FROM due
               WHERE c.object_key = due.object_key
                 AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.object_key = c.object_key)
                 AND NOT EXISTS (SELECT 1 FROM storage_moves m WHERE m.to_locator = c.object_key)
           RETURNING c.object_key, c.multipart_id)
         SELECT object_key, multipart_id FROM taken",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await?)
}
