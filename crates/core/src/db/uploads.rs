//! Queries on `uploads`: reservations for presigned uploads (see
//! `migrations/0008_uploads.sql`). Each change of a reservation and of the quota it holds is one
//! statement: reserve (charge + record + schedule the object's clean-up), complete (mark +
//! create the document + claim the object), release (forget + give back + clean up now).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow, PgExecutor};
use uuid::Uuid;

use super::documents::{COLUMNS, DocumentRow};
use crate::Result;

#[derive(Debug, Clone, FromRow)]
pub struct UploadRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub object_key: String,
    pub multipart_id: Option<String>,
    pub part_bytes: i64,
    pub expires_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct NewUpload<'a> {
    pub id: Uuid,
    pub owner: Uuid,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub object_key: &'a str,
    pub multipart_id: Option<&'a str>,
    pub part_bytes: i64,
    pub expires_in: Duration,
    /// How long after the expiry the object is deleted by the clean-up even if the sweeper
    /// has not released the reservation by then (a completed upload claims it first).
    pub cleanup_grace: Duration,
}

const UPLOAD_COLUMNS: &str = "id, user_id, filename, content_type, size_bytes, object_key, multipart_id, part_bytes, expires_at, completed_at";

/// Charges the size to the owner's quota, records the reservation and schedules its object's
/// clean-up, in one statement: all of it, or — if the size does not fit — none (`None`).
pub async fn reserve(db: impl PgExecutor<'_>, up: &NewUpload<'_>) -> Result<Option<UploadRow>> {
    let sql = format!(
        "WITH charged AS (
              UPDATE quotas SET used_bytes = used_bytes + $5
               WHERE user_id = $2 AND used_bytes + $5 <= limit_bytes
           RETURNING user_id),
              reserved AS (
              INSERT INTO uploads (id, user_id, filename, content_type, size_bytes, object_key,
                                   multipart_id, part_bytes, expires_at)
              SELECT $1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9) FROM charged
           RETURNING {UPLOAD_COLUMNS}),
              scheduled AS (
              INSERT INTO object_cleanup (object_key, due_at, multipart_id)
              SELECT object_key, expires_at + make_interval(secs => $10), multipart_id FROM reserved
              ON CONFLICT (object_key) DO UPDATE
                 SET due_at = EXCLUDED.due_at, multipart_id = EXCLUDED.multipart_id)
         SELECT {UPLOAD_COLUMNS} FROM reserved"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(up.id)
        .bind(up.owner)
        .bind(up.filename)
        .bind(up.content_type)
        .bind(up.size_bytes)
        .bind(up.object_key)
        .bind(up.multipart_id)
        .bind(up.part_bytes)
        .bind(up.expires_in.as_secs_f64())
        .bind(up.cleanup_grace.as_secs_f64())
        .fetch_optional(db)
        .await?)
}

pub async fn get(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<Option<UploadRow>> {
    let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE user_id = $1 AND id = $2");
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// Turns an open, unexpired reservation into its document (`pending`, a job due now) and
/// claims its object, in one statement. The quota is not charged again: the reservation's
/// charge becomes the document's. `None` if the reservation is no longer open (completed by a
/// concurrent request, released, or expired).
pub async fn complete(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<DocumentRow>> {
    let sql = format!(
        "WITH done AS (
              UPDATE uploads SET completed_at = now()
               WHERE user_id = $1 AND id = $2 AND completed_at IS NULL AND expires_at > now()
           RETURNING id, user_id, filename, object_key, content_type, size_bytes),
              claimed AS (
              DELETE FROM object_cleanup c USING done WHERE c.object_key = done.object_key)
         INSERT INTO documents
                (id, user_id, filename, object_key, content_type, size_bytes, published_at)
         SELECT id, user_id, filename, object_key, content_type, size_bytes, now() FROM done
         RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// What a release gave back: the object to delete (and the multipart upload to abort).
#[derive(Debug, Clone, FromRow)]
pub struct Released {
    pub object_key: String,
    pub multipart_id: Option<String>,
}

/// The part of a release shared by [`release`] and [`release_expired`]: `gone` is a CTE of
/// deleted reservations. Sizes are summed per user first: an `UPDATE … FROM` that joins one
/// target row to several source rows applies only one of them.
const RELEASE_TAIL: &str = "
              released AS (
              UPDATE quotas q SET used_bytes = greatest(q.used_bytes - g.total, 0)
                FROM (SELECT user_id, sum(size_bytes)::bigint AS total FROM gone GROUP BY user_id) g
               WHERE q.user_id = g.user_id),
              scheduled AS (
              INSERT INTO object_cleanup (object_key, due_at, multipart_id)
              SELECT object_key, now(), multipart_id FROM gone
              ON CONFLICT (object_key) DO UPDATE
                 SET due_at = EXCLUDED.due_at, multipart_id = EXCLUDED.multipart_id)
         SELECT object_key, multipart_id FROM gone";

/// Drops an open reservation, gives its size back to the quota and makes its object due for
/// the clean-up, in one statement. `None` if there is no open reservation of the owner's by
/// that id.
pub async fn release(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<Option<Released>> {
    let sql = format!(
        "WITH gone AS (
              DELETE FROM uploads WHERE user_id = $1 AND id = $2 AND completed_at IS NULL
           RETURNING user_id, size_bytes, object_key, multipart_id),{RELEASE_TAIL}"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// [`release`] for up to `limit` reservations whose time ran out (the workers' sweeper; several
/// may run at once: `SKIP LOCKED`).
pub async fn release_expired(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Released>> {
    let sql = format!(
        "WITH due AS (
              SELECT id FROM uploads WHERE completed_at IS NULL AND expires_at <= now()
               ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED),
              gone AS (
              DELETE FROM uploads u USING due WHERE u.id = due.id
           RETURNING u.user_id, u.size_bytes, u.object_key, u.multipart_id),{RELEASE_TAIL}"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(db)
        .await?)
}

/// Forgets completed uploads older than `age` (only kept so that completing again answers the
/// same); returns how many.
pub async fn prune_completed(db: impl PgExecutor<'_>, age: Duration) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM uploads
          WHERE completed_at IS NOT NULL AND completed_at < now() - make_interval(secs => $1)",
    )
    .bind(age.as_secs_f64())
    .execute(db)
    .await?
    .rows_affected())
}
