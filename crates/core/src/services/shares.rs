//! Sharing a document with another user by handle (to view, preview and download), taking it
//! back, "shared with me", and a document's history for its owner.
//!
//! Only the owner manages a document's shares; every change is scoped by owner in its query.
//! Read access for recipients is decided in one place, `Vault::readable`.

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use super::Vault;
use super::documents::{Document, invalid};
use crate::db::activity::{self, ActivityRow};
use crate::db::audit::{self, AuditEvent};
use crate::db::shares::{self as q, ShareRow, SharedAfter};
use crate::db::{documents, users};
use crate::error::{Error, Result};
use crate::events::Change;

/// Failed handle lookups allowed per user and window: enough for typos, too few to enumerate
/// who has an account here.
const LOOKUP_FAILURES: u32 = 20;
const LOOKUP_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A document shared with the caller, and when.
#[derive(Debug, Clone)]
pub struct Shared {
    pub document: Document,
    pub share_id: Uuid,
    pub shared_at: chrono::DateTime<chrono::Utc>,
}

pub struct SharedPage {
    pub items: Vec<Shared>,
    pub next: Option<SharedAfter>,
}

impl Vault {
    /// Shares the owner's document with the user called `handle`, to view. Sharing again with
    /// the same person is not an error: the existing share is returned (`created` false).
    pub async fn share_document(
        &self,
        owner: Uuid,
        document: Uuid,
        handle: &str,
        ip: Option<IpAddr>,
    ) -> Result<(ShareRow, bool)> {
        // The document first: a stranger learns nothing about handles from someone else's id.
        let doc = documents::get(&self.db, owner, document)
            .await?
            .ok_or(Error::NotFound("document"))?;
        let subject = owner.to_string();
        self.limiter
            .reserve("share_lookup", &subject, LOOKUP_FAILURES, LOOKUP_WINDOW)
            .await?;
        let recipient = match users::find_by_handle(&self.db, handle.trim()).await? {
            Some(u) if u.is_active => u,
            _ => {
                return Err(invalid(
                    "unknown_handle",
                    "there is no active user with that handle",
                ));
            }
        };
        // Not a failed lookup: the handle exists and was meant.
        self.limiter.give_back("share_lookup", &subject).await?;
        if recipient.id == owner {
            return Err(invalid(
                "cannot_share_with_self",
                "you cannot share a document with yourself",
            ));
        }
        let mut tx = self.db.begin().await?;
        let (share, created) = q::create(&mut tx, owner, document, recipient.id)
            .await?
            .ok_or(Error::NotFound("document"))?;
        if created {
            let detail =
                serde_json::json!({ "share_id": share.id, "recipient": share.recipient_handle });
            activity::record(&mut *tx, document, owner, activity::Kind::Shared, detail).await?;
            audit::record(
                &mut *tx,
                &AuditEvent {
                    event_type: "document_shared",
                    user_id: Some(owner),
                    actor_id: Some(owner),
                    ip,
                    metadata: serde_json::json!({
                        "document_id": document, "share_id": share.id, "recipient_id": recipient.id,
                    }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        if created {
            tracing::info!(document_id = %document, share_id = %share.id, "document shared");
            // The recipient's open "Shared with me" page refreshes.
            self.tell(recipient.id, document, Change::Created, None)
                .await;
            let from = users::get(&self.db, owner)
                .await?
                .map(|u| u.handle)
                .unwrap_or_default();
            let link = self.app_link(&format!("/documents/{document}"));
            let filename = doc.filename;
            self.notify(
                recipient.id,
                super::notify::Notice::DocumentShared,
                format!("{from} shared \"{filename}\" with you on DocuVault"),
                |handle| {
                    format!(
                        "Hello {handle},\n\n{from} shared the document \"{filename}\" with you to view:\n{link}\n\n\
                         It is also under \"Shared with me\". You get this email because you asked for it on your \
                         Account page.\n"
                    )
                },
            )
            .await;
        }
        Ok((share, created))
    }

    /// The owner's shares of a document.
    pub async fn shares_of(&self, owner: Uuid, document: Uuid) -> Result<Vec<ShareRow>> {
        documents::get(&self.db, owner, document)
            .await?
            .ok_or(Error::NotFound("document"))?;
        q::of_document(&self.db, owner, document).await
    }

    /// Takes a share back. It takes effect at once: the recipient's next request for the
    /// document, a download link or a preview is refused.
    pub async fn revoke_share(
        &self,
        owner: Uuid,
        document: Uuid,
        share: Uuid,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let gone = q::revoke(&mut tx, owner, document, share)
            .await?
            .ok_or(Error::NotFound("share"))?;
        let detail = serde_json::json!({ "share_id": share, "recipient": gone.recipient_handle });
        activity::record(
            &mut *tx,
            document,
            owner,
            activity::Kind::ShareRevoked,
            detail,
        )
        .await?;
        audit::record(
            &mut *tx,
            &AuditEvent {
                event_type: "share_revoked",
                user_id: Some(owner),
                actor_id: Some(owner),
                ip,
                metadata: serde_json::json!({
                    "document_id": document, "share_id": share, "recipient_id": gone.recipient_id,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(document_id = %document, share_id = %share, "share revoked");
        self.tell(gone.recipient_id, document, Change::Deleted, None)
            .await;
        Ok(())
    }

    /// The documents shared with the caller, most recently shared first.
    pub async fn shared_with_me(
        &self,
        recipient: Uuid,
        after: Option<SharedAfter>,
        limit: i64,
    ) -> Result<SharedPage> {
        let limit = limit.clamp(1, super::documents::MAX_PAGE_SIZE);
        let mut rows = q::shared_with(&self.db, recipient, after, limit + 1).await?;
        let next = super::cut_page(&mut rows, limit).map(|r| SharedAfter {
            shared_at: r.shared_at,
            share_id: r.share_id,
        });
        let meta: Vec<_> = rows
            .iter()
            .map(|r| (r.owner_handle.clone(), r.share_id, r.shared_at))
            .collect();
        let docs = self
            .with_topics(rows.into_iter().map(|r| r.row).collect())
            .await?;
        let items = docs
            .into_iter()
            .zip(meta)
            .map(|(mut document, (owner, share_id, shared_at))| {
                document.shared_by = Some(owner);
                Shared {
                    document,
                    share_id,
                    shared_at,
                }
            })
            .collect();
        Ok(SharedPage { items, next })
    }

    /// The owner's document's history, newest first, a page at a time; the `before` of the next
    /// page, if there is one.
    pub async fn activity_of(
        &self,
        owner: Uuid,
        document: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<ActivityRow>, Option<i64>)> {
        documents::get(&self.db, owner, document)
            .await?
            .ok_or(Error::NotFound("document"))?;
        let limit = limit.clamp(1, super::documents::MAX_PAGE_SIZE);
        let mut rows = activity::of_document(&self.db, owner, document, before, limit + 1).await?;
        let next = super::cut_page(&mut rows, limit).map(|r| r.id);
        Ok((rows, next))
    }
}
