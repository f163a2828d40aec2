//! The S3 implementation of [`ObjectStore`]: rusty-s3 signs, reqwest sends. Path-style
//! addressing, so it works with MinIO, SeaweedFS and AWS alike. Uploads are streamed: a file
//! smaller than one part is sent with a single PUT, a larger one as a multipart upload with a
//! bounded number of parts in flight, so memory stays at `part_size * (parts_in_flight + 1)`
//! whatever the file size.

use std::time::Duration;

use anyhow::{Context, anyhow};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Response, StatusCode};
use rusty_s3::actions::{CreateMultipartUpload, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use url::Url;

mod direct;

use super::{ByteStream, MultipartOutcome, ObjectStore};
use crate::config::ObjectStoreConfig;
use crate::error::{Dependency, Error, Result};
use docuvault_domain::ObjectKey;
use docuvault_domain::text::truncate_chars;

/// S3 requires parts of at least 5 MiB (except the last); 8 MiB keeps requests few.
const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
const DEFAULT_PARTS_IN_FLIGHT: usize = 2;
/// How long the URLs we sign for our own requests stay valid.
const SIGN_TTL: Duration = Duration::from_secs(600);
/// Bound on requests that carry no large body (HEAD, DELETE, create/complete multipart).
const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The health probe must leave room for the others inside the 2 s /health budget.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(1200);

#[derive(Debug)]
pub struct S3Store {
    http: reqwest::Client,
    bucket: Bucket,
    /// The same bucket as browsers address it (`S3_PUBLIC_ENDPOINT`), for presigned URLs.
    public_bucket: Option<Bucket>,
    credentials: Credentials,
    part_size: usize,
    parts_in_flight: usize,
}

impl S3Store {
    pub fn new(config: &ObjectStoreConfig) -> anyhow::Result<Self> {
        let bucket = Bucket::new(
            config.endpoint.clone(),
            UrlStyle::Path,
            config.bucket.clone(),
            config.region.clone(),
        )
        .context("invalid object store endpoint or bucket")?;
        let public_bucket = config
            .public_endpoint
            .as_ref()
            .map(|endpoint| {
                Bucket::new(
                    endpoint.clone(),
                    UrlStyle::Path,
                    config.bucket.clone(),
                    config.region.clone(),
                )
            })
            .transpose()
            .context("invalid public object store endpoint")?;
        let credentials = Credentials::new(
            config.access_key.clone(),
            config.secret_key.expose().clone(),
        );
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            // A stalled store must not hold a request forever; a slow but moving one may.
            .read_timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .context("cannot build the object store HTTP client")?;
        Ok(Self {
            http,
            bucket,
            public_bucket,
            credentials,
            part_size: DEFAULT_PART_SIZE,
            parts_in_flight: DEFAULT_PARTS_IN_FLIGHT,
        })
    }

    /// Overrides the multipart part size (at least 5 MiB); tests and benchmarks use it.
    pub fn with_part_size(mut self, part_size: usize) -> Self {
        self.part_size = part_size.max(5 * 1024 * 1024);
        self
    }

    /// The bucket as browsers address it: what presigned URLs are signed for.
    fn browser_bucket(&self) -> &Bucket {
        self.public_bucket.as_ref().unwrap_or(&self.bucket)
    }

    pub fn bucket_name(&self) -> &str {
        self.bucket.name()
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Response> {
        req.send().await.map_err(|e| transport_error(e, what))
    }

    async fn put_single(&self, key: &ObjectKey, content_type: &str, body: Bytes) -> Result<()> {
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key.as_str())
            .sign(SIGN_TTL);
        let len = body.len();
        let req = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body);
        let resp = self.send(req, "PUT object").await?;
        expect_success(resp, "PUT object").await.map(drop)
    }

    async fn put_multipart(
        &self,
        key: &ObjectKey,
        content_type: &str,
        first: BytesMut,
        carry: Option<Bytes>,
        rest: ByteStream<'_>,
    ) -> Result<u64> {
        let upload_id = self.start_multipart(key, content_type).await?;

        match self.upload_parts(key, &upload_id, first, carry, rest).await {
            Ok((etags, total)) => match self.complete(key, &upload_id, &etags).await {
                Ok(()) => Ok(total),
                Err(e) => {
                    self.abort(key, &upload_id).await;
                    Err(e)
                }
            },
            Err(e) => {
                self.abort(key, &upload_id).await;
                Err(e)
            }
        }
    }

    /// Starts a multipart upload; its id.
    async fn start_multipart(&self, key: &ObjectKey, content_type: &str) -> Result<String> {
        let mut create = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key.as_str());
        create.headers_mut().insert("content-type", content_type);
        let url = create.sign(SIGN_TTL);
        let req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .timeout(SMALL_REQUEST_TIMEOUT);
        let resp = expect_success(
            self.send(req, "create multipart upload").await?,
            "create multipart upload",
        )
        .await?;
        let text = resp
            .text()
            .await
            .map_err(|e| transport_error(e, "create multipart upload"))?;
        let created = CreateMultipartUpload::parse_response(&text).map_err(|e| {
            Error::Internal(anyhow!("unexpected CreateMultipartUpload answer: {e}"))
        })?;
        Ok(created.upload_id().to_owned())
    }

    /// Reads `rest` part by part and uploads at most `parts_in_flight` parts at a time; the
    /// body is only read when a slot is free, which is the backpressure that bounds memory.
    async fn upload_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        mut buf: BytesMut,
        mut carry: Option<Bytes>,
        mut rest: ByteStream<'_>,
    ) -> Result<(Vec<String>, u64)> {
        let mut etags: Vec<Option<String>> = Vec::new();
        // Spawned, not merely pushed into a FuturesUnordered: a request future that is not
        // polled does no I/O, and we are busy reading the body between completions. Dropping
        // the JoinSet on an early return aborts whatever is still running.
        let mut in_flight = tokio::task::JoinSet::new();
        let mut total: u64 = 0;
        let mut body_done = false;

        loop {
            if !body_done {
                body_done = fill_part(&mut buf, &mut carry, &mut rest, self.part_size).await?;
            }
            if !buf.is_empty() {
                let next = if body_done {
                    BytesMut::new()
                } else {
                    BytesMut::with_capacity(self.part_size)
                };
                let part = std::mem::replace(&mut buf, next).freeze();
                total += part.len() as u64;
                etags.push(None);
                let number = u16::try_from(etags.len())
                    .map_err(|_| Error::Internal(anyhow!("upload needs more than 65535 parts")))?;
                in_flight.spawn(self.upload_part(key, upload_id, number, part));
            }
            let finished_reading = body_done && buf.is_empty();
            while in_flight.len() >= self.parts_in_flight
                || (finished_reading && !in_flight.is_empty())
            {
                if let Some(joined) = in_flight.join_next().await {
                    let done = joined
                        .map_err(|e| Error::Internal(anyhow!("part upload task failed: {e}")))?;
                    let (number, etag): (u16, String) = done?;
                    if let Some(slot) = etags.get_mut(usize::from(number) - 1) {
                        *slot = Some(etag);
                    }
                }
            }
            if finished_reading {
                break;
            }
        }
        let etags = etags
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::Internal(anyhow!("a multipart part finished without an ETag")))?;
        Ok((etags, total))
    }

    /// The upload of one part, as a `'static` future that can be spawned.
    fn upload_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u16,
        part: Bytes,
    ) -> impl Future<Output = Result<(u16, String)>> + Send + 'static {
        let url = self
            .bucket
            .upload_part(Some(&self.credentials), key.as_str(), number, upload_id)
            .sign(SIGN_TTL);
        let len = part.len();
        let req = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(part);
        async move {
            let resp = req
                .send()
                .await
                .map_err(|e| transport_error(e, "upload part"))?;
            let resp = expect_success(resp, "upload part").await?;
            let etag = resp
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Error::Internal(anyhow!("UploadPart answer has no ETag")))?;
            Ok((number, etag.to_owned()))
        }
    }

    async fn complete(&self, key: &ObjectKey, upload_id: &str, etags: &[String]) -> Result<()> {
        let action = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key.as_str(),
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGN_TTL);
        let body = action.body();
        let req = self
            .http
            .post(url)
            .body(body)
            .timeout(Duration::from_secs(60));
        let resp = expect_success(
            self.send(req, "complete multipart upload").await?,
            "complete multipart upload",
        )
        .await?;
        // S3 may answer 200 with an <Error> body when completion fails late.
        let text = resp
            .text()
            .await
            .map_err(|e| transport_error(e, "complete multipart upload"))?;
        if text.contains("<Error>") {
            return Err(Error::unavailable(
                Dependency::ObjectStore,
                anyhow!(
                    "complete multipart upload failed: {}",
                    truncate_chars(&text, 300)
                ),
            ));
        }
        Ok(())
    }

    /// Best effort: an abandoned upload costs storage until the store's lifecycle rules clean it.
    async fn abort(&self, key: &ObjectKey, upload_id: &str) {
        if let Err(e) = self.abort_upload(key, upload_id).await {
            tracing::warn!(object_key = %key, error = %e.chain(), "could not abort multipart upload");
        }
    }

    async fn head_bucket(&self, timeout: Duration) -> Result<StatusCode> {
        let url = self
            .bucket
            .head_bucket(Some(&self.credentials))
            .sign(SIGN_TTL);
        let req = self.http.head(url).timeout(timeout);
        Ok(self.send(req, "HEAD bucket").await?.status())
    }
}

/// Reads from `carry`, then `body`, into `buf` until it holds `part_size` bytes; returns true
/// when the body has ended (and `carry` is empty). A chunk that would overflow `buf` is split and
/// its tail kept in `carry`, so `buf` never grows past the allocation it was given.
async fn fill_part(
    buf: &mut BytesMut,
    carry: &mut Option<Bytes>,
    body: &mut ByteStream<'_>,
    part_size: usize,
) -> Result<bool> {
    while buf.len() < part_size {
        let chunk = match carry.take() {
            Some(chunk) => chunk,
            None => match body.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(true),
            },
        };
        let room = part_size - buf.len();
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            *carry = Some(chunk.slice(room..));
        } else {
            buf.extend_from_slice(&chunk);
        }
    }
    Ok(false)
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    async fn put_stream(
        &self,
        key: &ObjectKey,
        content_type: &str,
        mut body: ByteStream<'_>,
    ) -> Result<u64> {
        // Each part gets one allocation of exactly `part_size`, so memory stays bounded by
        // `part_size * (parts_in_flight + 1)` whatever the client's chunking.
        let mut first = BytesMut::with_capacity(self.part_size);
        let mut carry = None;
        if fill_part(&mut first, &mut carry, &mut body, self.part_size).await? {
            let len = first.len() as u64;
            self.put_single(key, content_type, first.freeze()).await?;
            return Ok(len);
        }
        self.put_multipart(key, content_type, first, carry, body)
            .await
    }

    async fn get_stream(&self, key: &ObjectKey) -> Result<ByteStream<'static>> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key.as_str())
            .sign(SIGN_TTL);
        let resp = self.send(self.http.get(url), "GET object").await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound("document content"));
        }
        let resp = expect_success(resp, "GET object").await?;
        Ok(resp
            .bytes_stream()
            .map_err(|e| transport_error(e, "GET object body"))
            .boxed())
    }

    async fn get_range(
        &self,
        key: &ObjectKey,
        start: u64,
        end: u64,
    ) -> Result<ByteStream<'static>> {
        let resp = self.get_ranged(key, start, end, None).await?;
        if resp.status() != StatusCode::PARTIAL_CONTENT {
            // A store that ignores Range would send the whole object where a part was promised.
            return Err(Error::Internal(anyhow!(
                "the object store answered a range request with {}",
                resp.status()
            )));
        }
        Ok(resp
            .bytes_stream()
            .map_err(|e| transport_error(e, "GET object range body"))
            .boxed())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), key.as_str())
            .sign(SIGN_TTL);
        let resp = self
            .send(
                self.http.delete(url).timeout(SMALL_REQUEST_TIMEOUT),
                "DELETE object",
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        expect_success(resp, "DELETE object").await.map(drop)
    }

    fn presigned_get(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
        content_disposition: Option<&str>,
        content_type: Option<&str>,
    ) -> Url {
        let mut action = self
            .browser_bucket()
            .get_object(Some(&self.credentials), key.as_str());
        if let Some(disposition) = content_disposition {
            action
                .query_mut()
                .insert("response-content-disposition", disposition.to_owned());
        }
        if let Some(content_type) = content_type {
            action
                .query_mut()
                .insert("response-content-type", content_type.to_owned());
        }
        action.sign(expires_in)
    }

    fn presigned_put(&self, key: &ObjectKey, expires_in: Duration, content_length: u64) -> Url {
        self.sign_put(key, expires_in, content_length)
    }

    async fn create_multipart(&self, key: &ObjectKey, content_type: &str) -> Result<String> {
        self.start_multipart(key, content_type).await
    }

    fn presigned_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u16,
        expires_in: Duration,
        content_length: u64,
    ) -> Url {
        self.sign_part(key, upload_id, number, expires_in, content_length)
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: u16,
    ) -> Result<MultipartOutcome> {
        self.join_parts(key, upload_id, parts).await
    }

    async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<()> {
        self.abort_upload(key, upload_id).await
    }

    async fn size_of(&self, key: &ObjectKey) -> Result<Option<u64>> {
        self.head_size(key).await
    }

    async fn read_prefix(&self, key: &ObjectKey, len: usize) -> Result<Bytes> {
        self.get_prefix(key, len).await
    }

    fn browser_origin(&self) -> Option<String> {
        Some(
            self.browser_bucket()
                .base_url()
                .origin()
                .ascii_serialization(),
        )
    }

    async fn health(&self) -> Result<()> {
        match self.head_bucket(HEALTH_TIMEOUT).await? {
            s if s.is_success() => Ok(()),
            s => Err(Error::unavailable(
                Dependency::ObjectStore,
                anyhow!("HEAD bucket {} answered {s}", self.bucket.name()),
            )),
        }
    }

    async fn ensure_bucket(&self) -> Result<()> {
        let status = self.head_bucket(SMALL_REQUEST_TIMEOUT).await?;
        if status.is_success() {
            return Ok(());
        }
        if status != StatusCode::NOT_FOUND {
            return Err(Error::Internal(anyhow!(
                "HEAD bucket {} answered {status}: check MINIO_ACCESS_KEY/MINIO_SECRET_KEY and the key's bucket policy",
                self.bucket.name()
            )));
        }
        tracing::info!(bucket = self.bucket.name(), "creating bucket");
        let url = self.bucket.create_bucket(&self.credentials).sign(SIGN_TTL);
        let req = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .timeout(SMALL_REQUEST_TIMEOUT);
        let resp = self.send(req, "create bucket").await?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::CONFLICT => Ok(()),
            s => Err(Error::Internal(anyhow!(
                "bucket {} does not exist and creating it answered {s}; create it with the store's admin user \
                 (the app key is meant to be limited to this one bucket)",
                self.bucket.name()
            ))),
        }
    }
}

fn transport_error(e: reqwest::Error, what: &str) -> Error {
    // Signed URLs carry the access key id and a signature: keep them out of logs.
    let e = e.without_url();
    Error::unavailable(
        Dependency::ObjectStore,
        anyhow::Error::new(e).context(format!("{what} failed")),
    )
}

/// Passes 2xx answers through; maps the rest to an error that names the operation.
async fn expect_success(resp: Response, what: &str) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let err = anyhow!("{what} answered {status}: {}", truncate_chars(&body, 300));
    Err(
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Error::unavailable(Dependency::ObjectStore, err)
        } else {
            Error::Internal(err)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use proptest::prelude::*;

    fn parts_of(chunks: Vec<Vec<u8>>, part_size: usize) -> Vec<(usize, usize)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut body: ByteStream<'_> =
                futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))).boxed();
            let mut carry = None;
            let mut parts = Vec::new();
            loop {
                let mut buf = BytesMut::with_capacity(part_size);
                let ended = fill_part(&mut buf, &mut carry, &mut body, part_size)
                    .await
                    .unwrap();
                if !buf.is_empty() {
                    parts.push((buf.len(), buf.capacity()));
                }
                if ended {
                    return parts;
                }
            }
        })
    }

    proptest! {
        /// Whatever the chunking, parts are exactly `part_size` (the last may be shorter), no
        /// byte is lost or repeated, and no buffer outgrows its one allocation.
        #[test]
        fn parts_are_exact_and_never_reallocate(sizes in prop::collection::vec(0usize..40, 0..30), part_size in 1usize..25) {
            let total: usize = sizes.iter().sum();
            let chunks: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![7u8; n]).collect();
            let parts = parts_of(chunks, part_size);
            prop_assert_eq!(parts.iter().map(|p| p.0).sum::<usize>(), total);
            for (i, (len, cap)) in parts.iter().enumerate() {
                prop_assert!(*cap == part_size, "part {} reallocated to {}", i, cap);
                if i + 1 < parts.len() {
                    prop_assert_eq!(*len, part_size);
                }
            }
        }
    }
}
