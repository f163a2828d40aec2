//! Queries on `documents` (and the topics attached to them through `document_topics`).
//!
//! Every query is scoped by owner (`user_id = $1`): a document of another user is simply not
//! found.
//!
//! SQL texts that vary are assembled only from the constants in this module (never from input;
//! every value is a bound parameter), which is what `AssertSqlSafe` asserts.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

/// A document as listed: everything but the extracted text.
#[derive(Debug, Clone, FromRow)]
pub struct DocumentRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub filename: String,
    /// The folder it is filed in; `None`: the root.
    pub folder_id: Option<Uuid>,
    pub object_key: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub status: String,
    pub error: Option<String>,
    /// The extracted text was cut at the extraction bound.
    pub text_truncated: bool,
    /// The owner set the topics by hand; classification leaves them alone.
    pub topics_by_hand: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A topic as attached to a document.
#[derive(Debug, Clone, FromRow)]
pub struct DocumentTopicRow {
    pub document_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub color: String,
}

#[derive(Debug)]
pub struct NewDocument<'a> {
    pub id: Uuid,
    pub owner: Uuid,
    pub filename: &'a str,
    pub object_key: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
}

pub(crate) const COLUMNS: &str = "id, user_id, filename, folder_id, object_key, content_type, size_bytes, status, error, text_truncated, topics_by_hand, created_at, updated_at";

/// Records the document, charges its size to the owner's quota and claims its object (off
/// the clean-up list) in one statement: all of it, or — if the size does not fit in what is
/// left of the quota — none of it (`None`). One statement, so the quota row is locked only
/// for it and its commit: concurrent uploads of one user queue for microseconds, not for
/// round trips.
pub async fn insert_charged(
    db: impl PgExecutor<'_>,
    doc: &NewDocument<'_>,
) -> Result<Option<DocumentRow>> {
    let sql = format!(
        "WITH charged AS (
              UPDATE quotas SET used_bytes = used_bytes + $6
               WHERE user_id = $2 AND used_bytes + $6 <= limit_bytes
           RETURNING user_id),
              claimed AS (
              DELETE FROM object_cleanup
               WHERE object_key = $4 AND EXISTS (SELECT 1 FROM charged))
         INSERT INTO documents
                (id, user_id, filename, object_key, content_type, size_bytes, published_at)
         SELECT $1, $2, $3, $4, $5, $6, now() FROM charged
         RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(doc.id)
        .bind(doc.owner)
        .bind(doc.filename)
        .bind(doc.object_key)
        .bind(doc.content_type)
        .bind(doc.size_bytes)
        .fetch_optional(db)
        .await?)
}

/// Where a page starts: strictly after this `(created_at, id)` in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAfter {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// Which documents a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderFilter {
    /// Every document, wherever it is filed.
    Any,
    /// Those filed in no folder.
    Root,
    /// Those filed directly in this folder.
    In(Uuid),
}

/// One page, newest first, by keyset (stays fast deep into the list, unlike OFFSET). Each
/// filter is its own statement, so each uses the `(user_id, folder_id, created_at, id)` index.
pub async fn list(
    pool: &PgPool,
    owner: Uuid,
    folder: FolderFilter,
    after: Option<PageAfter>,
    limit: i64,
) -> Result<Vec<DocumentRow>> {
    let in_folder = match folder {
        FolderFilter::Any => "",
        FolderFilter::Root => "AND folder_id IS NULL",
        FolderFilter::In(_) => "AND folder_id = $5",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM documents
         WHERE user_id = $1 {in_folder}
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC
         LIMIT $4"
    );
    let query = sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(after.map(|a| a.created_at))
        .bind(after.map(|a| a.id))
        .bind(limit);
    let query = match folder {
        FolderFilter::In(id) => query.bind(id),
        _ => query,
    };
    Ok(query.fetch_all(pool).await?)
}

/// Files the owner's document in `folder` (`None`: the root). False if there is no such
/// document; a folder that is not the owner's is refused by the database (composite key).
pub async fn move_to_folder(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    id: Uuid,
    folder: Option<Uuid>,
) -> Result<bool> {
    let moved = sqlx::query("UPDATE documents SET folder_id = $3 WHERE user_id = $1 AND id = $2")
        .bind(owner)
        .bind(id)
        .bind(folder)
        .execute(db)
        .await
        .map_err(|e| match crate::error::violated_constraint(&e) {
            Some("documents_folder_same_user_fkey") => {
                crate::Error::Invalid(docuvault_domain::ValidationError::new(
                    "unknown_folder",
                    "the folder must be one of yours",
                ))
            }
            _ => e.into(),
        })?;
    Ok(moved.rows_affected() == 1)
}

pub async fn get(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<Option<DocumentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM documents WHERE user_id = $1 AND id = $2");
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

pub async fn extracted_text(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT extracted_text FROM documents WHERE user_id = $1 AND id = $2")
            .bind(owner)
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(t,)| t))
}

/// Deletes the row and returns its object key, if the owner has such a document.
/// Deletes the owner's document, gives its size back to their quota and puts its object on
/// the clean-up list (due now), in one statement; the object key, if the document existed.
pub async fn delete_releasing(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "WITH gone AS (
              DELETE FROM documents WHERE user_id = $1 AND id = $2
           RETURNING object_key, size_bytes),
              released AS (
              UPDATE quotas SET used_bytes = greatest(used_bytes - gone.size_bytes, 0)
                FROM gone WHERE quotas.user_id = $1),
              scheduled AS (
              INSERT INTO object_cleanup (object_key, due_at) SELECT object_key, now() FROM gone
              ON CONFLICT (object_key) DO UPDATE SET due_at = EXCLUDED.due_at)
         SELECT object_key FROM gone",
    )
    .bind(owner)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Renames the owner's document; the row, or `None` if there is no such document.
pub async fn rename(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    id: Uuid,
    filename: &str,
) -> Result<Option<DocumentRow>> {
    let sql = format!(
        "UPDATE documents SET filename = $3
          WHERE user_id = $1 AND id = $2
      RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .bind(filename)
        .fetch_optional(db)
        .await?)
}

/// Sets the owner's document's topics to exactly `topic_ids` (all the owner's: checked by the
/// caller in the same transaction) and marks them as set by hand. False if there is no such
/// document.
pub async fn set_topics_by_hand(
    tx: &mut sqlx::PgConnection,
    owner: Uuid,
    id: Uuid,
    topic_ids: &[Uuid],
) -> Result<bool> {
    let found = sqlx::query(
        "UPDATE documents SET topics_by_hand = true
          WHERE user_id = $1 AND id = $2",
    )
    .bind(owner)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !found {
        return Ok(false);
    }
    sqlx::query("DELETE FROM document_topics WHERE document_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO document_topics (document_id, topic_id)
         SELECT $2, t.id FROM topics t WHERE t.user_id = $1 AND t.id = ANY($3)",
    )
    .bind(owner)
    .bind(id)
    .bind(topic_ids)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// How many of `topic_ids` are the owner's topics.
pub async fn count_own_topics(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    topic_ids: &[Uuid],
) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM topics WHERE user_id = $1 AND id = ANY($2)")
            .bind(owner)
            .bind(topic_ids)
            .fetch_one(db)
            .await?,
    )
}

/// The topics of the given documents, in one query for a whole page.
pub async fn topics_of(pool: &PgPool, document_ids: &[Uuid]) -> Result<Vec<DocumentTopicRow>> {
    Ok(sqlx::query_as(
        "SELECT dt.document_id, t.id, t.name, t.color
         FROM document_topics dt JOIN topics t ON t.id = dt.topic_id
         WHERE dt.document_id = ANY($1)
         ORDER BY lower(t.name)",
    )
    .bind(document_ids)
    .fetch_all(pool)
    .await?)
}
