//! Previews and thumbnails: a document's bytes for viewing in the browser (whole or by byte
//! range), and its first page's thumbnail — for the owner and for recipients, through the same
//! access check as every read (`Vault::readable`).
//!
//! `<img src>` and the PDF viewer cannot send an Authorization header, and an access token in a
//! URL would end up in logs; so they use short-lived media tokens instead: one per document for
//! a preview, one per user for thumbnails. Each is an HMAC that names its purpose and scope and
//! the user's token version ("sign out everywhere" ends them), and access is checked on every
//! request, so a revoked share stops working at once.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Vault;
use crate::db::activity;
use crate::db::documents::DocumentRow;
use crate::db::users;
use crate::error::{Error, Result};
use crate::storage::ByteStream;
use docuvault_domain::ObjectKey;

/// What a media token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// One document's bytes, inline.
    Preview(Uuid),
    /// The thumbnails of every document the user may read.
    Thumbnails,
}

impl Media {
    fn purpose_and_scope(self) -> (&'static str, Uuid) {
        match self {
            Self::Preview(id) => ("preview", id),
            Self::Thumbnails => ("thumbnails", Uuid::nil()),
        }
    }

    /// Previews are opened now; thumbnail links are reused by the list for a while, and stay
    /// the same within a clock hour so the browser's cache keeps the images.
    fn expiry(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Preview(_) => now + chrono::Duration::minutes(10),
            Self::Thumbnails => {
                let hour = now.timestamp() - now.timestamp().rem_euclid(3600);
                DateTime::from_timestamp(hour + 2 * 3600, 0).unwrap_or(now)
            }
        }
    }
}

/// Which bytes of a preview to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl Vault {
    /// A token for `media`, for a caller already authenticated, and when it stops working.
    pub async fn media_token(&self, caller: Uuid, media: Media) -> Result<(String, DateTime<Utc>)> {
        if let Media::Preview(id) = media {
            self.readable(caller, id).await?;
        }
        let state = users::auth_state(&self.db, caller)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let (purpose, scope) = media.purpose_and_scope();
        let exp = media.expiry(Utc::now());
        let token =
            self.tokens
                .media_token(purpose, caller, state.token_version, scope, exp.timestamp());
        Ok((token, exp))
    }

    /// The user a media token speaks for, if it is genuine, current and still theirs to use.
    pub async fn media_caller(&self, token: &str, media: Media) -> Result<Uuid> {
        let refused = || {
            Error::unauthorized(
                "invalid_media_token",
                "the link has expired or is not valid; open the document again",
            )
        };
        let (purpose, scope) = media.purpose_and_scope();
        let (user, version) = self
            .tokens
            .media_verify(token, purpose, scope)
            .ok_or_else(refused)?;
        let state = users::auth_state(&self.db, user)
            .await?
            .ok_or_else(refused)?;
        if !state.is_active || state.token_version != version {
            return Err(refused());
        }
        Ok(user)
    }

    /// The document to view, if the caller may read it; a recipient's viewing is recorded in
    /// the document's history.
    pub async fn preview_document(&self, caller: Uuid, id: Uuid) -> Result<DocumentRow> {
        let found = self.readable(caller, id).await?;
        if found.shared_by.is_some() {
            self.note_read(caller, id, activity::Kind::Viewed).await;
        }
        Ok(found.row)
    }

    /// The bytes of a document returned by [`Self::preview_document`], or a range of them
    /// (within its size: checked by the caller).
    pub async fn preview_bytes(
        &self,
        row: &DocumentRow,
        range: Option<ByteRange>,
    ) -> Result<ByteStream<'static>> {
        match range {
            Some(r) => {
                self.storage
                    .get_range(&row.object_key, r.start, r.end)
                    .await
            }
            None => self.storage.get_stream(&row.object_key).await,
        }
    }

    /// The document's thumbnail (a PNG), if it has one.
    pub async fn open_thumbnail(&self, caller: Uuid, id: Uuid) -> Result<ByteStream<'static>> {
        let found = self.readable(caller, id).await?;
        let key = found
            .row
            .thumbnail_key
            .ok_or(Error::NotFound("thumbnail"))?;
        self.store.get_stream(&ObjectKey::from_stored(key)).await
    }
}
