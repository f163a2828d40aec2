//! The pipeline's queries. A document in status `pending` or `processing` is its own job (see
//! `migrations/0002_pipeline.sql`); these statements are the job's state machine:
//!
//! ```text
//! pending --claim--> processing --finish--> classified
//!    ^                   |  \----fail-----> failed
//!    +---retry_later-----+
//! processing with an expired lease --claim--> processing (taken over, attempt + 1, failure + 1)
//! processing --release (graceful shutdown)--> pending
//! ```
//!
//! Every transition out of `processing` names the attempt it belongs to, so a worker whose
//! lease expired (and whose job another worker took over) cannot overwrite the newer result.
//! `attempts` only ever grows, so an old attempt number never matches again; `failures` counts
//! the attempts that ended without a result (errors, panics, dead workers) against the limit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::Result;
use crate::pipeline::Processed;

/// A document taken for processing.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub user_id: Uuid,
    pub object_key: String,
    pub content_type: String,
    /// This attempt's number (1 for the first); the fencing token for the transitions below.
    pub attempts: i32,
    /// Earlier attempts that ended without a result, this document's takeover included.
    pub failures: i32,
    /// The error of the previous attempt, if any.
    pub error: Option<String>,
    /// The document's text was extracted by an earlier attempt (a reclassification): the job
    /// classifies that text again instead of extracting it again (OCR can take minutes).
    pub text_ready: bool,
}

/// What a document shows when its worker died with it.
const TAKEN_OVER: &str =
    "the worker processing it stopped before finishing (it crashed, was killed or hung)";

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Takes the document if it is due, or if the worker that held it let its lease expire; a
/// takeover counts the lost attempt as a failure (so a document that kills its worker every
/// time runs out of attempts instead of killing workers forever).
pub async fn claim(pool: &PgPool, id: Uuid, lease: Duration) -> Result<Option<Claimed>> {
    // In SET, `status` is the row's old value.
    Ok(sqlx::query_as(
        "UPDATE documents
            SET status = 'processing', attempts = attempts + 1,
                failures = failures + CASE WHEN status = 'processing' THEN 1 ELSE 0 END,
                error = CASE WHEN status = 'processing' THEN $3 ELSE error END,
                lease_until = now() + make_interval(secs => $2)
          WHERE id = $1
            AND ((status = 'pending' AND next_attempt_at <= now())
                 OR (status = 'processing' AND lease_until < now()))
      RETURNING id, user_id, object_key, content_type, attempts, failures, error,
                extracted_text IS NOT NULL AS text_ready",
    )
    .bind(id)
    .bind(secs(lease))
    .bind(TAKEN_OVER)
    .fetch_optional(pool)
    .await?)
}

/// Stores the result of a successful attempt: the text, and exactly these topics (replacing
/// any earlier ones, so running a job twice gives the same final state) unless the owner set
/// the document's topics by hand. False if the attempt
/// no longer holds the document.
pub async fn finish(pool: &PgPool, id: Uuid, attempt: i32, done: &Processed) -> Result<bool> {
    let mut tx = pool.begin().await?;
    // `topics_by_hand` as it is once this row is locked: a person's edit that committed while
    // the attempt ran is seen here (and one that comes later waits for this transaction).
    let by_hand: Option<bool> = sqlx::query_scalar(
        "WITH done AS (
              UPDATE documents
                 SET status = 'classified', extracted_text = $3, text_truncated = $4, error = NULL,
                     lease_until = NULL, processed_at = now(), thumbnail_key = $5,
                     ocr_pages = $6, topic_suggestions = $7
               WHERE id = $1 AND attempts = $2 AND status = 'processing'
           RETURNING topics_by_hand),
              claimed AS (
              DELETE FROM object_cleanup WHERE object_key = $5 AND EXISTS (SELECT 1 FROM done))
         SELECT topics_by_hand FROM done",
    )
    .bind(id)
    .bind(attempt)
    .bind(&done.text)
    .bind(done.truncated)
    .bind(done.thumbnail_key.as_deref())
    .bind(i32::try_from(done.ocr_pages).unwrap_or(i32::MAX))
    .bind(sqlx::types::Json(
        done.suggestions
            .iter()
            .map(|(id, score)| serde_json::json!({ "topic_id": id, "score": score }))
            .collect::<Vec<_>>(),
    ))
    .fetch_optional(&mut *tx)
    .await?;
    if by_hand.is_some()
        && let Some((model, embedding)) = &done.embedding
    {
        crate::db::embeddings::store_embedding(&mut *tx, id, model, embedding).await?;
    }
    match by_hand {
        None => {
            tx.rollback().await?;
            return Ok(false);
        }
        // The person's choice of topics stands.
        Some(true) => {
            tx.commit().await?;
            return Ok(true);
        }
        Some(false) => {}
    }
    sqlx::query("DELETE FROM document_topics WHERE document_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // Only topics that still exist and belong to the document's owner are attached.
    let (ids, scores): (Vec<Uuid>, Vec<Option<f32>>) = done.topics.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO document_topics (document_id, topic_id, source, score)
         SELECT d.id, t.id, 'ai', picked.score FROM documents d
           JOIN unnest($2::uuid[], $3::real[]) AS picked (topic_id, score) ON true
           JOIN topics t ON t.user_id = d.user_id AND t.id = picked.topic_id
          WHERE d.id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(&ids)
    .bind(&scores)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Gives the document back to the queue after a failed attempt (counted), due again after
/// `delay`.
pub async fn retry_later(
    pool: &PgPool,
    id: Uuid,
    attempt: i32,
    error: &str,
    delay: Duration,
) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE documents
            SET status = 'pending', error = $3, lease_until = NULL, published_at = NULL,
                failures = failures + 1, next_attempt_at = now() + make_interval(secs => $4)
          WHERE id = $1 AND attempts = $2 AND status = 'processing'",
    )
    .bind(id)
    .bind(attempt)
    .bind(error)
    .bind(secs(delay))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Ends the document's processing as `failed` with a reason a person can read.
pub async fn fail(pool: &PgPool, id: Uuid, attempt: i32, error: &str) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE documents
            SET status = 'failed', error = $3, lease_until = NULL, processed_at = now()
          WHERE id = $1 AND attempts = $2 AND status = 'processing'",
    )
    .bind(id)
    .bind(attempt)
    .bind(error)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Marks up to `limit` runnable jobs as published and returns them, for the sweeper to hand to
/// the queue: those never published (the upload could not reach Redis, or a retry came due),
/// those published longer than `republish_after` ago and still waiting (Redis lost the
/// message), and those whose worker's lease expired since they were last published. Several
/// sweepers may run at once (`SKIP LOCKED`).
pub async fn take_unpublished(
    pool: &PgPool,
    limit: i64,
    republish_after: Duration,
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "UPDATE documents SET published_at = now()
          WHERE id IN (
                SELECT id FROM documents
                 WHERE ((status = 'pending' AND next_attempt_at <= now())
                        OR (status = 'processing' AND lease_until < now()))
                   AND (published_at IS NULL
                        OR published_at < now() - make_interval(secs => $2)
                        OR (status = 'processing' AND published_at < lease_until))
              ORDER BY next_attempt_at
                 LIMIT $1
                   FOR UPDATE SKIP LOCKED)
      RETURNING id",
    )
    .bind(limit)
    .bind(secs(republish_after))
    .fetch_all(pool)
    .await?)
}

/// Forgets that these jobs were published (handing them over failed), so the next sweep takes
/// them at once.
pub async fn unpublish(pool: &PgPool, ids: &[Uuid]) -> Result<()> {
    sqlx::query(
        "UPDATE documents SET published_at = NULL
          WHERE id = ANY($1) AND status IN ('pending', 'processing')",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Redis lost its data: every waiting job must be published again.
pub async fn forget_published(pool: &PgPool) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE documents SET published_at = NULL
          WHERE status IN ('pending', 'processing') AND published_at IS NOT NULL",
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Keeps a running job's lease from expiring. False if the attempt no longer holds it.
pub async fn extend_lease(pool: &PgPool, id: Uuid, attempt: i32, lease: Duration) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE documents SET lease_until = now() + make_interval(secs => $3)
          WHERE id = $1 AND attempts = $2 AND status = 'processing'",
    )
    .bind(id)
    .bind(attempt)
    .bind(secs(lease))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Gives back jobs a stopping worker could not finish — each named with the attempt that holds
/// it, so a job another worker has taken over meanwhile is left alone: pending again, due now,
/// the interrupted attempt not counted as a failure. Only called for jobs whose tasks ended.
pub async fn release(pool: &PgPool, held: &[(Uuid, i32)]) -> Result<u64> {
    let (ids, attempts): (Vec<Uuid>, Vec<i32>) = held.iter().copied().unzip();
    Ok(sqlx::query(
        "UPDATE documents d
            SET status = 'pending', lease_until = NULL, published_at = NULL,
                next_attempt_at = now()
           FROM unnest($1::uuid[], $2::int[]) AS h(id, attempt)
          WHERE d.id = h.id AND d.attempts = h.attempt AND d.status = 'processing'",
    )
    .bind(ids)
    .bind(attempts)
    .execute(pool)
    .await?
    .rows_affected())
}

/// How many documents are still waiting (pending or processing), and when the earliest of
/// them comes due (a retry's time, or a running job's lease end).
pub async fn waiting(pool: &PgPool) -> Result<(i64, Option<DateTime<Utc>>)> {
    Ok(sqlx::query_as(
        "SELECT count(*),
                min(CASE WHEN status = 'pending' THEN next_attempt_at ELSE lease_until END)
           FROM documents WHERE status IN ('pending', 'processing')",
    )
    .fetch_one(pool)
    .await?)
}

/// Puts a finished document back in the queue (reclassify) with a fresh allowance of failures;
/// topics set by hand are given up to the classifier again (the owner asked for it).
/// `attempts` goes on counting (it is the fencing token). False if it is not the owner's, or
/// is being processed right now.
pub async fn requeue(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE documents
            SET status = 'pending', failures = 0, error = NULL, lease_until = NULL,
                next_attempt_at = now(), published_at = now(), topics_by_hand = false
          WHERE id = $1 AND user_id = $2
            AND status IN ('classified', 'failed')",
    )
    .bind(id)
    .bind(owner)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Puts every finished document of the owner whose topics nobody confirmed (not set by hand)
/// and whose text is extracted back in the queue, to be classified again; their ids. They are
/// left unpublished, so the workers' sweeper queues them in batches.
pub async fn requeue_unconfirmed(pool: &PgPool, owner: Uuid) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "WITH queued AS (
              UPDATE documents
                 SET status = 'pending', failures = 0, error = NULL, lease_until = NULL,
                     next_attempt_at = now(), published_at = NULL
               WHERE user_id = $1 AND NOT topics_by_hand AND status IN ('classified', 'failed')
                 AND extracted_text IS NOT NULL
           RETURNING id),
              noted AS (
              INSERT INTO document_activity (document_id, actor_id, kind, detail)
              SELECT id, $1, 'reclassify_requested', '{\"all_unconfirmed\": true}'::jsonb FROM queued)
         SELECT id FROM queued",
    )
    .bind(owner)
    .fetch_all(pool)
    .await?)
}

/// What an earlier attempt extracted, for a job that classifies it again.
#[derive(Debug, Clone, FromRow)]
pub struct KeptText {
    pub extracted_text: Option<String>,
    pub text_truncated: bool,
    pub ocr_pages: i32,
    pub thumbnail_key: Option<String>,
}

pub async fn kept_text(pool: &PgPool, id: Uuid) -> Result<Option<KeptText>> {
    Ok(sqlx::query_as(
        "SELECT extracted_text, text_truncated, ocr_pages, thumbnail_key
           FROM documents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// The owner's topics, as the classifier needs them.
#[derive(Debug, Clone, FromRow)]
pub struct TopicForClassification {
    pub id: Uuid,
    pub name: String,
    pub description: String,
}

pub async fn topics_of(pool: &PgPool, owner: Uuid) -> Result<Vec<TopicForClassification>> {
    Ok(sqlx::query_as(
        "SELECT id, name, description FROM topics
          WHERE user_id = $1 ORDER BY lower(name)",
    )
    .bind(owner)
    .fetch_all(pool)
    .await?)
}

/// What `/metrics` shows of the documents, cheap at any number of them: the exact counts of
/// those waiting and failed (partial indexes hold only those rows), and the planner's estimate
/// of all rows (kept by autovacuum's ANALYZE; never a full count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct StatusCounts {
    pub pending: i64,
    pub processing: i64,
    pub failed: i64,
    pub estimated_total: i64,
}

pub async fn status_counts(pool: &PgPool) -> Result<StatusCounts> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM documents WHERE status IN ('pending', 'processing')
                   AND status = 'pending') AS pending,
                (SELECT count(*) FROM documents WHERE status IN ('pending', 'processing')
                   AND status = 'processing') AS processing,
                (SELECT count(*) FROM documents WHERE status = 'failed') AS failed,
                (SELECT greatest(reltuples, 0)::bigint FROM pg_class
                  WHERE oid = 'documents'::regclass) AS estimated_total",
    )
    .fetch_one(pool)
    .await?)
}
