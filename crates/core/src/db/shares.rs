//! Queries on `shares`: a document shared by its owner with another user, to view.
//!
//! Every write is scoped by owner; the composite key `(document_id, owner_id)` →
//! `documents (id, user_id)` makes the database refuse a share of someone else's document.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::documents::{COLUMNS, DocumentRow};
use crate::Result;

/// A share as its owner sees it.
#[derive(Debug, Clone, FromRow)]
pub struct ShareRow {
    pub id: Uuid,
    pub document_id: Uuid,
    pub recipient_id: Uuid,
    pub recipient_handle: String,
    pub permission: String,
    pub created_at: DateTime<Utc>,
}

const SHARE_COLUMNS: &str =
    "s.id, s.document_id, s.recipient_id, u.handle AS recipient_handle, s.permission, s.created_at";

/// Shares the owner's document with `recipient` (to view). `Some((share, created))`: the share,
/// new or as it already was; `None`: the owner has no such document.
pub async fn create(
    tx: &mut PgConnection,
    owner: Uuid,
    document: Uuid,
    recipient: Uuid,
) -> Result<Option<(ShareRow, bool)>> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO shares (document_id, owner_id, recipient_id)
         SELECT id, user_id, $3 FROM documents WHERE id = $2 AND user_id = $1
         ON CONFLICT (document_id, recipient_id) DO NOTHING
         RETURNING id",
    )
    .bind(owner)
    .bind(document)
    .bind(recipient)
    .fetch_optional(&mut *tx)
    .await?;
    let sql = format!(
        "SELECT {SHARE_COLUMNS} FROM shares s JOIN users u ON u.id = s.recipient_id
          WHERE s.owner_id = $1 AND s.document_id = $2 AND s.recipient_id = $3"
    );
    let row: Option<ShareRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(document)
        .bind(recipient)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.map(|r| (r, inserted.is_some())))
}

/// The owner's shares of one document, oldest first.
pub async fn of_document(pool: &PgPool, owner: Uuid, document: Uuid) -> Result<Vec<ShareRow>> {
    let sql = format!(
        "SELECT {SHARE_COLUMNS} FROM shares s JOIN users u ON u.id = s.recipient_id
          WHERE s.owner_id = $1 AND s.document_id = $2
          ORDER BY s.created_at, s.id"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(document)
        .fetch_all(pool)
        .await?)
}

/// Takes a share back; the revoked share, if the owner had it.
pub async fn revoke(
    tx: &mut PgConnection,
    owner: Uuid,
    document: Uuid,
    share: Uuid,
) -> Result<Option<ShareRow>> {
    let sql = format!(
        "WITH gone AS (
              DELETE FROM shares WHERE owner_id = $1 AND document_id = $2 AND id = $3
           RETURNING *)
         SELECT {SHARE_COLUMNS} FROM gone s JOIN users u ON u.id = s.recipient_id"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(document)
        .bind(share)
        .fetch_optional(&mut *tx)
        .await?)
}

/// A document shared with the caller: the document, who shared it, and when.
#[derive(Debug, Clone, FromRow)]
pub struct SharedRow {
    #[sqlx(flatten)]
    pub row: DocumentRow,
    pub owner_handle: String,
    pub share_id: Uuid,
    pub shared_at: DateTime<Utc>,
}

/// Where a "shared with me" page starts: strictly after this share in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedAfter {
    pub shared_at: DateTime<Utc>,
    pub share_id: Uuid,
}

/// One page of the documents shared with `recipient`, most recently shared first, by keyset
/// over `(recipient_id, created_at, id)`.
pub async fn shared_with(
    pool: &PgPool,
    recipient: Uuid,
    after: Option<SharedAfter>,
    limit: i64,
) -> Result<Vec<SharedRow>> {
    let sql = format!(
        "SELECT d.*, u.handle AS owner_handle, s.id AS share_id, s.created_at AS shared_at
           FROM shares s
           JOIN LATERAL (SELECT {COLUMNS} FROM documents WHERE id = s.document_id) d ON true
           JOIN users u ON u.id = s.owner_id
          WHERE s.recipient_id = $1
            AND ($2::timestamptz IS NULL OR (s.created_at, s.id) < ($2, $3))
          ORDER BY s.created_at DESC, s.id DESC
          LIMIT $4"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(recipient)
        .bind(after.map(|a| a.shared_at))
        .bind(after.map(|a| a.share_id))
        .bind(limit)
        .fetch_all(pool)
        .await?)
}
