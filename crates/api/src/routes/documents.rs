//! `/api/documents`: upload (multipart, streamed to the object store), list (keyset pages),
//! read, download (streamed, with a safely encoded filename), delete.

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::listing::{FilterParams, decode_time_cursor, encode_time_cursor, page_limit};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query};
use docuvault_core::Error;
use docuvault_core::db::documents::PageAfter;
use docuvault_core::services::documents::{Document, DocumentChanges, Upload};
use docuvault_domain::filename::content_disposition;

/// Room for the multipart framing and small fields around the file itself.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(list))
        .routes(routes!(get_one, update_one, delete_one))
        .routes(routes!(content))
        .routes(routes!(download))
        .routes(routes!(reclassify))
        .routes(routes!(reclassify_unconfirmed))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicRefDto {
    pub id: Uuid,
    pub name: String,
    pub color: String,
    /// How close the document is to the topic (cosine similarity, -1 to 1) when the semantic
    /// classifier assigned or suggested it; null otherwise.
    pub score: Option<f32>,
    /// `ai` (assigned by the classifier) or `user` (set by hand).
    pub source: String,
}

impl From<docuvault_core::services::documents::TopicRef> for TopicRefDto {
    fn from(t: docuvault_core::services::documents::TopicRef) -> Self {
        Self {
            id: t.id,
            name: t.name,
            color: t.color,
            score: t.score,
            source: t.source,
        }
    }
}

/// A document as listed (no extracted text).
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentDto {
    pub id: Uuid,
    /// The original filename, for display and downloads only.
    pub filename: String,
    /// The folder it is filed in; null: the root.
    pub folder_id: Option<Uuid>,
    /// Detected from the content, not taken from the client.
    pub content_type: String,
    pub size_bytes: i64,
    /// `pending`, `processing`, `classified` or `failed`.
    pub status: String,
    /// Why processing failed (or why the last attempt did, while it is retried): a sentence
    /// for people.
    pub error: Option<String>,
    /// The document's text was longer than the server keeps (`EXTRACT_MAX_TEXT_BYTES`): it was
    /// cut there and classified on what was kept.
    pub text_truncated: bool,
    /// How many pages of the text were recognised by OCR (an image counts as one; 0: the text
    /// was read from the file itself). Recognised text may hold misread words.
    pub ocr_pages: i32,
    pub topics: Vec<TopicRefDto>,
    /// When the classifier was not sure enough to assign a topic: its best guesses, best first,
    /// for the owner to confirm (setting the topics by hand also teaches the classifier).
    /// Empty for documents shared with you.
    pub suggestions: Vec<TopicRefDto>,
    /// The owner set the topics by hand: classification leaves them as they are until the
    /// owner asks to reclassify.
    pub topics_by_hand: bool,
    /// The owner's handle when the document is shared with you (you may view and download it,
    /// not change it; its topics are the owner's); null for your own documents.
    pub shared_by: Option<String>,
    /// The worker made a thumbnail of the first page (`/api/documents/{id}/thumbnail`).
    pub has_thumbnail: bool,
    /// The cloud connection of yours keeping the bytes; null: DocuVault's own store (always
    /// null for documents shared with you).
    pub storage_connection_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Document> for DocumentDto {
    fn from(d: Document) -> Self {
        let r = d.row;
        let shared = d.shared_by.is_some();
        Self {
            id: r.id,
            filename: r.filename,
            // The owner's folders are the owner's business.
            folder_id: r.folder_id.filter(|_| d.shared_by.is_none()),
            shared_by: d.shared_by,
            has_thumbnail: r.thumbnail_key.is_some(),
            storage_connection_id: r.storage_connection_id.filter(|_| !shared),
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            status: r.status,
            error: r.error,
            text_truncated: r.text_truncated,
            ocr_pages: r.ocr_pages,
            topics_by_hand: r.topics_by_hand,
            topics: d.topics.into_iter().map(TopicRefDto::from).collect(),
            suggestions: if shared {
                Vec::new()
            } else {
                d.suggestions.into_iter().map(TopicRefDto::from).collect()
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A document with its extracted text (null until processing has extracted it).
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentDetailDto {
    #[serde(flatten)]
    pub document: DocumentDto,
    pub extracted_text: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub items: Vec<DocumentDto>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The upload form (documentation only: the handler streams the multipart body itself).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The document: PDF, plain text, PNG, JPEG, TIFF, DOCX, XLSX, PPTX, ODT, ODS, ODP or RTF, at
    /// most `MAX_UPLOAD_BYTES`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Upload a document (multipart field `file`). The content decides the type; it is stored and
/// left `pending` for the processing pipeline.
#[utoipa::path(
    post, path = "/api/documents/upload", tag = "documents",
    request_body(content_type = "multipart/form-data", content = UploadForm, description = "a form with one file field named `file`"),
    responses(
        (status = 201, body = DocumentDto),
        (status = 400, description = "empty file, malformed multipart or no `file` field", body = ErrorBody),
        (status = 413, description = "larger than MAX_UPLOAD_BYTES (`file_too_large`), or more than is left of the quota (`quota_exceeded`; nothing is stored or charged)", body = ErrorBody),
        (status = 415, description = "unsupported type, or content not matching its claimed type", body = ErrorBody),
        (status = 503, description = "a dependency is down", body = ErrorBody),
    )
)]
async fn upload(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<DocumentDto>), ApiError> {
    let max = state.vault.max_upload_bytes;
    // Refuse what is announced as too large before reading any of it.
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max.saturating_add(MULTIPART_OVERHEAD)) {
        return Err(Error::TooLarge { limit: max }.into());
    }
    let mut multipart = multipart.map_err(|r| ApiError::new("invalid_multipart", r.body_text()))?;
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| invalid_multipart(&e, max))?
            .ok_or_else(|| ApiError::new("missing_file", "the form has no field named `file`"))?;
        if field.name() != Some("file") {
            continue; // other fields are ignored (and drained by the next call)
        }
        let upload = Upload {
            filename: field.file_name().map(str::to_owned),
            declared_type: field.content_type().map(str::to_owned),
            // The file is at least the body less the form's framing.
            announced_bytes: announced.map(|n| n.saturating_sub(MULTIPART_OVERHEAD)),
            content_sha256: None,
            body: field.map_err(move |e| invalid_multipart(&e, max).0).boxed(),
        };
        let doc = state.vault.upload(caller.id, upload).await?;
        return Ok((StatusCode::CREATED, Json(doc.into())));
    }
}

fn invalid_multipart(e: &axum::extract::multipart::MultipartError, limit: u64) -> ApiError {
    // Hitting the body limit mid-stream is an oversized upload, not a malformed one.
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError(Error::TooLarge { limit });
    }
    ApiError::new(
        "invalid_multipart",
        format!("malformed multipart body: {}", e.body_text()),
    )
}

/// List your documents, newest first, one page at a time, optionally narrowed by folder,
/// topic, state and upload date.
#[utoipa::path(
    get, path = "/api/documents", tag = "documents", params(ListParams, FilterParams),
    responses((status = 200, body = DocumentPage), (status = 400, body = ErrorBody), (status = 404, description = "no folder or topic of yours by that id", body = ErrorBody))
)]
async fn list(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(p): Query<ListParams>,
    Query(f): Query<FilterParams>,
) -> Result<Json<DocumentPage>, ApiError> {
    let limit = page_limit(p.limit)?;
    let after = p.cursor.as_deref().map(decode_cursor).transpose()?;
    let filters = f.filters()?;
    let page = state
        .vault
        .list_documents(caller.id, &filters, after, limit)
        .await?;
    Ok(Json(DocumentPage {
        items: page.items.into_iter().map(DocumentDto::from).collect(),
        next_cursor: page.next.map(encode_cursor),
    }))
}

fn encode_cursor(after: PageAfter) -> String {
    encode_time_cursor(after.created_at, after.id)
}

fn decode_cursor(raw: &str) -> Result<PageAfter, ApiError> {
    let (created_at, id) = decode_time_cursor(raw)?;
    Ok(PageAfter { created_at, id })
}

/// One document (yours, or shared with you), with its extracted text.
#[utoipa::path(
    get, path = "/api/documents/{id}", tag = "documents", params(("id" = Uuid, Path)),
    responses((status = 200, body = DocumentDetailDto), (status = 404, body = ErrorBody))
)]
async fn get_one(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<DocumentDetailDto>, ApiError> {
    let (doc, extracted_text) = state.vault.get_document(caller.id, id).await?;
    Ok(Json(DocumentDetailDto {
        document: doc.into(),
        extracted_text,
    }))
}

/// A person's edits: fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentPatchDto {
    /// A new display name (not blank; its extension may not name another type than the
    /// document's).
    pub filename: Option<String>,
    /// Exactly these topics (each one of yours; at most 100; `[]` for none), set by hand:
    /// classification no longer changes them until you reclassify the document.
    #[schema(max_items = 100)]
    pub topic_ids: Option<Vec<Uuid>>,
    /// File it in this folder (one of yours); `null`: take it out of any folder.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Uuid>)]
    pub folder_id: Option<Option<Uuid>>,
}

/// Rename a document or set its topics by hand.
#[utoipa::path(
    patch, path = "/api/documents/{id}", tag = "documents", params(("id" = Uuid, Path)),
    request_body = DocumentPatchDto,
    responses(
        (status = 200, body = DocumentDetailDto),
        (status = 404, body = ErrorBody),
        (status = 422, description = "a blank name or one whose extension names another type (`invalid_filename`), a topic that is not yours (`unknown_topic`), more than 100 topics (`too_many_topics`), a folder that is not yours (`unknown_folder`)", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn update_one(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<DocumentPatchDto>,
) -> Result<Json<DocumentDetailDto>, ApiError> {
    let (doc, extracted_text) = state
        .vault
        .update_document(
            caller.id,
            id,
            DocumentChanges {
                filename: body.filename,
                topic_ids: body.topic_ids,
                folder_id: body.folder_id,
            },
        )
        .await?;
    Ok(Json(DocumentDetailDto {
        document: doc.into(),
        extracted_text,
    }))
}

/// Run classification again (after topics or AI settings changed), on the text extracted
/// before (extraction runs again if there is none). The document goes back to `pending`; a
/// worker picks it up.
#[utoipa::path(
    post, path = "/api/documents/{id}/reclassify", tag = "documents", params(("id" = Uuid, Path)),
    responses(
        (status = 202, body = DocumentDetailDto),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the document is still being processed"),
        (status = 503, body = ErrorBody),
    )
)]
async fn reclassify(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<DocumentDetailDto>), ApiError> {
    let (doc, extracted_text) = state.vault.reclassify(caller.id, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DocumentDetailDto {
            document: doc.into(),
            extracted_text,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReclassifyAllDto {
    /// How many documents went back to `pending`.
    pub queued: usize,
}

/// Classify again every finished document of yours whose topics you did not set or confirm by
/// hand (after you changed topics, or corrected documents: the local classifier learns from
/// each correction, but documents already classified only change when you ask). Their text is
/// not extracted again. Documents with topics set by hand keep them.
#[utoipa::path(
    post, path = "/api/documents/reclassify-unconfirmed", tag = "documents",
    responses((status = 202, body = ReclassifyAllDto), (status = 503, body = ErrorBody))
)]
async fn reclassify_unconfirmed(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<(StatusCode, Json<ReclassifyAllDto>), ApiError> {
    let queued = state.vault.reclassify_unconfirmed(caller.id).await?;
    Ok((StatusCode::ACCEPTED, Json(ReclassifyAllDto { queued })))
}

/// Delete a document: its row and its bytes.
#[utoipa::path(
    delete, path = "/api/documents/{id}", tag = "documents", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody))
)]
async fn delete_one(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.vault.delete_document(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadDto {
    /// A presigned GET on the object store (at most 5 minutes), answered as an attachment with
    /// the original filename and type: fetch it directly, the bytes do not pass the API. For a
    /// document kept in its owner's cloud, a link on this site (a path with a media token)
    /// through which the API streams the bytes.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A short-lived link to download the document straight from the object store.
#[utoipa::path(
    get, path = "/api/documents/{id}/download", tag = "documents", params(("id" = Uuid, Path)),
    responses((status = 200, body = DownloadDto), (status = 404, body = ErrorBody))
)]
async fn download(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<DownloadDto>, ApiError> {
    let (url, expires_at) = state.vault.download_url(caller.id, id).await?;
    Ok(Json(DownloadDto { url, expires_at }))
}

/// Download the document's bytes, streamed, as an attachment with its original filename.
#[utoipa::path(
    get, path = "/api/documents/{id}/content", tag = "documents", params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "the bytes, with the type detected at upload",
            content(
                (Vec<u8> = "application/pdf"), (String = "text/plain"), (Vec<u8> = "image/png"),
                (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/tiff"),
            )),
        (status = 404, body = ErrorBody),
    )
)]
async fn content(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let (row, body) = state.vault.open_content(caller.id, id).await?;
    let mut resp = Body::from_stream(body.map_err(std::io::Error::other)).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&row.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(row.size_bytes));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&row.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // The bytes are the user's, not ours: never let a browser run them in our origin.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn cursor_round_trips() {
        let after = PageAfter {
            created_at: DateTime::from_timestamp_micros(1_763_000_000_123_456).unwrap_or_default(),
            id: Uuid::new_v4(),
        };
        assert_eq!(decode_cursor(&encode_cursor(after)).ok(), Some(after));
        assert!(decode_cursor("not-a-cursor").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("12.nope")).is_err());
    }

    #[test]
    fn disposition_is_safe_for_any_name() {
        assert_eq!(
            content_disposition("a \"b\".pdf"),
            "attachment; filename=\"a _b_.pdf\"; filename*=UTF-8''a%20%22b%22.pdf"
        );
        let d = content_disposition("Grüße\r\n.txt");
        assert!(HeaderValue::from_str(&d).is_ok());
        assert!(d.contains("filename*=UTF-8''Gr%C3%BC%C3%9Fe%0D%0A.txt"));
    }
}
