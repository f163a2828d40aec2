//! Google Drive (API v3), with the `drive.file` scope: DocuVault sees only the files and folders
//! it made. Drive has no paths, so each file DocuVault stores carries the hash of its path in an
//! app property (`appProperties.docuvault`) and is found by it (one `files.list`), wherever the
//! person moves it in their Drive; the folders `DocuVault/<folder>/` are made by name for
//! people to find their documents. A retried upload first removes the file an earlier attempt
//! left under the same path, so nothing is stored twice.
//!
//! Uploads are resumable sessions (`uploadType=resumable`, then `PUT`s of 8 MiB, a multiple of
//! the 256 KiB Drive wants, with `Content-Range: bytes a-b/*` until the last), so a body of
//! unknown size streams through with one piece in memory.

use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::oauth::{self, Api, Auth, Chunks};
use super::{ByteStream, CloudDrive, DriveError};

const CHUNK: usize = 32 * 256 * 1024;
const FOLDER: &str = "application/vnd.google-apps.folder";
const PROPERTY: &str = "docuvault";

#[derive(Debug)]
pub struct GDrive {
    api: Api,
    /// `https://www.googleapis.com`: the API is under `drive/v3`, uploads under `upload/drive/v3`.
    base: Url,
}

#[derive(Deserialize)]
struct FileList {
    files: Vec<FileId>,
}

#[derive(Deserialize)]
struct FileId {
    id: String,
}

/// The value of the app property that finds the file stored under `path`.
fn key_of(path: &str) -> String {
    let digest = Sha256::digest(path.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A string inside a Drive query (`'…'`): backslashes and quotes escaped.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl GDrive {
    pub fn new(api: Api, base: Url) -> Self {
        Self { api, base }
    }

    fn files(&self, rest: &str) -> Result<Url, DriveError> {
        oauth::join(&self.base, &format!("drive/v3/files{rest}"))
    }

    async fn list(&self, query: &str) -> Result<Vec<String>, DriveError> {
        let mut url = self.files("")?;
        url.query_pairs_mut()
            .append_pair("q", query)
            .append_pair("fields", "files(id)")
            .append_pair("spaces", "drive")
            .append_pair("pageSize", "100");
        let resp = self.api.send(Auth::Bearer, |h| h.get(url.clone())).await?;
        let list: FileList = oauth::json(resp, "cannot list files").await?;
        Ok(list.files.into_iter().map(|f| f.id).collect())
    }

    /// The files stored under `path` (one, or none; more only after a lost race).
    async fn find(&self, path: &str) -> Result<Vec<String>, DriveError> {
        self.list(&format!(
            "appProperties has {{ key='{PROPERTY}' and value='{}' }} and trashed=false",
            key_of(path)
        ))
        .await
    }

    /// The folder `name` in `parent`, made if missing.
    async fn folder(&self, parent: &str, name: &str) -> Result<String, DriveError> {
        let found = self
            .list(&format!(
                "name={} and {} in parents and mimeType='{FOLDER}' and trashed=false",
                quoted(name),
                quoted(parent)
            ))
            .await?;
        if let Some(id) = found.into_iter().next() {
            return Ok(id);
        }
        let mut url = self.files("")?;
        url.query_pairs_mut().append_pair("fields", "id");
        let meta = serde_json::json!({ "name": name, "mimeType": FOLDER, "parents": [parent] });
        let resp = self
            .api
            .send(Auth::Bearer, |h| h.post(url.clone()).json(&meta))
            .await?;
        let made: FileId = oauth::json(resp, "cannot make the folder").await?;
        Ok(made.id)
    }

    async fn remove(&self, id: &str) -> Result<(), DriveError> {
        let url = self.files(&format!("/{}", oauth::segment(id)))?;
        let resp = self
            .api
            .send(Auth::Bearer, |h| h.delete(url.clone()))
            .await?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(oauth::failure(resp, "cannot delete the file").await),
        }
    }

    async fn get(
        &self,
        path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<ByteStream<'static>, DriveError> {
        let id = self
            .find(path)
            .await?
            .into_iter()
            .next()
            .ok_or(DriveError::NotFound)?;
        let mut url = self.files(&format!("/{}", oauth::segment(&id)))?;
        url.query_pairs_mut().append_pair("alt", "media");
        let resp = self
            .api
            .send(Auth::Bearer, |h| {
                let req = h.get(url.clone());
                match range {
                    Some((s, e)) => req.header(reqwest::header::RANGE, format!("bytes={s}-{e}")),
                    None => req,
                }
            })
            .await?;
        match resp.status() {
            StatusCode::OK if range.is_none() => Ok(oauth::body_stream(resp)),
            StatusCode::PARTIAL_CONTENT if range.is_some() => Ok(oauth::body_stream(resp)),
            _ => Err(oauth::failure(resp, "cannot read the file").await),
        }
    }

    /// Starts a resumable upload of `name` into `parent`; the session's URL.
    async fn start(
        &self,
        path: &str,
        parent: &str,
        content_type: &str,
        size: Option<u64>,
    ) -> Result<Url, DriveError> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let mut url = oauth::join(&self.base, "upload/drive/v3/files")?;
        url.query_pairs_mut()
            .append_pair("uploadType", "resumable")
            .append_pair("fields", "id,size");
        let meta = serde_json::json!({
            "name": name,
            "parents": [parent],
            "appProperties": { PROPERTY: key_of(path) },
        });
        let resp = self
            .api
            .send(Auth::Bearer, |h| {
                let req = h
                    .post(url.clone())
                    .header("X-Upload-Content-Type", content_type)
                    .json(&meta);
                match size {
                    Some(n) => req.header("X-Upload-Content-Length", n),
                    None => req,
                }
            })
            .await?;
        if !resp.status().is_success() {
            return Err(oauth::failure(resp, "cannot start the upload").await);
        }
        resp.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Url::parse(v).ok())
            .ok_or_else(|| DriveError::Unreachable("Drive sent no upload session".into()))
    }

    /// Sends the body through the session, piece by piece; its size.
    async fn send_chunks(&self, session: &Url, body: ByteStream<'_>) -> Result<u64, DriveError> {
        let mut chunks = Chunks::new(body);
        let mut offset: u64 = 0;
        loop {
            let chunk = chunks.next(CHUNK).await.map_err(DriveError::Body)?;
            let len = chunk.len() as u64;
            // A short piece is the last one; a full one may be too, which the next (empty)
            // read finds out, and an empty `bytes */total` then closes the upload.
            let last = len < CHUNK as u64;
            let range = match (len, last) {
                (0, _) => format!("bytes */{offset}"),
                (_, true) => format!("bytes {offset}-{}/{}", offset + len - 1, offset + len),
                (_, false) => format!("bytes {offset}-{}/*", offset + len - 1),
            };
            let resp = self
                .api
                .send(Auth::Url, |h| {
                    h.put(session.clone())
                        .header(reqwest::header::CONTENT_RANGE, &range)
                        .body(chunk.clone())
                })
                .await?;
            offset += len;
            match resp.status().as_u16() {
                // "Resume Incomplete": the piece arrived, more are expected.
                308 if !last => {}
                200 | 201 if last => return Ok(offset),
                _ => return Err(oauth::failure(resp, "cannot store the file").await),
            }
        }
    }
}

#[async_trait::async_trait]
impl CloudDrive for GDrive {
    async fn put_stream(
        &self,
        path: &str,
        content_type: &str,
        body: ByteStream<'_>,
        size: Option<u64>,
    ) -> Result<(String, u64), DriveError> {
        // What an earlier attempt stored under this path goes first.
        for id in self.find(path).await? {
            self.remove(&id).await?;
        }
        let mut parent = "root".to_owned();
        let dirs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for dir in dirs.iter().take(dirs.len().saturating_sub(1)) {
            parent = self.folder(&parent, dir).await?;
        }
        let session = self.start(path, &parent, content_type, size).await?;
        match self.send_chunks(&session, body).await {
            Ok(n) => Ok((path.to_owned(), n)),
            Err(e) => {
                // An unfinished session stores nothing; a cancelled one frees its space now.
                if let Err(c) = self
                    .api
                    .send(Auth::Url, |h| h.delete(session.clone()))
                    .await
                {
                    tracing::debug!(error = %c, "cannot cancel an upload session");
                }
                Err(e)
            }
        }
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
        for id in self.find(path).await? {
            self.remove(&id).await?;
        }
        Ok(())
    }

    async fn check(&self) -> Result<Option<String>, DriveError> {
        let mut url = oauth::join(&self.base, "drive/v3/about")?;
        url.query_pairs_mut().append_pair("fields", "user");
        let resp = self.api.send(Auth::Bearer, |h| h.get(url.clone())).await?;
        let about: serde_json::Value = oauth::json(resp, "cannot open the drive").await?;
        let user = &about["user"];
        Ok(user["emailAddress"]
            .as_str()
            .or_else(|| user["displayName"].as_str())
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_escaped_and_keys_are_stable() {
        assert_eq!(quoted(r"O'Brien \ Co"), r"'O\'Brien \\ Co'");
        let key = key_of("DocuVault/Unfiled/a (12345678).pdf");
        assert_eq!(key.len(), 32);
        assert_eq!(key, key_of("DocuVault/Unfiled/a (12345678).pdf"));
        assert_ne!(key, key_of("DocuVault/Unfiled/b (12345678).pdf"));
    }
}
