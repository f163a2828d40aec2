//! Direct transfers: URLs we sign so that a client sends a document's bytes to the store itself
//! (a single PUT, or the parts of a multipart upload), and the checks made once it says it is
//! done (the parts joined, the object's size, its first bytes).
//!
//! Every upload URL signs `content-length`, so the store refuses a body of any other size: a
//! client cannot park more bytes than it reserved quota for, even for the hour until its
//! reservation expires.

use std::time::Duration;

use anyhow::anyhow;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use reqwest::StatusCode;
use rusty_s3::S3Action;
use rusty_s3::actions::ListParts;
use url::Url;

use super::{S3Store, SIGN_TTL, SMALL_REQUEST_TIMEOUT, expect_success, transport_error};
use crate::error::{Error, Result};
use crate::storage::MultipartOutcome;
use docuvault_domain::ObjectKey;
use docuvault_domain::text::truncate_chars;

impl S3Store {
    pub(super) fn sign_put(&self, key: &ObjectKey, expires_in: Duration, len: u64) -> Url {
        let mut action = self
            .browser_bucket()
            .put_object(Some(&self.credentials), key.as_str());
        action
            .headers_mut()
            .insert("content-length", len.to_string());
        action.sign(expires_in)
    }

    pub(super) fn sign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u16,
        expires_in: Duration,
        len: u64,
    ) -> Url {
        let mut action = self.browser_bucket().upload_part(
            Some(&self.credentials),
            key.as_str(),
            number,
            upload_id,
        );
        action
            .headers_mut()
            .insert("content-length", len.to_string());
        action.sign(expires_in)
    }

    /// The parts sent so far, in part-number order, with their ETags and sizes (`None` if the
    /// store knows no such upload).
    async fn list_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<Option<Vec<(u16, String)>>> {
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let mut action =
                self.bucket
                    .list_parts(Some(&self.credentials), key.as_str(), upload_id);
            if let Some(m) = marker {
                action.set_part_number_marker(m);
            }
            let req = self
                .http
                .get(action.sign(SIGN_TTL))
                .timeout(SMALL_REQUEST_TIMEOUT);
            let resp = self.send(req, "list parts").await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let text = expect_success(resp, "list parts")
                .await?
                .text()
                .await
                .map_err(|e| transport_error(e, "list parts"))?;
            let page = ListParts::parse_response(&text)
                .map_err(|e| Error::Internal(anyhow!("unexpected ListParts answer: {e}")))?;
            parts.extend(page.parts.into_iter().map(|p| (p.number, p.etag)));
            match page.next_part_number_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        parts.sort_by_key(|p| p.0);
        Ok(Some(parts))
    }

    pub(super) async fn join_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        expected: u16,
    ) -> Result<MultipartOutcome> {
        let Some(parts) = self.list_parts(key, upload_id).await? else {
            return Ok(MultipartOutcome::Unknown);
        };
        let complete = parts.len() == usize::from(expected)
            && parts.iter().zip(1..=expected).all(|(p, n)| p.0 == n);
        if !complete {
            let present = parts
                .iter()
                .filter(|p| (1..=expected).contains(&p.0))
                .count();
            return Ok(MultipartOutcome::Incomplete { present });
        }
        let action = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key.as_str(),
            upload_id,
            parts.iter().map(|p| p.1.as_str()),
        );
        let req = self
            .http
            .post(action.sign(SIGN_TTL))
            .body(action.body())
            .timeout(Duration::from_secs(60));
        let resp = self.send(req, "complete multipart upload").await?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| transport_error(e, "complete multipart upload"))?;
        if status == StatusCode::NOT_FOUND || text.contains("<Code>NoSuchUpload</Code>") {
            return Ok(MultipartOutcome::Unknown);
        }
        if status == StatusCode::BAD_REQUEST {
            // EntityTooSmall, InvalidPart, InvalidPartOrder: the parts as sent cannot be joined.
            return Ok(MultipartOutcome::Rejected(error_code(&text)));
        }
        if !status.is_success() || text.contains("<Error>") {
            return Err(Error::unavailable(
                crate::error::Dependency::ObjectStore,
                anyhow!(
                    "complete multipart upload answered {status}: {}",
                    truncate_chars(&text, 300)
                ),
            ));
        }
        Ok(MultipartOutcome::Completed)
    }

    pub(super) async fn abort_upload(&self, key: &ObjectKey, upload_id: &str) -> Result<()> {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key.as_str(), upload_id)
            .sign(SIGN_TTL);
        let resp = self
            .send(
                self.http.delete(url).timeout(SMALL_REQUEST_TIMEOUT),
                "abort multipart upload",
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        expect_success(resp, "abort multipart upload")
            .await
            .map(drop)
    }

    pub(super) async fn head_size(&self, key: &ObjectKey) -> Result<Option<u64>> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key.as_str())
            .sign(SIGN_TTL);
        let resp = self
            .send(
                self.http.head(url).timeout(SMALL_REQUEST_TIMEOUT),
                "HEAD object",
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = expect_success(resp, "HEAD object").await?;
        let len = resp
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Internal(anyhow!("HEAD object answered no Content-Length")))?;
        Ok(Some(len))
    }

    /// A successful answer to `GET` with `Range: bytes=start-end` (`NotFound` if there is no
    /// object). A store that ignores Range answers `200` with the whole object: callers decide.
    pub(super) async fn get_ranged(
        &self,
        key: &ObjectKey,
        start: u64,
        end: u64,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key.as_str())
            .sign(SIGN_TTL);
        let mut req = self
            .http
            .get(url)
            .header(reqwest::header::RANGE, format!("bytes={start}-{end}"));
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = self.send(req, "GET object range").await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound("document content"));
        }
        expect_success(resp, "GET object range").await
    }

    pub(super) async fn get_prefix(&self, key: &ObjectKey, len: usize) -> Result<Bytes> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let end = u64::try_from(len - 1).unwrap_or(u64::MAX);
        let resp = self
            .get_ranged(key, 0, end, Some(SMALL_REQUEST_TIMEOUT))
            .await?;
        // Read only what was asked for, even from a store that sent the whole object.
        let mut body = resp.bytes_stream();
        let mut head = BytesMut::with_capacity(len);
        while head.len() < len {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| transport_error(e, "GET object range"))?;
                    let room = len - head.len();
                    head.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                None => break,
            }
        }
        Ok(head.freeze())
    }
}

/// The `<Code>` of an S3 error answer, for people ("EntityTooSmall").
fn error_code(xml: &str) -> String {
    xml.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or_else(
            || truncate_chars(xml, 100).to_owned(),
            |(code, _)| code.to_owned(),
        )
}
