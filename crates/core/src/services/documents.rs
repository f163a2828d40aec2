//! Documents: upload (sniff, stream to the object store, then record), list, read, download,
//! delete. The invariant kept on every path: no row without its object, and no object left
//! behind when a request fails (an object whose row is gone is always in `object_cleanup`
//! until it is deleted).

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, stream};
use uuid::Uuid;

use super::Vault;
use crate::db::activity;
use crate::db::documents::{self as q, DocumentRow, Filters, FolderFilter, NewDocument, PageAfter};
use crate::db::object_cleanup as cleanup;
use crate::db::quotas;
use crate::error::{Error, Result};
use crate::events::Change;
use crate::storage::ByteStream;
use docuvault_domain::file_kind::{SNIFF_LEN, ZIP_SNIFF_LEN};
use docuvault_domain::filename::content_disposition;
use docuvault_domain::{FileKind, Filename, ObjectKey};

/// A topic as shown on a document.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRef {
    pub id: Uuid,
    pub name: String,
    pub color: String,
    /// The classifier's similarity, when it gave one.
    pub score: Option<f32>,
    /// `ai` or `user`.
    pub source: String,
}

/// A document with its topics, as the API shows it.
#[derive(Debug, Clone)]
pub struct Document {
    pub row: DocumentRow,
    pub topics: Vec<TopicRef>,
    /// The classifier's best guesses when it was not sure enough to assign a topic.
    pub suggestions: Vec<TopicRef>,
    /// The owner's handle when the document is shared with the caller; `None`: the caller's own.
    pub shared_by: Option<String>,
}

/// What the client sent: the raw filename and content type it claimed, and the bytes.
pub struct Upload<'a> {
    pub filename: Option<String>,
    pub declared_type: Option<String>,
    /// The size the client announced (at least this many bytes are coming), if it did: an
    /// upload that cannot fit in the quota is refused before any byte is stored.
    pub announced_bytes: Option<u64>,
    /// The content's SHA-256 as an importer computed it before sending (the watch folder, mail
    /// ingest): recorded with the row, so the same content is imported once per user
    /// (`409 already_imported`). `None` for uploads by people.
    pub content_sha256: Option<[u8; 32]>,
    pub body: ByteStream<'a>,
}

/// A person's edits to a document; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DocumentChanges {
    pub filename: Option<String>,
    /// Exactly these topics, set by hand (an empty list: none).
    pub topic_ids: Option<Vec<Uuid>>,
    /// File it in this folder (`Some(None)`: the root).
    pub folder_id: Option<Option<Uuid>>,
}

/// More topics than anyone files one document under; bounds the check and the insert.
pub const MAX_TOPICS_PER_DOCUMENT: usize = 100;

/// A document the caller may read, and who shared it with them (`None`: their own).
pub(super) struct Readable {
    pub row: DocumentRow,
    pub shared_by: Option<String>,
}

pub struct Page {
    pub items: Vec<Document>,
    pub next: Option<PageAfter>,
}

pub const MAX_PAGE_SIZE: i64 = 100;
/// How long a presigned download URL works: long enough to start a download, short enough
/// that a leaked link is soon useless.
pub const DOWNLOAD_URL_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// How long an upload's object may exist without its document row before it counts as an
/// orphan (longer than any upload takes).
const ORPHAN_AFTER: std::time::Duration = std::time::Duration::from_secs(6 * 3600);
/// An upload does not wait longer than this for Redis; the sweeper covers a slow or down Redis.
const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

impl Vault {
    /// Stores an upload and records it as `pending`. Errors leave nothing behind.
    pub async fn upload(&self, owner: Uuid, upload: Upload<'_>) -> Result<Document> {
        // The owner's own cloud, if they chose one for new uploads; only DocuVault's own store
        // counts against the quota.
        let cloud = crate::db::cloud_connections::default_of(&self.db, owner).await?;
        if let Some(announced) = upload.announced_bytes
            && cloud.is_none()
        {
            self.check_room(owner, announced).await?;
        }
        let filename = Filename::sanitize(upload.filename.as_deref().unwrap_or(""));
        let mut body = upload.body;
        let (head, at_eof) = sniff_head(&mut body).await?;
        if head.is_empty() {
            return Err(Error::bad_request("empty_file", "the file is empty"));
        }
        if head.len() as u64 > self.max_upload_bytes {
            return Err(Error::TooLarge {
                limit: self.max_upload_bytes,
            });
        }
        let kind = FileKind::sniff(&head).ok_or_else(|| Error::UnsupportedType {
            code: "unsupported_file_type",
            message: docuvault_domain::file_kind::refusal(&head).into(),
        })?;
        check_claims(kind, upload.declared_type.as_deref(), &filename)?;

        let id = Uuid::new_v4();
        let rest = if at_eof {
            stream::empty().boxed()
        } else {
            body
        };
        let limited = limit_size(
            stream::once(async move { Ok(head) }).chain(rest).boxed(),
            self.max_upload_bytes,
        );
        let (key, size) = match cloud {
            None => self.store_in_vault(owner, id, kind, limited).await?,
            Some(connection) => {
                let path = super::cloud::cloud_path(None, filename.as_str(), id);
                let locator = crate::storage::Location::cloud(connection, &path);
                // As below; a server that went away mid-upload may keep a cut-off file, which
                // the clean-up deletes once it answers again.
                cleanup::schedule(&self.db, &locator, ORPHAN_AFTER).await?;
                let (found_by, size) = self
                    .storage
                    .put_cloud(connection, &path, kind.mime(), limited, None)
                    .await?;
                (ObjectKey::from_stored(found_by), size)
            }
        };

        let new = NewDocument {
            id,
            owner,
            filename: filename.as_str(),
            storage_connection_id: cloud,
            object_key: key.as_str(),
            content_type: kind.mime(),
            size_bytes: i64::try_from(size).map_err(|_| Error::TooLarge {
                limit: self.max_upload_bytes,
            })?,
            content_sha256: upload.content_sha256.as_ref().map(<[u8; 32]>::as_slice),
        };
        // The row is the job (status `pending`, due now): one statement records both, in the
        // transaction that charges the quota.
        match self.record_charged(&new).await {
            Ok(row) => {
                tracing::info!(document_id = %id, size_bytes = size, content_type = kind.mime(), "document uploaded");
                self.publish_job(id).await;
                self.tell(owner, id, Change::Created, Some("pending")).await;
                Ok(Document {
                    row,
                    topics: Vec::new(),
                    suggestions: Vec::new(),
                    shared_by: None,
                })
            }
            Err(e) => {
                self.delete_object_after_failure(&key).await;
                Err(e)
            }
        }
    }

    /// Stores an upload's bytes in DocuVault's own store; the key and the size.
    async fn store_in_vault(
        &self,
        owner: Uuid,
        id: Uuid,
        kind: FileKind,
        body: ByteStream<'_>,
    ) -> Result<(ObjectKey, u64)> {
        let key = ObjectKey::for_document(owner, id, kind);
        // Recorded before the bytes are stored: if this process dies before the document row
        // exists, a worker deletes the object later (the row's INSERT removes this entry).
        cleanup::schedule(&self.db, key.as_str(), ORPHAN_AFTER).await?;
        match self.store.put_stream(&key, kind.mime(), body).await {
            Ok(size) => Ok((key, size)),
            Err(e) => {
                // Nothing is stored under the key (put_stream's contract).
                if let Err(e) = cleanup::forget(&self.db, key.as_str()).await {
                    tracing::debug!(error = %e.chain(), "cleanup entry left for the worker");
                }
                Err(e)
            }
        }
    }

    /// Charges the owner's quota and records the document atomically: both or neither.
    async fn record_charged(&self, new: &NewDocument<'_>) -> Result<DocumentRow> {
        let inserted = {
            let _queued = self.quota_gates.enter(new.owner).await;
            q::insert_charged(&self.db, new).await?
        };
        match inserted {
            Some(row) => Ok(row),
            None => Err(self.quota_exceeded(new.owner, new.size_bytes).await),
        }
    }

    /// Refuses at once an upload announced as larger than what is left of the quota (a read,
    /// not a charge: the charge at the end is what holds).
    pub(super) async fn check_room(&self, owner: Uuid, bytes: u64) -> Result<()> {
        let quota = quotas::get(&self.db, owner)
            .await?
            .ok_or(Error::NotFound("quota"))?;
        let free = u64::try_from(quota.limit_bytes - quota.used_bytes).unwrap_or(0);
        if bytes > free {
            return Err(Error::QuotaExceeded {
                used: quota.used_bytes,
                limit: quota.limit_bytes,
                needed: bytes,
            });
        }
        Ok(())
    }

    pub(super) async fn quota_exceeded(&self, owner: Uuid, needed: i64) -> Error {
        match quotas::get(&self.db, owner).await {
            Ok(Some(q)) => Error::QuotaExceeded {
                used: q.used_bytes,
                limit: q.limit_bytes,
                needed: u64::try_from(needed).unwrap_or(0),
            },
            Ok(None) => Error::NotFound("quota"),
            Err(e) => e,
        }
    }

    /// The owner's storage: used and total.
    pub async fn quota(&self, owner: Uuid) -> Result<quotas::Quota> {
        quotas::get(&self.db, owner)
            .await?
            .ok_or(Error::NotFound("quota"))
    }

    /// Hands a recorded job to the queue. The document is safe either way: if Redis cannot take
    /// it now, the job is marked unpublished and a worker's sweeper publishes it later.
    pub(super) async fn publish_job(&self, id: Uuid) {
        let published = match tokio::time::timeout(PUBLISH_TIMEOUT, self.queue.publish(id)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.chain(),
            Err(_) => "timed out".to_owned(),
        };
        tracing::warn!(document_id = %id, error = %published, "cannot queue the job now; the sweeper will");
        if let Err(e) = crate::db::pipeline::unpublish(&self.db, &[id]).await {
            tracing::warn!(document_id = %id, error = %e.chain(), "cannot mark the job unpublished; it is re-published after the visibility timeout");
        }
    }

    /// Renames a document and/or sets its topics by hand (kept through later classifications
    /// until the owner asks to reclassify). Every topic must be the owner's.
    pub async fn update_document(
        &self,
        owner: Uuid,
        id: Uuid,
        changes: DocumentChanges,
    ) -> Result<(Document, Option<String>)> {
        let row = q::get(&self.db, owner, id)
            .await?
            .ok_or(Error::NotFound("document"))?;
        let filename = changes
            .filename
            .as_deref()
            .map(|raw| checked_rename(raw, &row.content_type))
            .transpose()?;
        let topic_ids = changes.topic_ids.map(|mut ids| {
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        if let Some(ids) = &topic_ids {
            if ids.len() > MAX_TOPICS_PER_DOCUMENT {
                return Err(invalid(
                    "too_many_topics",
                    format!("a document has at most {MAX_TOPICS_PER_DOCUMENT} topics"),
                ));
            }
            let own = q::count_own_topics(&self.db, owner, ids).await?;
            if usize::try_from(own).ok() != Some(ids.len()) {
                return Err(invalid("unknown_topic", "every topic must be one of yours"));
            }
        }
        let mut tx = self.db.begin().await?;
        if let Some(name) = &filename {
            if q::rename(&mut *tx, owner, id, name.as_str())
                .await?
                .is_none()
            {
                return Err(Error::NotFound("document"));
            }
            let detail = serde_json::json!({ "from": row.filename, "to": name.as_str() });
            activity::record(&mut *tx, id, owner, activity::Kind::Renamed, detail).await?;
        }
        if let Some(ids) = &topic_ids {
            if !q::set_topics_by_hand(&mut tx, owner, id, ids).await? {
                return Err(Error::NotFound("document"));
            }
            let detail = serde_json::json!({ "topic_ids": ids });
            activity::record(&mut *tx, id, owner, activity::Kind::TopicsSet, detail).await?;
        }
        if let Some(folder) = changes.folder_id
            && folder != row.folder_id
        {
            if !q::move_to_folder(&mut *tx, owner, id, folder).await? {
                return Err(Error::NotFound("document"));
            }
            let detail = serde_json::json!({ "from": row.folder_id, "to": folder });
            activity::record(&mut *tx, id, owner, activity::Kind::Moved, detail).await?;
        }
        tx.commit().await?;
        let (doc, text) = self.get_document(owner, id).await?;
        tracing::info!(document_id = %id, renamed = filename.is_some(), topics_set = topic_ids.is_some(), "document edited");
        self.tell(owner, id, Change::Updated, Some(&doc.row.status))
            .await;
        Ok((doc, text))
    }

    /// Runs classification again (after topics or AI settings changed). The document must be
    /// finished (`classified` or `failed`); one in the pipeline already is a conflict.
    pub async fn reclassify(&self, owner: Uuid, id: Uuid) -> Result<(Document, Option<String>)> {
        if !crate::db::pipeline::requeue(&self.db, owner, id).await? {
            return match q::get(&self.db, owner, id).await? {
                None => Err(Error::NotFound("document")),
                Some(_) => Err(Error::Conflict {
                    code: "document_busy",
                    message: "the document is being processed; try again when it is finished"
                        .into(),
                }),
            };
        }
        tracing::info!(document_id = %id, "reclassification requested");
        let nothing = serde_json::json!({});
        if let Err(e) = activity::record(
            &self.db,
            id,
            owner,
            activity::Kind::ReclassifyRequested,
            nothing,
        )
        .await
        {
            tracing::warn!(document_id = %id, error = %e.chain(), "cannot record the document's activity");
        }
        self.publish_job(id).await;
        self.tell(owner, id, Change::Updated, Some("pending")).await;
        self.get_document(owner, id).await
    }

    /// Classifies again every finished document of the owner whose topics nobody set by hand;
    /// how many. The workers' sweeper queues them (in batches, so a large vault does not flood
    /// the queue from one request).
    pub async fn reclassify_unconfirmed(&self, owner: Uuid) -> Result<usize> {
        let ids = crate::db::pipeline::requeue_unconfirmed(&self.db, owner).await?;
        tracing::info!(owner = %owner, documents = ids.len(), "reclassification of unconfirmed documents requested");
        Ok(ids.len())
    }

    /// Called when the row could not be written: the object must not outlive the request.
    async fn delete_object_after_failure(&self, key: &ObjectKey) {
        self.drop_scheduled_object(key).await;
    }

    /// Deletes an object whose key is on the clean-up list, then forgets the entry. If the
    /// store cannot be reached now, the entry stays and a worker deletes the object once it is
    /// due — the request goes on either way.
    pub(super) async fn drop_scheduled_object(&self, key: &ObjectKey) {
        // The key says which backend (DocuVault's store, or the owner's cloud).
        match self.storage.delete(key.as_str()).await {
            Ok(()) => {
                if let Err(e) = cleanup::forget(&self.db, key.as_str()).await {
                    tracing::debug!(error = %e.chain(), "cleanup entry left for the worker");
                }
            }
            Err(e) => {
                tracing::warn!(object_key = %key, error = %e.chain(), "object left for the clean-up")
            }
        }
    }

    pub async fn list_documents(
        &self,
        owner: Uuid,
        filters: &Filters,
        after: Option<PageAfter>,
        limit: i64,
    ) -> Result<Page> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        self.check_filters(owner, filters).await?;
        // One extra row tells whether there is a next page without a COUNT.
        let mut rows = q::list(&self.db, owner, filters, after, limit + 1).await?;
        let next = super::cut_page(&mut rows, limit).map(|r| PageAfter {
            created_at: r.created_at,
            id: r.id,
        });
        let items = self.with_topics(rows).await?;
        Ok(Page { items, next })
    }

    /// A folder or topic named in a filter must be the caller's: 404 rather than an empty page,
    /// so a mistyped id is not mistaken for an empty folder.
    pub(super) async fn check_filters(&self, owner: Uuid, filters: &Filters) -> Result<()> {
        // Only whether it exists: counting a large folder's documents on every page made a
        // folder's list 10x slower than the flat list (bench: read latency).
        if let FolderFilter::In(folder) = filters.folder
            && !crate::db::folders::exists(&self.db, owner, folder).await?
        {
            return Err(Error::NotFound("folder"));
        }
        if let Some(topic) = filters.topic
            && q::count_own_topics(&self.db, owner, &[topic]).await? == 0
        {
            return Err(Error::NotFound("topic"));
        }
        Ok(())
    }

    /// The one place that decides whether the caller may read a document: theirs, or shared
    /// with them. Every read route (details, download, content, preview, thumbnail) goes
    /// through it; every change is owner-only and scoped by owner in its own query. Not
    /// found and not allowed are the same answer, so nothing tells a stranger it exists.
    pub(super) async fn readable(&self, caller: Uuid, id: Uuid) -> Result<Readable> {
        let found = q::get_readable(&self.db, caller, id)
            .await?
            .ok_or(Error::NotFound("document"))?;
        let shared_by = (found.row.user_id != caller).then_some(found.owner_handle);
        Ok(Readable {
            row: found.row,
            shared_by,
        })
    }

    /// Records that the caller read the document (a recipient's view, anyone's download),
    /// once per actor and window; a failure to record does not fail the read.
    pub(super) async fn note_read(&self, caller: Uuid, id: Uuid, kind: activity::Kind) {
        const WINDOW: std::time::Duration = std::time::Duration::from_secs(600);
        if let Err(e) = activity::record_once_within(&self.db, id, caller, kind, WINDOW).await {
            tracing::warn!(document_id = %id, error = %e.chain(), "cannot record the document's activity");
        }
    }

    /// The document (the caller's, or shared with them) and its text. A recipient's reading is
    /// recorded in the document's history.
    pub async fn get_document(&self, caller: Uuid, id: Uuid) -> Result<(Document, Option<String>)> {
        let found = self.readable(caller, id).await?;
        if found.shared_by.is_some() {
            self.note_read(caller, id, activity::Kind::Viewed).await;
        }
        let text = q::extracted_text(&self.db, id).await?;
        let shared_by = found.shared_by;
        let mut doc = self
            .with_topics(vec![found.row])
            .await?
            .pop()
            .ok_or(Error::NotFound("document"))?;
        doc.shared_by = shared_by;
        Ok((doc, text))
    }

    /// A short-lived URL from which the caller's browser downloads the document straight from
    /// the object store (as an attachment with its original name and type), and when it stops
    /// working. Access is checked when the URL is made: a share revoked later stops the next
    /// URL, not one already handed out (they last minutes).
    pub async fn download_url(
        &self,
        caller: Uuid,
        id: Uuid,
    ) -> Result<(String, chrono::DateTime<chrono::Utc>)> {
        let row = self.readable(caller, id).await?.row;
        self.note_read(caller, id, activity::Kind::Downloaded).await;
        if crate::storage::Location::parse(&row.object_key)
            .connection()
            .is_some()
        {
            // Kept in the owner's cloud: no store to sign for, so the bytes come through the
            // API, with a media token as for previews (a browser navigation sends no header).
            let (token, expires_at) = self
                .media_token(caller, super::preview::Media::Preview(id))
                .await?;
            // On this site, so relative: the app and API clients both know where that is.
            return Ok((
                format!("/api/documents/{id}/preview?token={token}&download=true"),
                expires_at,
            ));
        }
        // Taken before signing: the URL works at least until the time we state.
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(DOWNLOAD_URL_TTL)
                .unwrap_or_else(|_| chrono::Duration::minutes(5));
        let url = self.store.presigned_get(
            &ObjectKey::from_stored(row.object_key),
            DOWNLOAD_URL_TTL,
            Some(&content_disposition(&row.filename)),
            Some(&row.content_type),
        );
        Ok((url.into(), expires_at))
    }

    /// The document and a stream of its bytes.
    pub async fn open_content(
        &self,
        caller: Uuid,
        id: Uuid,
    ) -> Result<(DocumentRow, ByteStream<'static>)> {
        let row = self.readable(caller, id).await?.row;
        self.note_read(caller, id, activity::Kind::Downloaded).await;
        let body = self.storage.get_stream(&row.object_key).await?;
        Ok((row, body))
    }

    /// Deletes the row and, in the same statement, gives its size back to the owner's quota
    /// and schedules its object for deletion; then
    /// deletes the object. No transaction waits on the object store, and a crash or a store
    /// outage after the commit leaves the entry for a worker to finish.
    pub async fn delete_document(&self, owner: Uuid, id: Uuid) -> Result<()> {
        let key = {
            let _queued = self.quota_gates.enter(owner).await;
            q::delete_releasing(&self.db, owner, id).await?
        }
        .ok_or(Error::NotFound("document"))?;
        tracing::info!(document_id = %id, "document deleted");
        self.tell(owner, id, Change::Deleted, None).await;
        self.drop_scheduled_object(&ObjectKey::from_stored(key))
            .await;
        Ok(())
    }

    pub(super) async fn with_topics(&self, rows: Vec<DocumentRow>) -> Result<Vec<Document>> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        // Per document: (attached, suggested).
        let mut by_doc: HashMap<Uuid, (Vec<TopicRef>, Vec<TopicRef>)> = HashMap::new();
        if !ids.is_empty() {
            for t in q::topics_of(&self.db, &ids).await? {
                let lists = by_doc.entry(t.document_id).or_default();
                let list = if t.suggested {
                    &mut lists.1
                } else {
                    &mut lists.0
                };
                list.push(TopicRef {
                    id: t.id,
                    name: t.name,
                    color: t.color,
                    score: t.score,
                    source: t.source,
                });
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let (topics, suggestions) = by_doc.remove(&row.id).unwrap_or_default();
                Document {
                    row,
                    topics,
                    suggestions,
                    shared_by: None,
                }
            })
            .collect())
    }
}

/// Reads until `want` bytes or the end of the body; returns the bytes and whether it ended.
/// The start of an upload to recognise it by: `SNIFF_LEN` bytes, or `ZIP_SNIFF_LEN` of a ZIP
/// (an office file names its kind in entries that may come later), or more when a body chunk
/// was larger; and whether that is all there is.
async fn sniff_head(body: &mut ByteStream<'_>) -> Result<(Bytes, bool)> {
    let (head, at_eof) = read_head(body, SNIFF_LEN).await?;
    // The first read may already hold ZIP_SNIFF_LEN or more (one large chunk): then nothing
    // more is read. (A plain subtraction once overflowed here: a panic in debug builds, and in
    // release a wrapped length that would have read the whole upload into memory.)
    if at_eof || head.len() >= ZIP_SNIFF_LEN || !docuvault_domain::office::is_zip(&head) {
        return Ok((head, at_eof));
    }
    let (more, at_eof) = read_head(body, ZIP_SNIFF_LEN - head.len()).await?;
    Ok(([head, more].concat().into(), at_eof))
}

async fn read_head(body: &mut ByteStream<'_>, want: usize) -> Result<(Bytes, bool)> {
    let mut head = BytesMut::new();
    while head.len() < want {
        match body.next().await {
            Some(chunk) => head.extend_from_slice(&chunk?),
            None => return Ok((head.freeze(), true)),
        }
    }
    Ok((head.freeze(), false))
}

/// What the client claimed (MIME type, filename extension) must agree with the bytes; claims
/// that name no type we know (e.g. `application/octet-stream`, `.dat`) claim nothing.
pub(super) fn check_claims(
    kind: FileKind,
    declared_type: Option<&str>,
    filename: &Filename,
) -> Result<()> {
    let mismatch = |claimed: FileKind, source: &str| Error::UnsupportedType {
        code: "content_type_mismatch",
        message: format!(
            "the {source} says {} but the content is {}",
            claimed.mime(),
            kind.mime()
        ),
    };
    if let Some(claimed) = declared_type.and_then(FileKind::from_mime)
        && claimed != kind
    {
        return Err(mismatch(claimed, "declared content type"));
    }
    if let Some(claimed) = filename
        .extension()
        .as_deref()
        .and_then(FileKind::from_extension)
        && claimed != kind
    {
        return Err(mismatch(claimed, "file extension"));
    }
    Ok(())
}

/// A new name for a document of `content_type`: not blank, and not with an extension that names
/// another type than the document's (downloads would be opened with the wrong program).
fn checked_rename(raw: &str, content_type: &str) -> Result<Filename> {
    if raw.trim().is_empty() {
        return Err(invalid("invalid_filename", "the filename may not be empty"));
    }
    let name = Filename::sanitize(raw);
    if let Some(claimed) = name
        .extension()
        .as_deref()
        .and_then(FileKind::from_extension)
        && claimed.mime() != content_type
    {
        return Err(invalid(
            "invalid_filename",
            format!(
                "the extension says {} but the document is {content_type}",
                claimed.mime()
            ),
        ));
    }
    Ok(name)
}

pub(super) fn invalid(code: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid(docuvault_domain::ValidationError::new(code, message))
}

/// Passes the body through and fails with `TooLarge` as soon as it exceeds `limit` bytes, so an
/// oversized upload is stopped early, not after it has all been stored.
fn limit_size(body: ByteStream<'_>, limit: u64) -> ByteStream<'_> {
    let mut seen: u64 = 0;
    body.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            Err(Error::TooLarge { limit })
        } else {
            Ok(chunk)
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limit_size_stops_at_the_limit() {
        let chunks: Vec<Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"12345")),
            Ok(Bytes::from_static(b"678")),
        ];
        let out: Vec<Result<Bytes>> = limit_size(stream::iter(chunks).boxed(), 7).collect().await;
        assert!(out[0].is_ok());
        assert!(matches!(out[1], Err(Error::TooLarge { limit: 7 })));
    }

    #[tokio::test]
    async fn the_sniffed_head_of_a_zip_is_bounded_whatever_the_chunks() {
        let zip = |len: usize| {
            let mut v = b"PK\x03\x04".to_vec();
            v.resize(len, b'z');
            Bytes::from(v)
        };
        let head_of = |chunks: Vec<Bytes>| async move {
            let mut body: ByteStream<'_> = stream::iter(chunks.into_iter().map(Ok)).boxed();
            let (head, eof) = sniff_head(&mut body).await.map_err(|e| e.to_string())?;
            let rest: usize = body
                .map(|c| c.map_or(0, |b| b.len()))
                .collect::<Vec<_>>()
                .await
                .iter()
                .sum();
            Ok::<_, String>((head.len(), eof, rest))
        };
        // One chunk larger than ZIP_SNIFF_LEN: taken whole, nothing more read.
        assert_eq!(
            head_of(vec![zip(1 << 20), zip(10)]).await,
            Ok((1 << 20, false, 10))
        );
        // Small chunks: read up to ZIP_SNIFF_LEN (in whole chunks), the rest left in the body.
        let small: Vec<Bytes> = (0..100).map(|_| zip(8192)).collect();
        let (len, eof, rest) = head_of(small).await.unwrap();
        assert!(
            (ZIP_SNIFF_LEN..ZIP_SNIFF_LEN + 8192).contains(&len),
            "{len}"
        );
        assert_eq!((eof, len + rest), (false, 100 * 8192));
        // Not a ZIP: only SNIFF_LEN or so.
        let pdf: Vec<Bytes> = (0..100).map(|_| Bytes::from(vec![b'%'; 8192])).collect();
        let (len, _, _) = head_of(pdf).await.unwrap();
        assert!(len < ZIP_SNIFF_LEN, "{len}");
        // A short ZIP ends the stream.
        assert_eq!(head_of(vec![zip(100)]).await, Ok((100, true, 0)));
    }

    #[test]
    fn claims_must_match_the_content() {
        let pdf_name = Filename::sanitize("a.pdf");
        let txt_name = Filename::sanitize("a.txt");
        let odd_name = Filename::sanitize("a.dat");
        assert!(check_claims(FileKind::Pdf, Some("application/pdf"), &pdf_name).is_ok());
        assert!(check_claims(FileKind::Pdf, Some("application/octet-stream"), &odd_name).is_ok());
        assert!(check_claims(FileKind::Pdf, None, &txt_name).is_err());
        assert!(check_claims(FileKind::PlainText, Some("application/pdf"), &odd_name).is_err());
    }
}
