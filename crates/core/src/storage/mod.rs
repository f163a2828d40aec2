//! Where document bytes are kept. DocuVault's own store is any S3-compatible store (MinIO,
//! SeaweedFS, AWS) behind [`ObjectStore`], picked from config; a person's own cloud (WebDAV,
//! Nextcloud, OneDrive, Google Drive) is a [`CloudDrive`], one per connection. [`Storage`] (the registry) takes a
//! document's locator and goes to the backend that holds it (see [`Location`]).

pub mod gdrive;
pub mod oauth;
pub mod onedrive;
mod registry;
mod s3;
mod tokens;
pub mod webdav;

use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use url::Url;

pub use registry::{Credentials, Location, Storage, refused_message};
pub use s3::S3Store;
pub use tokens::Fresh;

use crate::Result;
use docuvault_domain::ObjectKey;

/// A stream of body chunks. Errors from the producer (a client that sends too much, a broken
/// multipart body) are passed through unchanged by [`ObjectStore::put_stream`]. Uploads borrow
/// the request they come from (`'a`); downloads are `'static`.
pub type ByteStream<'a> = BoxStream<'a, Result<Bytes>>;

/// How an attempt to join a client's parts ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartOutcome {
    /// The object exists now.
    Completed,
    /// Some parts have not been sent yet (`present` of them are there); the client may send
    /// the rest and try again.
    Incomplete { present: usize },
    /// The store refused the parts as they are (a part too small, a part changed while being
    /// joined); the reason is the store's.
    Rejected(String),
    /// The store knows no such upload: it was completed (by a concurrent request) or aborted.
    Unknown,
}

/// What DocuVault needs from a place that keeps document bytes.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Stores `body` under `key` without holding it all in memory. On any error nothing is
    /// left behind under `key`. Returns the number of bytes stored.
    async fn put_stream(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: ByteStream<'_>,
    ) -> Result<u64>;

    /// Streams the bytes stored under `key`; `NotFound` if there are none.
    async fn get_stream(&self, key: &ObjectKey) -> Result<ByteStream<'static>>;

    /// Removes `key`. Removing a key that does not exist is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<()>;

    /// A URL that lets its holder GET the object directly from the store until it expires,
    /// addressed as browsers reach the store; `content_disposition` is a whole
    /// `Content-Disposition` header value (e.g. `attachment; filename="a.pdf"`) and
    /// `content_type` a `Content-Type` the store then answers with.
    fn presigned_get(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
        content_disposition: Option<&str>,
        content_type: Option<&str>,
    ) -> Url;

    /// A URL with which its holder PUTs exactly `content_length` bytes under `key` until it
    /// expires (the length is signed: the store refuses any other), addressed as browsers
    /// reach the store.
    fn presigned_put(&self, key: &ObjectKey, expires_in: Duration, content_length: u64) -> Url;

    /// Starts a multipart upload under `key` whose parts clients send with
    /// [`presigned_part`](Self::presigned_part) URLs; returns its id.
    async fn create_multipart(&self, key: &ObjectKey, content_type: &str) -> Result<String>;

    /// A URL with which its holder PUTs part `number` (1-based) of exactly `content_length`
    /// bytes of the multipart upload `upload_id`.
    fn presigned_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u16,
        expires_in: Duration,
        content_length: u64,
    ) -> Url;

    /// Joins the parts clients sent into the object, if parts `1..=parts` are all there.
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: u16,
    ) -> Result<MultipartOutcome>;

    /// Drops a multipart upload and the parts sent so far; one that no longer exists is not an
    /// error.
    async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<()>;

    /// The size of the object under `key`, or `None` if there is none.
    async fn size_of(&self, key: &ObjectKey) -> Result<Option<u64>>;

    /// Up to the first `len` bytes of the object under `key` (`NotFound` if there is none).
    /// Bytes `start..=end` of the object, streamed (for HTTP Range requests).
    async fn get_range(&self, key: &ObjectKey, start: u64, end: u64)
    -> Result<ByteStream<'static>>;

    async fn read_prefix(&self, key: &ObjectKey, len: usize) -> Result<Bytes>;

    /// The origin (`https://host:port`) browsers send presigned requests to, for the web app's
    /// Content-Security-Policy; `None` for a store that is never reached from browsers.
    fn browser_origin(&self) -> Option<String>;

    /// Checks that the store answers and the bucket is reachable with our credentials.
    async fn health(&self) -> Result<()>;

    /// Creates the bucket if it does not exist (at start-up).
    async fn ensure_bucket(&self) -> Result<()>;
}

/// Why a cloud drive could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// The server did not answer, or answered 5xx: try again later.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// The server refused the credentials (401/403): the owner must reconnect.
    #[error("the server refused the credentials")]
    Credentials,
    /// The server refused the request for another reason, said in words.
    #[error("{0}")]
    Refused(String),
    /// No file at that path.
    #[error("the file is not there")]
    NotFound,
    /// The body being stored failed (too large, a broken upload): passed through unchanged.
    #[error(transparent)]
    Body(crate::Error),
    /// Something of ours failed on the way (the database while renewing a token).
    #[error(transparent)]
    Other(crate::Error),
}

impl From<DriveError> for crate::Error {
    fn from(e: DriveError) -> Self {
        use crate::error::Dependency;
        match e {
            DriveError::Unreachable(reason) => {
                Self::unavailable(Dependency::CloudStorage, anyhow::anyhow!(reason))
            }
            DriveError::Credentials => Self::conflict(
                "cloud_credentials_refused",
                "the cloud storage refused DocuVault's credentials; connect it again on the Storage page",
            ),
            DriveError::Refused(reason) => Self::conflict("cloud_storage_refused", reason),
            DriveError::NotFound => Self::NotFound("stored file"),
            DriveError::Body(e) | DriveError::Other(e) => e,
        }
    }
}

/// A person's own cloud storage (one connection): files addressed by a path under its root.
#[async_trait::async_trait]
pub trait CloudDrive: Send + Sync + std::fmt::Debug {
    /// Stores `body` at `path` (making the folders on the way), streamed, replacing what was
    /// there; `size` when the caller knows it. Returns the locator the file is found by from
    /// now on (every drive here returns `path` itself: a retried upload then replaces its own
    /// file, and the clean-up list, keyed by locator, finds it) and the number of bytes stored.
    /// On error nothing is left at `path`.
    async fn put_stream(
        &self,
        path: &str,
        content_type: &str,
        body: ByteStream<'_>,
        size: Option<u64>,
    ) -> Result<(String, u64), DriveError>;

    /// Streams the file found by `locator`.
    async fn get_stream(&self, locator: &str) -> Result<ByteStream<'static>, DriveError>;

    /// Bytes `start..=end` of the file, streamed.
    async fn get_range(
        &self,
        locator: &str,
        start: u64,
        end: u64,
    ) -> Result<ByteStream<'static>, DriveError>;

    /// Removes the file; one that is not there is not an error.
    async fn delete(&self, locator: &str) -> Result<(), DriveError>;

    /// Checks that the server answers, the credentials work and the root folder is there;
    /// the account's name at the provider, when it says one.
    async fn check(&self) -> Result<Option<String>, DriveError>;
}

/// Reads a whole answer's body, refusing one longer than `max` bytes (small JSON answers).
pub async fn read_limited(resp: reqwest::Response, max: usize) -> Result<Vec<u8>, DriveError> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|e| DriveError::Unreachable(e.without_url().to_string()))?;
        if body.len() + chunk.len() > max {
            return Err(DriveError::Refused(format!(
                "the provider's answer is longer than {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
