//! A WebDAV server as a place for a person's documents: any WebDAV server, and Nextcloud (whose
//! WebDAV root for a user is `/remote.php/dav/files/<user>/`, reached with an app password).
//! Written over `reqwest`: the five verbs needed (PUT streamed, GET with or without a range,
//! DELETE, MKCOL, PROPFIND) do not justify a WebDAV crate.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use url::Url;

use super::{ByteStream, CloudDrive, DriveError};
use crate::Secret;

/// How long a server may take to answer before we give up (a whole body may take longer: this
/// bounds the wait for headers and between reads).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct WebDav {
    http: reqwest::Client,
    /// The collection everything lives under, ending in `/`.
    root: Url,
    username: String,
    password: Secret<String>,
}

impl std::fmt::Debug for WebDav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDav")
            .field("root", &self.root.as_str())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The WebDAV root of a Nextcloud user: `<server>/remote.php/dav/files/<user>/`.
pub fn nextcloud_root(server: &Url, username: &str) -> Result<Url, DriveError> {
    let mut root = server.clone();
    {
        let mut segments = root
            .path_segments_mut()
            .map_err(|()| DriveError::Refused("the server URL cannot hold a path".into()))?;
        segments
            .pop_if_empty()
            .extend(["remote.php", "dav", "files", username, ""]);
    }
    Ok(root)
}

impl WebDav {
    /// A client for the collection at `root` (its path is taken as a folder).
    pub fn new(
        http: reqwest::Client,
        root: &Url,
        username: &str,
        password: Secret<String>,
    ) -> Self {
        let mut root = root.clone();
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        Self {
            http,
            root,
            username: username.to_owned(),
            password,
        }
    }

    /// The URL of `path` (segments separated by `/`, each percent-encoded here).
    fn url(&self, path: &str) -> Result<Url, DriveError> {
        let mut url = self.root.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| DriveError::Refused("the server URL cannot hold a path".into()))?;
            segments.pop_if_empty();
            for s in path.split('/').filter(|s| !s.is_empty()) {
                segments.push(s);
            }
        }
        Ok(url)
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.username, Some(self.password.expose()))
    }

    /// Makes the collections on the way to `path`'s parent (one that exists is fine).
    async fn make_parents(&self, path: &str) -> Result<(), DriveError> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut dir = String::new();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            dir.push_str(part);
            dir.push('/');
            let mut url = self.url(&dir)?;
            // A collection's URL ends in `/` (some servers redirect otherwise).
            let with_slash = format!("{}/", url.path());
            url.set_path(&with_slash);
            let resp = self
                .request(dav_method(b"MKCOL")?, url)
                .send()
                .await
                .map_err(unreachable)?;
            match resp.status() {
                // Created, or there already (405: "not allowed on an existing resource").
                s if s.is_success() || s == StatusCode::METHOD_NOT_ALLOWED => {}
                s => return Err(refusal(s, "cannot make the folder")),
            }
        }
        Ok(())
    }

    async fn get(
        &self,
        path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<ByteStream<'static>, DriveError> {
        let mut req = self.request(Method::GET, self.url(path)?);
        if let Some((start, end)) = range {
            req = req.header(reqwest::header::RANGE, format!("bytes={start}-{end}"));
        }
        let resp = req.send().await.map_err(unreachable)?;
        match resp.status() {
            StatusCode::OK if range.is_none() => {}
            StatusCode::PARTIAL_CONTENT if range.is_some() => {}
            StatusCode::NOT_FOUND => return Err(DriveError::NotFound),
            s => return Err(refusal(s, "cannot read the file")),
        }
        Ok(resp
            .bytes_stream()
            .map_err(|e| crate::Error::from(DriveError::Unreachable(e.without_url().to_string())))
            .boxed())
    }
}

#[async_trait::async_trait]
impl CloudDrive for WebDav {
    async fn put_stream(
        &self,
        path: &str,
        content_type: &str,
        body: ByteStream<'_>,
        _size: Option<u64>,
    ) -> Result<(String, u64), DriveError> {
        self.make_parents(path).await?;
        let url = self.url(path)?;
        // The body is borrowed (an upload streams from its request), and reqwest wants a
        // 'static one: a small channel carries the chunks, pumped here while the request runs.
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        let mut body = body;
        let pump = async move {
            let mut sent: u64 = 0;
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(bytes) => {
                        sent += bytes.len() as u64;
                        if tx.send(Ok(bytes)).await.is_err() {
                            // The request ended early; its own result says why.
                            return Ok(sent);
                        }
                    }
                    Err(e) => {
                        // Fails the request, so the server does not keep a cut-off file.
                        let _ = tx
                            .send(Err(std::io::Error::other("the upload was interrupted")))
                            .await;
                        return Err(e);
                    }
                }
            }
            Ok(sent)
        };
        let send = self
            .request(Method::PUT, url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(reqwest::Body::wrap_stream(rx))
            .send();
        let (sent, resp) = tokio::join!(pump, send);
        let outcome = match (sent, resp) {
            (Err(e), _) => Err(DriveError::Body(e)),
            (Ok(_), Err(e)) => Err(unreachable(e)),
            (Ok(n), Ok(resp)) if resp.status().is_success() => Ok(n),
            (Ok(_), Ok(resp)) => Err(refusal(resp.status(), "cannot store the file")),
        };
        match outcome {
            Ok(size) => Ok((path.to_owned(), size)),
            Err(e) => {
                // Nothing may stay behind under the path (the trait's contract); best effort,
                // the caller's clean-up entry covers a server that went away.
                if let Err(d) = self.delete(path).await {
                    tracing::debug!(error = %d, "cannot remove a cut-off upload");
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
        let resp = self
            .request(Method::DELETE, self.url(path)?)
            .send()
            .await
            .map_err(unreachable)?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(refusal(s, "cannot delete the file")),
        }
    }

    async fn check(&self) -> Result<Option<String>, DriveError> {
        let resp = self
            .request(dav_method(b"PROPFIND")?, self.root.clone())
            .header("Depth", "0")
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .body(r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>"#)
            .send()
            .await
            .map_err(unreachable)?;
        match resp.status() {
            StatusCode::MULTI_STATUS => Ok(None),
            StatusCode::NOT_FOUND => Err(DriveError::Refused(
                "the server has no WebDAV folder at this URL".into(),
            )),
            s if s.is_success() => Err(DriveError::Refused(format!(
                "the server answered {s} instead of a WebDAV listing; is this a WebDAV URL?"
            ))),
            s => Err(refusal(s, "cannot list the folder")),
        }
    }
}

/// The client to use for WebDAV servers: bounded waits, no redirects (a redirect could lead
/// past the egress guard), no proxy from the environment.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("DocuVault/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// A WebDAV verb (valid tokens, so this never fails; no fallback to another verb).
fn dav_method(name: &'static [u8]) -> Result<Method, DriveError> {
    Method::from_bytes(name).map_err(|e| DriveError::Refused(format!("HTTP method: {e}")))
}

fn unreachable(e: reqwest::Error) -> DriveError {
    // Without the URL: it can carry a user name, and the connection's name says which server.
    DriveError::Unreachable(e.without_url().to_string())
}

fn refusal(status: StatusCode, what: &str) -> DriveError {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => DriveError::Credentials,
        StatusCode::INSUFFICIENT_STORAGE => {
            DriveError::Refused("the server is out of space".into())
        }
        s if s.is_server_error() => DriveError::Unreachable(format!("the server answered {s}")),
        s => DriveError::Refused(format!("{what}: the server answered {s}")),
    }
}
