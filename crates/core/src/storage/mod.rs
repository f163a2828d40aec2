//! Object storage behind a small trait, one implementation per backend, picked from config.
//! Today: any S3-compatible store (MinIO, SeaweedFS, AWS). Cloud drives (OneDrive, WebDAV…)
//! will be further implementations of the same trait.

mod s3;

use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use url::Url;

pub use s3::S3Store;

use crate::Result;
use docuvault_domain::ObjectKey;

/// A stream of body chunks. Errors from the producer (a client that sends too much, a broken
/// multipart body) are passed through unchanged by [`ObjectStore::put_stream`]. Uploads borrow
/// the request they come from (`'a`); downloads are `'static`.
pub type ByteStream<'a> = BoxStream<'a, Result<Bytes>>;

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

    /// Checks that the store answers and the bucket is reachable with our credentials.
    async fn health(&self) -> Result<()>;

    /// Creates the bucket if it does not exist (at start-up).
    async fn ensure_bucket(&self) -> Result<()>;
}
