//! `document_activity`: a document's history for its owner. Uploads and the pipeline's results
//! are recorded by triggers (migration 0011); people's actions by [`record`].

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

/// What happened to a document, as stored in `document_activity.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ReclassifyRequested,
    Renamed,
    Moved,
    TopicsSet,
    Shared,
    ShareRevoked,
    Viewed,
    Downloaded,
    /// Its bytes were moved to another backend (`detail.to`: `vault` or the connection's name).
    StorageMoved,
    /// A move to another backend was given up (`detail.reason`).
    StorageMoveFailed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReclassifyRequested => "reclassify_requested",
            Self::Renamed => "renamed",
            Self::Moved => "moved",
            Self::TopicsSet => "topics_set",
            Self::Shared => "shared",
            Self::ShareRevoked => "share_revoked",
            Self::Viewed => "viewed",
            Self::Downloaded => "downloaded",
            Self::StorageMoved => "storage_moved",
            Self::StorageMoveFailed => "storage_move_failed",
        }
    }
}

pub async fn record(
    db: impl PgExecutor<'_>,
    document: Uuid,
    actor: Uuid,
    kind: Kind,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO document_activity (document_id, actor_id, kind, detail)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(document)
    .bind(actor)
    .bind(kind.as_str())
    .bind(detail)
    .execute(db)
    .await?;
    Ok(())
}

/// Records `kind` unless the same actor already has it on this document within `window`: a
/// recipient paging through a document is one view, not fifty.
pub async fn record_once_within(
    db: impl PgExecutor<'_>,
    document: Uuid,
    actor: Uuid,
    kind: Kind,
    window: std::time::Duration,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO document_activity (document_id, actor_id, kind)
         SELECT $1, $2, $3
          WHERE NOT EXISTS (
                SELECT 1 FROM document_activity
                 WHERE document_id = $1 AND actor_id = $2 AND kind = $3
                   AND created_at > now() - make_interval(secs => $4))",
    )
    .bind(document)
    .bind(actor)
    .bind(kind.as_str())
    .bind(window.as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct ActivityRow {
    pub id: i64,
    pub kind: String,
    pub actor_id: Option<Uuid>,
    /// The actor's handle (null for the system, or an account since deleted).
    pub actor_handle: Option<String>,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The owner's document's history, newest first; `before` is the last id of the previous page.
/// Empty if the owner has no such document.
pub async fn of_document(
    pool: &PgPool,
    owner: Uuid,
    document: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ActivityRow>> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.kind, a.actor_id, u.handle AS actor_handle, a.detail, a.created_at
           FROM document_activity a
           JOIN documents d ON d.id = a.document_id AND d.user_id = $1
           LEFT JOIN users u ON u.id = a.actor_id
          WHERE a.document_id = $2 AND ($3::bigint IS NULL OR a.id < $3)
          ORDER BY a.id DESC
          LIMIT $4",
    )
    .bind(owner)
    .bind(document)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
