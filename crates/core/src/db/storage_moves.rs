//! Queries on `storage_moves`: documents on their way from one backend to another (see
//! `migrations/0019_cloud_storage.sql` and `pipeline::moves`).

use std::time::Duration;

use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

/// A move a worker has taken, with what it needs of the document.
#[derive(Debug, Clone, FromRow)]
pub struct TakenMove {
    pub document_id: Uuid,
    pub user_id: Uuid,
    pub to_connection_id: Option<Uuid>,
    pub to_locator: String,
    /// This attempt's number: the fencing token of [`switch`].
    pub attempts: i32,
    /// Where the bytes are now.
    pub from_locator: String,
    pub size_bytes: i64,
    pub content_type: String,
}

/// Asks for the document to be moved to `to_locator` (in `to_connection`, or DocuVault's store
/// for `None`), and puts the target on the clean-up list, in one statement. `false` if a move
/// of the document is under way already.
pub async fn request(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    document: Uuid,
    to_connection: Option<Uuid>,
    to_locator: &str,
    orphan_after: Duration,
) -> Result<bool> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "WITH moving AS (
              INSERT INTO storage_moves (document_id, user_id, to_connection_id, to_locator)
              SELECT id, user_id, $3, $4 FROM documents WHERE id = $2 AND user_id = $1
              ON CONFLICT (document_id) DO NOTHING
           RETURNING document_id),
              scheduled AS (
              INSERT INTO object_cleanup (object_key, due_at)
              SELECT $4, now() + make_interval(secs => $5) FROM moving
              ON CONFLICT (object_key) DO UPDATE SET due_at = EXCLUDED.due_at)
         SELECT document_id FROM moving",
    )
    .bind(owner)
    .bind(document)
    .bind(to_connection)
    .bind(to_locator)
    .bind(orphan_after.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(inserted.is_some())
}

/// Takes the next due move for `lease` (another worker takes it over after that), counting the
/// attempt.
pub async fn take_due(pool: &PgPool, lease: Duration) -> Result<Option<TakenMove>> {
    Ok(sqlx::query_as(
        "WITH taken AS (
              UPDATE storage_moves m
                 SET leased_until = now() + make_interval(secs => $1), attempts = attempts + 1
               WHERE m.document_id = (SELECT document_id FROM storage_moves
                                       WHERE leased_until <= now()
                                       ORDER BY leased_until LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING m.document_id, m.user_id, m.to_connection_id, m.to_locator, m.attempts)
         SELECT t.document_id, t.user_id, t.to_connection_id, t.to_locator, t.attempts,
                d.object_key AS from_locator, d.size_bytes, d.content_type
           FROM taken t JOIN documents d ON d.id = t.document_id",
    )
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await?)
}

/// Keeps holding the move while it copies; `false` if another worker took it over.
pub async fn renew(pool: &PgPool, document: Uuid, attempt: i32, lease: Duration) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE storage_moves SET leased_until = now() + make_interval(secs => $3)
          WHERE document_id = $1 AND attempts = $2",
    )
    .bind(document)
    .bind(attempt)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Puts the move off until `retry_in` has passed, with why.
pub async fn retry_later(
    pool: &PgPool,
    document: Uuid,
    attempt: i32,
    retry_in: Duration,
    error: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE storage_moves SET leased_until = now() + make_interval(secs => $3), last_error = $4
          WHERE document_id = $1 AND attempts = $2",
    )
    .bind(document)
    .bind(attempt)
    .bind(retry_in.as_secs_f64())
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Drops a move that cannot be made; its target, on the clean-up list, is deleted by the
/// clean-up from now on.
pub async fn drop_move(db: impl PgExecutor<'_>, document: Uuid, attempt: i32) -> Result<bool> {
    let done = sqlx::query("DELETE FROM storage_moves WHERE document_id = $1 AND attempts = $2")
        .bind(document)
        .bind(attempt)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// How the switch went.
#[derive(Debug, PartialEq, Eq)]
pub enum Switched {
    Done,
    /// Another worker holds the move now, or the document is gone.
    Lost,
    /// Into DocuVault's store, and the bytes do not fit in what is left of the quota.
    OverQuota,
}

/// Points the document at its new copy, in one transaction: the quota (charged when the bytes
/// come into DocuVault's store, given back when they leave it), the row, the clean-up list (the
/// new copy claimed, the old one due now) and the move's end. Fenced by the attempt.
pub async fn switch(pool: &PgPool, mv: &TakenMove, new_locator: &str) -> Result<Switched> {
    let mut tx = pool.begin().await?;
    // The document first, then the move: the order a delete of the document takes them in (its
    // row, then the move by the cascade), so the two never wait on each other in a cycle.
    let doc: Option<(String, Option<Uuid>, i64)> = sqlx::query_as(
        "SELECT object_key, storage_connection_id, size_bytes FROM documents WHERE id = $1 FOR UPDATE",
    )
    .bind(mv.document_id)
    .fetch_optional(&mut *tx)
    .await?;
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT attempts FROM storage_moves WHERE document_id = $1 AND attempts = $2 FOR UPDATE",
    )
    .bind(mv.document_id)
    .bind(mv.attempts)
    .fetch_optional(&mut *tx)
    .await?;
    let (Some(_), Some((old_locator, old_connection, size))) = (held, doc) else {
        return Ok(Switched::Lost);
    };
    let into_vault = mv.to_connection_id.is_none() && old_connection.is_some();
    let out_of_vault = mv.to_connection_id.is_some() && old_connection.is_none();
    if into_vault {
        let charged = sqlx::query(
            "UPDATE quotas SET used_bytes = used_bytes + $2
              WHERE user_id = $1 AND used_bytes + $2 <= limit_bytes",
        )
        .bind(mv.user_id)
        .bind(size)
        .execute(&mut *tx)
        .await?;
        if charged.rows_affected() == 0 {
            return Ok(Switched::OverQuota);
        }
    } else if out_of_vault {
        sqlx::query(
            "UPDATE quotas SET used_bytes = greatest(used_bytes - $2, 0) WHERE user_id = $1",
        )
        .bind(mv.user_id)
        .bind(size)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE documents SET object_key = $2, storage_connection_id = $3 WHERE id = $1")
        .bind(mv.document_id)
        .bind(new_locator)
        .bind(mv.to_connection_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM storage_moves WHERE document_id = $1")
        .bind(mv.document_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM object_cleanup WHERE object_key = ANY($1)")
        .bind([new_locator, mv.to_locator.as_str()])
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO object_cleanup (object_key, due_at) VALUES ($1, now())
         ON CONFLICT (object_key) DO UPDATE SET due_at = EXCLUDED.due_at",
    )
    .bind(&old_locator)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Switched::Done)
}

/// The move of the document under way, if any: where to, how many attempts, the last error.
#[derive(Debug, Clone, FromRow)]
pub struct MoveState {
    pub document_id: Uuid,
    pub to_connection_id: Option<Uuid>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

pub async fn of_documents(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    documents: &[Uuid],
) -> Result<Vec<MoveState>> {
    Ok(sqlx::query_as(
        "SELECT document_id, to_connection_id, attempts, last_error FROM storage_moves
          WHERE user_id = $1 AND document_id = ANY($2)",
    )
    .bind(owner)
    .bind(documents)
    .fetch_all(db)
    .await?)
}
