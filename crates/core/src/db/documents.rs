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
use crate::error::{Error, violated_constraint};

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
    /// Pages whose text was read by OCR (an image counts as one).
    pub ocr_pages: i32,
    /// The owner set the topics by hand; classification leaves them alone.
    pub topics_by_hand: bool,
    /// Where the first page's thumbnail is stored, if the worker made one.
    pub thumbnail_key: Option<String>,
    /// The owner's cloud connection holding the bytes; `None`: DocuVault's own store.
    pub storage_connection_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A topic as attached to a document, or suggested for it.
#[derive(Debug, Clone, FromRow)]
pub struct DocumentTopicRow {
    pub document_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub color: String,
    /// The classifier's similarity, when it gave one.
    pub score: Option<f32>,
    /// `ai` or `user`.
    pub source: String,
    /// Not attached: one of the classifier's suggestions for a document it left without one.
    pub suggested: bool,
}

#[derive(Debug)]
pub struct NewDocument<'a> {
    pub id: Uuid,
    pub owner: Uuid,
    pub filename: &'a str,
    pub object_key: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    /// The content's SHA-256, when an importer computed it (see migration 0015).
    pub content_sha256: Option<&'a [u8]>,
    /// The owner's cloud connection holding the bytes (`None`: DocuVault's own store, the
    /// only one the quota counts).
    pub storage_connection_id: Option<Uuid>,
}

pub(crate) const COLUMNS: &str = "id, user_id, filename, folder_id, object_key, content_type, size_bytes, status, error, text_truncated, ocr_pages, topics_by_hand, thumbnail_key, storage_connection_id, created_at, updated_at";

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
              UPDATE quotas
                 SET used_bytes = used_bytes + CASE WHEN $8::uuid IS NULL THEN $6 ELSE 0 END
               WHERE user_id = $2 AND ($8::uuid IS NOT NULL OR used_bytes + $6 <= limit_bytes)
           RETURNING user_id),
              claimed AS (
              DELETE FROM object_cleanup
               WHERE object_key = $4 AND EXISTS (SELECT 1 FROM charged))
         INSERT INTO documents
                (id, user_id, filename, object_key, content_type, size_bytes, content_sha256,
                 published_at, storage_connection_id)
         SELECT $1, $2, $3, $4, $5, $6, $7, now(), $8 FROM charged
         RETURNING {COLUMNS}"
    );
    let inserted = sqlx::query_as(AssertSqlSafe(sql))
        .bind(doc.id)
        .bind(doc.owner)
        .bind(doc.filename)
        .bind(doc.object_key)
        .bind(doc.content_type)
        .bind(doc.size_bytes)
        .bind(doc.content_sha256)
        .bind(doc.storage_connection_id)
        .fetch_optional(db)
        .await;
    match inserted {
        Err(e) if violated_constraint(&e) == Some("ux_documents_user_content_sha256") => {
            Err(Error::conflict(
                "already_imported",
                "a document with the same content was already imported",
            ))
        }
        other => Ok(other?),
    }
}

/// The owner's document whose content has this SHA-256, recorded by an importer.
pub async fn find_by_sha256(pool: &PgPool, owner: Uuid, sha256: &[u8]) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM documents WHERE user_id = $1 AND content_sha256 = $2")
            .bind(owner)
            .bind(sha256)
            .fetch_optional(pool)
            .await?,
    )
}

/// Where a page starts: strictly after this `(created_at, id)` in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAfter {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// Which folder a list or search is narrowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderFilter {
    /// Every document, wherever it is filed.
    Any,
    /// Those filed in no folder.
    Root,
    /// Those filed directly in this folder.
    In(Uuid),
}

impl FolderFilter {
    pub fn is_any(self) -> bool {
        self == Self::Any
    }

    /// The folder's id, bound as `$6` (null for `Any` and `Root`).
    pub(crate) fn id(self) -> Option<Uuid> {
        match self {
            Self::In(id) => Some(id),
            _ => None,
        }
    }

    /// The condition on `d.folder_id`; `$6` appears in each so its type is always known.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Self::Any => "AND $6::uuid IS NULL",
            Self::Root => "AND $6::uuid IS NULL AND d.folder_id IS NULL",
            Self::In(_) => "AND d.folder_id = $6::uuid",
        }
    }
}

/// What a list or a search is narrowed to. Bound as `$2`..`$6` by every query that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    pub folder: FolderFilter,
    /// Only documents with this topic.
    pub topic: Option<Uuid>,
    /// Only documents in this state (`pending`, `processing`, `classified`, `failed`).
    pub status: Option<String>,
    /// Uploaded at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Uploaded before this instant.
    pub to: Option<DateTime<Utc>>,
}

impl Default for Filters {
    fn default() -> Self {
        Self {
            folder: FolderFilter::Any,
            topic: None,
            status: None,
            from: None,
            to: None,
        }
    }
}

impl Filters {
    /// The conditions on `d` for `$2`..`$5` (the folder's is [`FolderFilter::sql`]).
    pub(crate) const SQL: &'static str = "
        AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM document_topics dt
                                          WHERE dt.document_id = d.id AND dt.topic_id = $2))
        AND ($3::text IS NULL OR d.status = $3)
        AND ($4::timestamptz IS NULL OR d.created_at >= $4)
        AND ($5::timestamptz IS NULL OR d.created_at < $5)";
}

/// One page, newest first, by keyset (stays fast deep into the list, unlike OFFSET). The
/// folder's condition is written into the statement, so each variant uses the
/// `(user_id, folder_id, created_at, id)` or `(user_id, created_at, id)` index.
pub async fn list(
    pool: &PgPool,
    owner: Uuid,
    filters: &Filters,
    after: Option<PageAfter>,
    limit: i64,
) -> Result<Vec<DocumentRow>> {
    let (filter, folder) = (Filters::SQL, filters.folder.sql());
    let sql = format!(
        "SELECT {COLUMNS} FROM documents d
         WHERE user_id = $1 {folder} {filter}
           AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8))
         ORDER BY created_at DESC, id DESC
         LIMIT $9"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(filters.topic)
        .bind(filters.status.as_deref())
        .bind(filters.from)
        .bind(filters.to)
        .bind(filters.folder.id())
        .bind(after.map(|a| a.created_at))
        .bind(after.map(|a| a.id))
        .bind(limit)
        .fetch_all(pool)
        .await?)
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

/// A document the caller may read — their own, or one shared with them — and its owner's
/// handle. The one query that decides read access (see `services::documents`).
#[derive(Debug, Clone, FromRow)]
pub struct ReadableRow {
    #[sqlx(flatten)]
    pub row: DocumentRow,
    pub owner_handle: String,
}

pub async fn get_readable(pool: &PgPool, caller: Uuid, id: Uuid) -> Result<Option<ReadableRow>> {
    let sql = format!(
        "SELECT {COLUMNS}, (SELECT handle FROM users WHERE users.id = documents.user_id) AS owner_handle
           FROM documents
          WHERE id = $2
            AND (user_id = $1
                 OR EXISTS (SELECT 1 FROM shares WHERE document_id = $2 AND recipient_id = $1))"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(caller)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// The document's extracted text (the caller has already been allowed to read it).
pub async fn extracted_text(pool: &PgPool, id: Uuid) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT extracted_text FROM documents WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(t,)| t))
}

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
           RETURNING object_key, size_bytes, storage_connection_id),
              released AS (
              UPDATE quotas SET used_bytes = greatest(used_bytes - gone.size_bytes, 0)
                FROM gone WHERE quotas.user_id = $1 AND gone.storage_connection_id IS NULL),
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

/// The owner's documents kept in `connection` (`None`: DocuVault's own store).
pub async fn kept_in(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    connection: Option<Uuid>,
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM documents
          WHERE user_id = $1 AND storage_connection_id IS NOT DISTINCT FROM $2
          ORDER BY created_at",
    )
    .bind(owner)
    .bind(connection)
    .fetch_all(db)
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
        "UPDATE documents SET topics_by_hand = true, topic_suggestions = '[]'
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
        "INSERT INTO document_topics (document_id, topic_id, source)
         SELECT $2, t.id, 'user' FROM topics t WHERE t.user_id = $1 AND t.id = ANY($3)",
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

/// The topics of the given documents, then the topics suggested for them (those that still
/// exist and are the owner's, best first), in one query for a whole page.
pub async fn topics_of(pool: &PgPool, document_ids: &[Uuid]) -> Result<Vec<DocumentTopicRow>> {
    Ok(sqlx::query_as(
        "SELECT dt.document_id, t.id, t.name, t.color, dt.score, dt.source, false AS suggested
           FROM document_topics dt JOIN topics t ON t.id = dt.topic_id
          WHERE dt.document_id = ANY($1)
         UNION ALL
         SELECT d.id, t.id, t.name, t.color, (s.value ->> 'score')::real, 'ai', true
           FROM documents d
          CROSS JOIN LATERAL jsonb_array_elements(d.topic_suggestions) s
           JOIN topics t ON t.user_id = d.user_id AND t.id = (s.value ->> 'topic_id')::uuid
          WHERE d.id = ANY($1) AND d.topic_suggestions <> '[]'::jsonb
          ORDER BY suggested, score DESC NULLS LAST, name",
    )
    .bind(document_ids)
    .fetch_all(pool)
    .await?)
}
