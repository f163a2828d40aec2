//! OneDrive (personal and business) through Microsoft Graph, in DocuVault's app folder
//! (`Apps/<app name>/` in the person's OneDrive; the `Files.ReadWrite.AppFolder` scope reaches
//! nothing else). Files are addressed by path (`/me/drive/special/approot:/<path>:`), so a
//! retried upload replaces its own file and the clean-up finds a cut-off one by its locator.
//!
//! Uploads go through an upload session (`createUploadSession`, then `PUT`s of 5 MiB with
//! `Content-Range`, which Graph wants in multiples of 320 KiB and with the total size): a body
//! of unknown size is first spooled to a temporary file, so memory stays flat. Downloads follow
//! Graph's `302` to a pre-authenticated URL, without our token.

use std::path::PathBuf;

use futures::StreamExt;
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::oauth::{self, Api, Auth, Chunks};
use super::{ByteStream, CloudDrive, DriveError};

/// One upload request's bytes: 16 × 320 KiB.
const CHUNK: usize = 16 * 320 * 1024;

#[derive(Debug)]
pub struct OneDrive {
    api: Api,
    /// Graph's base (`https://graph.microsoft.com/v1.0`).
    base: Url,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    upload_url: Url,
}

impl OneDrive {
    pub fn new(api: Api, base: Url) -> Self {
        Self { api, base }
    }

    /// The app folder's item at `path`, then `suffix` (`:/content`, `:/createUploadSession`,
    /// or `:` for the item itself). DocuVault's `DocuVault/` prefix is dropped: the app folder
    /// is DocuVault's already.
    fn item(&self, path: &str, suffix: &str) -> Result<Url, DriveError> {
        let path = path.strip_prefix("DocuVault/").unwrap_or(path);
        let encoded: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(oauth::segment)
            .collect();
        oauth::join(
            &self.base,
            &format!("me/drive/special/approot:/{}{suffix}", encoded.join("/")),
        )
    }

    async fn get(
        &self,
        path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<ByteStream<'static>, DriveError> {
        let url = self.item(path, ":/content")?;
        let resp = self.api.send(Auth::Bearer, |h| h.get(url.clone())).await?;
        let resp = match resp.status() {
            // Graph answers with where the bytes are, signed for a while: no token goes there.
            StatusCode::FOUND | StatusCode::SEE_OTHER | StatusCode::TEMPORARY_REDIRECT => {
                let to = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| Url::parse(v).ok())
                    .ok_or_else(|| DriveError::Unreachable("Graph sent no download URL".into()))?;
                self.api
                    .send(Auth::Url, |h| {
                        let req = h.get(to.clone());
                        match range {
                            Some((s, e)) => {
                                req.header(reqwest::header::RANGE, format!("bytes={s}-{e}"))
                            }
                            None => req,
                        }
                    })
                    .await?
            }
            s if s.is_success() && range.is_none() => resp,
            _ => return Err(oauth::failure(resp, "cannot read the file").await),
        };
        match resp.status() {
            StatusCode::OK if range.is_none() => Ok(oauth::body_stream(resp)),
            StatusCode::PARTIAL_CONTENT if range.is_some() => Ok(oauth::body_stream(resp)),
            _ => Err(oauth::failure(resp, "cannot read the file").await),
        }
    }

    /// Sends `body` (`size` bytes) through an upload session.
    async fn upload(&self, path: &str, body: ByteStream<'_>, size: u64) -> Result<(), DriveError> {
        if size == 0 {
            // Upload sessions take no empty file; a simple upload does.
            let url = self.item(path, ":/content")?;
            let resp = self
                .api
                .send(Auth::Bearer, |h| h.put(url.clone()).body(Vec::new()))
                .await?;
            return if resp.status().is_success() {
                Ok(())
            } else {
                Err(oauth::failure(resp, "cannot store the file").await)
            };
        }
        let url = self.item(path, ":/createUploadSession")?;
        let resp = self
            .api
            .send(Auth::Bearer, |h| {
                h.post(url.clone()).json(&serde_json::json!({
                    "item": { "@microsoft.graph.conflictBehavior": "replace" }
                }))
            })
            .await?;
        let session: Session = oauth::json(resp, "cannot start the upload").await?;
        let sent = self.send_chunks(&session.upload_url, body, size).await;
        if sent.is_err() {
            // Drops what the session holds; it would expire by itself anyway.
            let cancel = self
                .api
                .send(Auth::Url, |h| h.delete(session.upload_url.clone()))
                .await;
            if let Err(e) = cancel {
                tracing::debug!(error = %e, "cannot cancel an upload session");
            }
        }
        sent
    }

    async fn send_chunks(
        &self,
        session: &Url,
        body: ByteStream<'_>,
        size: u64,
    ) -> Result<(), DriveError> {
        let mut chunks = Chunks::new(body);
        let mut offset: u64 = 0;
        loop {
            let chunk = chunks.next(CHUNK).await.map_err(DriveError::Body)?;
            let len = chunk.len() as u64;
            if len == 0 || offset + len > size {
                return Err(DriveError::Body(crate::Error::bad_request(
                    "size_mismatch",
                    format!("the file has not the {size} bytes expected"),
                )));
            }
            let range = format!("bytes {offset}-{}/{size}", offset + len - 1);
            let resp = self
                .api
                .send(Auth::Url, |h| {
                    h.put(session.clone())
                        .header(reqwest::header::CONTENT_RANGE, &range)
                        .body(chunk.clone())
                })
                .await?;
            offset += len;
            match resp.status() {
                StatusCode::ACCEPTED if offset < size => {}
                StatusCode::OK | StatusCode::CREATED if offset == size => {
                    // The rest of the body must be empty.
                    return match chunks.next(1).await.map_err(DriveError::Body)? {
                        rest if rest.is_empty() => Ok(()),
                        _ => Err(DriveError::Body(crate::Error::bad_request(
                            "size_mismatch",
                            format!("the file is longer than the {size} bytes expected"),
                        ))),
                    };
                }
                _ => return Err(oauth::failure(resp, "cannot store the file").await),
            }
        }
    }
}

/// A temporary file holding a body whose size is not known; removed when dropped.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `body` to a temporary file; the file (as a stream) and its size.
async fn spool(body: ByteStream<'_>) -> Result<(Spool, ByteStream<'static>, u64), DriveError> {
    let spool =
        Spool(std::env::temp_dir().join(format!("docuvault-spool-{}", uuid::Uuid::new_v4())));
    let io = |e: std::io::Error| DriveError::Other(anyhow::Error::from(e).into());
    let mut file = tokio::fs::File::create(&spool.0).await.map_err(io)?;
    let mut size: u64 = 0;
    let mut body = body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(DriveError::Body)?;
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    drop(file);
    let file = tokio::fs::File::open(&spool.0).await.map_err(io)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
        .map(|r| r.map_err(|e| crate::Error::from(anyhow::Error::from(e))))
        .boxed();
    Ok((spool, stream, size))
}

#[async_trait::async_trait]
impl CloudDrive for OneDrive {
    async fn put_stream(
        &self,
        path: &str,
        _content_type: &str,
        body: ByteStream<'_>,
        size: Option<u64>,
    ) -> Result<(String, u64), DriveError> {
        let (_spool, body, size) = match size {
            Some(size) => (None, body, size),
            None => {
                let (spool, stream, size) = spool(body).await?;
                (Some(spool), stream, size)
            }
        };
        self.upload(path, body, size).await?;
        Ok((path.to_owned(), size))
    }

    async fn get_stream(&self, path: &str) -> Result<ByteStream<'static>, DriveError> {
        self.get(path, None).await
    }

    async fn get_range(
        &self,
        path: &str,
        start: u64,
        end: u64,
    ) -> Result<ByteStream<'static>, DriveError> {
        self.get(path, Some((start, end))).await
    }

    async fn delete(&self, path: &str) -> Result<(), DriveError> {
        let url = self.item(path, "")?;
        let resp = self
            .api
            .send(Auth::Bearer, |h| h.delete(url.clone()))
            .await?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(oauth::failure(resp, "cannot delete the file").await),
        }
    }

    async fn check(&self) -> Result<Option<String>, DriveError> {
        // The app folder (Graph makes it on first use), then whose drive it is.
        let approot = oauth::join(&self.base, "me/drive/special/approot")?;
        let resp = self
            .api
            .send(Auth::Bearer, |h| h.get(approot.clone()))
            .await?;
        if !resp.status().is_success() {
            return Err(oauth::failure(resp, "cannot open the app folder").await);
        }
        let drive = oauth::join(&self.base, "me/drive")?;
        let resp = self
            .api
            .send(Auth::Bearer, |h| h.get(drive.clone()))
            .await?;
        let drive: serde_json::Value = oauth::json(resp, "cannot open the drive").await?;
        let owner = &drive["owner"]["user"];
        Ok(owner["email"]
            .as_str()
            .or_else(|| owner["displayName"].as_str())
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoTokens;

    #[async_trait::async_trait]
    impl oauth::AccessToken for NoTokens {
        async fn current(&self) -> Result<String, DriveError> {
            Err(DriveError::Credentials)
        }
        async fn renew(&self, _: &str) -> Result<String, DriveError> {
            Err(DriveError::Credentials)
        }
    }

    #[test]
    fn paths_are_addressed_in_the_app_folder_with_each_segment_encoded() -> anyhow::Result<()> {
        let drive = OneDrive::new(
            Api {
                http: reqwest::Client::new(),
                tokens: std::sync::Arc::new(NoTokens),
            },
            Url::parse("https://graph.example/v1.0")?,
        );
        let url = drive.item("DocuVault/Tax 2026/a#b (1234abcd).pdf", ":/content")?;
        assert_eq!(
            url.as_str(),
            "https://graph.example/v1.0/me/drive/special/approot:/Tax%202026/a%23b%20%281234abcd%29.pdf:/content"
        );
        Ok(())
    }
}
