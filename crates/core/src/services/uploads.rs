//! Presigned uploads: the client sends a document's bytes straight to the object store, so a
//! large file never passes through the API.
//!
//! 1. **Reserve** (`reserve_upload`): the size is charged to the quota (the same conditional
//!    statement as a direct upload) and the client gets URLs signed for exactly that many bytes
//!    — one PUT, or one per part above `PRESIGNED_PART_BYTES`.
//! 2. **Complete** (`complete_upload`): the parts are joined, the object's size must be the
//!    reserved size and its first bytes must be of the announced type (the same sniffing as a
//!    direct upload); then one statement turns the reservation into the document (no second
//!    charge) and it is queued. Completing again answers the same document.
//! 3. Anything else ends in a **release**: a mismatch at completion, a cancel, or the workers'
//!    sweeper once the reservation expired. One statement gives the size back and puts the
//!    object (and any multipart upload) on the clean-up list, due now.

use chrono::{DateTime, Utc};
use url::Url;
use uuid::Uuid;

use super::Vault;
use super::documents::{Document, check_claims, invalid};
use crate::db::uploads::{self as q, NewUpload, Released, UploadRow};
use crate::error::{Error, Result};
use crate::events::Change;
use crate::storage::MultipartOutcome;
use docuvault_domain::file_kind::{SNIFF_LEN, ZIP_SNIFF_LEN};
use docuvault_domain::{FileKind, Filename, ObjectKey};

/// At most this many parts: larger files get larger parts (S3 allows 10,000; a thousand URLs
/// is already a large answer).
const MAX_PARTS: u64 = 1000;
/// An expired reservation's object is deleted this long after the expiry even if no sweeper
/// released the reservation by then.
const CLEANUP_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// What a client asks to upload.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub filename: String,
    pub size: u64,
    /// The MIME type the client announces; with the filename's extension it must name a type
    /// we accept, and the bytes must turn out to be of it.
    pub content_type: Option<String>,
}

/// One PUT the client makes: `size` bytes of the file from `offset`, to `url`.
#[derive(Debug, Clone)]
pub struct PartUrl {
    pub number: u16,
    pub offset: u64,
    pub size: u64,
    pub url: Url,
}

/// A reservation as the client sees it.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: Uuid,
    pub size: u64,
    pub part_bytes: u64,
    pub expires_at: DateTime<Utc>,
    pub parts: Vec<PartUrl>,
}

/// How a completion ended: the document was created now, or by an earlier completion.
#[derive(Debug)]
pub enum Completion {
    Created(Document),
    AlreadyCompleted(Document),
}

impl Vault {
    /// Reserves quota for an upload of `req.size` bytes and signs the URLs to send it with.
    pub async fn reserve_upload(&self, owner: Uuid, req: UploadRequest) -> Result<Reservation> {
        let filename = Filename::sanitize(&req.filename);
        if req.size == 0 {
            return Err(Error::bad_request("empty_file", "the file is empty"));
        }
        if req.size > self.max_upload_bytes {
            return Err(Error::TooLarge {
                limit: self.max_upload_bytes,
            });
        }
        let kind = announced_kind(req.content_type.as_deref(), &filename)?;
        // Direct transfers go to DocuVault's own store; an owner who keeps new documents in
        // their cloud uploads through the API (the app falls back to it on this answer).
        if crate::db::cloud_connections::default_of(&self.db, owner)
            .await?
            .is_some()
        {
            return Err(Error::conflict(
                "direct_upload_unavailable",
                "your new documents are kept in your own cloud storage: upload through POST /api/documents/upload",
            ));
        }
        self.check_room(owner, req.size).await?;

        let id = Uuid::new_v4();
        let key = ObjectKey::for_document(owner, id, kind);
        let part_bytes = part_size(req.size, self.direct_uploads.part_bytes);
        let multipart_id = if req.size > part_bytes {
            Some(self.store.create_multipart(&key, kind.mime()).await?)
        } else {
            None
        };
        let new = NewUpload {
            id,
            owner,
            filename: filename.as_str(),
            content_type: kind.mime(),
            size_bytes: to_i64(req.size)?,
            object_key: key.as_str(),
            multipart_id: multipart_id.as_deref(),
            part_bytes: to_i64(part_bytes)?,
            expires_in: self.direct_uploads.ttl,
            cleanup_grace: CLEANUP_GRACE,
        };
        let reserved = {
            let _queued = self.quota_gates.enter(owner).await;
            q::reserve(&self.db, &new).await
        };
        let row = match reserved {
            Ok(Some(row)) => row,
            failed => {
                // Nothing was recorded: the multipart upload (no parts yet) is ours to drop.
                if let Some(upload_id) = &multipart_id
                    && let Err(e) = self.store.abort_multipart(&key, upload_id).await
                {
                    tracing::warn!(object_key = %key, error = %e.chain(), "could not abort an unreserved multipart upload");
                }
                return Err(match failed {
                    Err(e) => e,
                    _ => self.quota_exceeded(owner, new.size_bytes).await,
                });
            }
        };
        tracing::info!(upload_id = %id, size_bytes = req.size, parts = part_count(req.size, part_bytes), "upload reserved");
        Ok(self.reservation(&row, &key, req.size, part_bytes))
    }

    fn reservation(
        &self,
        row: &UploadRow,
        key: &ObjectKey,
        size: u64,
        part_bytes: u64,
    ) -> Reservation {
        let ttl = self.direct_uploads.ttl;
        let parts = match &row.multipart_id {
            None => vec![PartUrl {
                number: 1,
                offset: 0,
                size,
                url: self.store.presigned_put(key, ttl, size),
            }],
            Some(upload_id) => (0..part_count(size, part_bytes))
                .map(|i| {
                    let offset = u64::from(i) * part_bytes;
                    let len = part_bytes.min(size - offset);
                    PartUrl {
                        number: i + 1,
                        offset,
                        size: len,
                        url: self.store.presigned_part(key, upload_id, i + 1, ttl, len),
                    }
                })
                .collect(),
        };
        Reservation {
            id: row.id,
            size,
            part_bytes,
            expires_at: row.expires_at,
            parts,
        }
    }

    /// Checks what the client sent and turns the reservation into its document (queued for
    /// processing). Safe to call again: a completed upload answers its document.
    pub async fn complete_upload(&self, owner: Uuid, id: Uuid) -> Result<Completion> {
        let up = q::get(&self.db, owner, id)
            .await?
            .ok_or(Error::NotFound("upload"))?;
        if up.completed_at.is_some() {
            return self.completed_before(owner, id).await;
        }
        if up.expires_at <= Utc::now() {
            self.discard_upload(owner, id).await;
            return Err(expired());
        }
        let key = ObjectKey::from_stored(up.object_key.clone());
        let size = u64::try_from(up.size_bytes).unwrap_or(0);
        let part_bytes = u64::try_from(up.part_bytes).unwrap_or(1).max(1);
        if let Some(upload_id) = &up.multipart_id {
            let parts = part_count(size, part_bytes);
            match self
                .store
                .complete_multipart(&key, upload_id, parts)
                .await?
            {
                // Unknown: completed by a concurrent request (or gone); the object decides.
                MultipartOutcome::Completed | MultipartOutcome::Unknown => {}
                MultipartOutcome::Incomplete { present } => {
                    return Err(Error::conflict(
                        "upload_incomplete",
                        format!(
                            "{present} of {parts} parts have arrived; send the rest, then complete again"
                        ),
                    ));
                }
                MultipartOutcome::Rejected(reason) => {
                    self.discard_upload(owner, id).await;
                    return Err(invalid(
                        "upload_rejected",
                        format!(
                            "the object store could not join the parts ({reason}); the upload was cancelled"
                        ),
                    ));
                }
            }
        }
        let Some(stored) = self.store.size_of(&key).await? else {
            return Err(Error::conflict(
                "upload_incomplete",
                "the file has not arrived in the object store yet; send it, then complete again",
            ));
        };
        if stored != size {
            self.discard_upload(owner, id).await;
            return Err(invalid(
                "size_mismatch",
                format!(
                    "{stored} bytes arrived but {size} were reserved; the upload was cancelled"
                ),
            ));
        }
        let mut head = self.store.read_prefix(&key, SNIFF_LEN).await?;
        if docuvault_domain::office::is_zip(&head) && head.len() == SNIFF_LEN {
            head = self.store.read_prefix(&key, ZIP_SNIFF_LEN).await?;
        }
        let checked = FileKind::sniff(&head)
            .ok_or_else(|| Error::UnsupportedType {
                code: "unsupported_file_type",
                message: docuvault_domain::file_kind::refusal(&head).into(),
            })
            .and_then(|kind| {
                check_claims(
                    kind,
                    Some(&up.content_type),
                    &Filename::sanitize(&up.filename),
                )
            });
        if let Err(e) = checked {
            self.discard_upload(owner, id).await;
            return Err(e);
        }

        match q::complete(&self.db, owner, id).await? {
            Some(row) => {
                tracing::info!(document_id = %id, size_bytes = size, "presigned upload completed");
                self.publish_job(id).await;
                self.tell(owner, id, Change::Created, Some("pending")).await;
                Ok(Completion::Created(Document {
                    row,
                    topics: Vec::new(),
                    suggestions: Vec::new(),
                    shared_by: None,
                }))
            }
            // A concurrent completion won, or the reservation expired meanwhile.
            None => match q::get(&self.db, owner, id).await? {
                Some(up) if up.completed_at.is_some() => self.completed_before(owner, id).await,
                Some(_) => {
                    self.discard_upload(owner, id).await;
                    Err(expired())
                }
                None => Err(expired()),
            },
        }
    }

    async fn completed_before(&self, owner: Uuid, id: Uuid) -> Result<Completion> {
        let (doc, _) = self.get_document(owner, id).await?;
        Ok(Completion::AlreadyCompleted(doc))
    }

    /// Cancels an open reservation: its quota is given back and whatever was sent is deleted.
    pub async fn cancel_upload(&self, owner: Uuid, id: Uuid) -> Result<()> {
        let released = {
            let _queued = self.quota_gates.enter(owner).await;
            q::release(&self.db, owner, id).await?
        };
        match released {
            Some(r) => {
                tracing::info!(upload_id = %id, "upload cancelled");
                self.drop_sent(r).await;
                Ok(())
            }
            None => match q::get(&self.db, owner, id).await? {
                Some(_) => Err(Error::conflict(
                    "upload_completed",
                    "the upload is complete: delete its document instead",
                )),
                None => Err(Error::NotFound("upload")),
            },
        }
    }

    /// Releases a reservation after a failed check; best effort, the sweeper releases it at
    /// its expiry otherwise.
    async fn discard_upload(&self, owner: Uuid, id: Uuid) {
        let released = {
            let _queued = self.quota_gates.enter(owner).await;
            q::release(&self.db, owner, id).await
        };
        match released {
            Ok(Some(r)) => self.drop_sent(r).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(upload_id = %id, error = %e.chain(), "reservation left for the sweeper")
            }
        }
    }

    /// Deletes what a released reservation had stored; what fails stays due on the clean-up
    /// list for a worker.
    async fn drop_sent(&self, r: Released) {
        let key = ObjectKey::from_stored(r.object_key);
        if let Some(upload_id) = &r.multipart_id
            && let Err(e) = self.store.abort_multipart(&key, upload_id).await
        {
            // The entry stays due; the clean-up aborts and deletes later.
            tracing::debug!(object_key = %key, error = %e.chain(), "upload's parts left for the clean-up");
            return;
        }
        self.drop_scheduled_object(&key).await;
    }
}

/// The type the client announces, from its MIME type or else its filename's extension; both,
/// when both name one, must agree.
fn announced_kind(content_type: Option<&str>, filename: &Filename) -> Result<FileKind> {
    let by_type = content_type.and_then(FileKind::from_mime);
    let by_name = filename
        .extension()
        .as_deref()
        .and_then(FileKind::from_extension);
    match (by_type, by_name) {
        (Some(t), Some(n)) if t != n => Err(Error::UnsupportedType {
            code: "content_type_mismatch",
            message: format!(
                "the content type says {} but the file extension says {}",
                t.mime(),
                n.mime()
            ),
        }),
        (Some(kind), _) | (None, Some(kind)) => Ok(kind),
        (None, None) => Err(Error::UnsupportedType {
            code: "unsupported_file_type",
            message: "name the file's type (content_type, or a filename ending in .pdf, .txt, .png, .jpg, .tif, .docx, .xlsx, .pptx, .odt, .ods, .odp or .rtf)".into(),
        }),
    }
}

/// The part size for a file of `size` bytes: the configured one, larger if the file would
/// otherwise need more than [`MAX_PARTS`] parts.
fn part_size(size: u64, configured: u64) -> u64 {
    configured.max(size.div_ceil(MAX_PARTS))
}

fn part_count(size: u64, part_bytes: u64) -> u16 {
    u16::try_from(size.div_ceil(part_bytes.max(1)).max(1)).unwrap_or(u16::MAX)
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::bad_request("invalid_size", "the size is too large"))
}

fn expired() -> Error {
    Error::conflict(
        "upload_expired",
        "the upload's time ran out and its reservation was released; start a new upload",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_in_at_most_max_parts() {
        let mib = 1024 * 1024;
        assert_eq!(part_size(10 * mib, 16 * mib), 16 * mib);
        assert_eq!(part_count(10 * mib, 16 * mib), 1);
        assert_eq!(part_count(16 * mib, 16 * mib), 1);
        assert_eq!(part_count(16 * mib + 1, 16 * mib), 2);
        let huge = 100_000 * mib;
        let p = part_size(huge, 16 * mib);
        assert!(u64::from(part_count(huge, p)) <= MAX_PARTS);
        assert!(p * u64::from(part_count(huge, p)) >= huge);
    }

    #[test]
    fn the_announced_type_comes_from_the_type_or_the_name() {
        let pdf = Filename::sanitize("a.pdf");
        let odd = Filename::sanitize("a.dat");
        assert_eq!(announced_kind(None, &pdf).ok(), Some(FileKind::Pdf));
        assert_eq!(
            announced_kind(Some("text/plain"), &odd).ok(),
            Some(FileKind::PlainText)
        );
        assert!(announced_kind(Some("text/plain"), &pdf).is_err());
        assert!(announced_kind(Some("application/octet-stream"), &odd).is_err());
    }
}
