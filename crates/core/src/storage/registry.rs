//! The storage registry: from a document's locator to the backend holding its bytes.
//!
//! A locator is a key in DocuVault's own store, or `cloud:{connection}:{path}` in one of the
//! owner's connections (see `migrations/0019_cloud_storage.sql`). Reads, previews, the worker
//! and the clean-up all go through [`Storage`], so none of them needs to know where a document
//! is kept. A connection's credentials are opened for each operation and never leave here.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use url::Url;
use uuid::Uuid;

use super::gdrive::GDrive;
use super::oauth::{Api, OAuthApp, Provider, Tokens};
use super::onedrive::OneDrive;
use super::tokens::ConnectionTokens;
use super::webdav::{self, WebDav};
use super::{ByteStream, CloudDrive, DriveError, ObjectStore};
use crate::ai::egress;
use crate::crypto::{Purpose, Sealer};
use crate::db::PgPool;
use crate::db::cloud_connections::{self as q, ConnectionRow};
use crate::error::{Error, Result};
use crate::{Secret, error::Dependency};
use docuvault_domain::ObjectKey;

const CLOUD_PREFIX: &str = "cloud:";

/// Where a locator points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location<'a> {
    /// A key in DocuVault's own store.
    Vault(&'a str),
    /// A file in one of the owner's cloud connections.
    Cloud { connection: Uuid, path: &'a str },
}

impl<'a> Location<'a> {
    /// Reads a stored locator. Keys in DocuVault's store never start with `cloud:` (they are
    /// `{uuid}/…` or `null-user/…`); a `cloud:` locator without a valid id is a bug, kept as a
    /// key so that it fails as "not found" rather than being sent somewhere.
    pub fn parse(locator: &'a str) -> Self {
        locator
            .strip_prefix(CLOUD_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .and_then(|(id, path)| {
                Some(Self::Cloud {
                    connection: id.parse().ok()?,
                    path,
                })
            })
            .unwrap_or(Self::Vault(locator))
    }

    /// The locator of `path` in `connection`.
    pub fn cloud(connection: Uuid, path: &str) -> String {
        format!("{CLOUD_PREFIX}{connection}:{path}")
    }

    pub fn connection(&self) -> Option<Uuid> {
        match self {
            Self::Vault(_) => None,
            Self::Cloud { connection, .. } => Some(*connection),
        }
    }
}

/// What a connection's credentials are, as sealed (JSON): a password (WebDAV, Nextcloud) or
/// OAuth tokens (OneDrive, Google Drive).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<Tokens>,
}

#[derive(Clone, Debug)]
pub struct Storage {
    /// DocuVault's own store.
    pub vault: Arc<dyn ObjectStore>,
    pub(super) db: PgPool,
    sealer: Sealer,
    /// For servers on any address (`CLOUD_ALLOW_PRIVATE_ENDPOINTS`), and for the OAuth
    /// providers' endpoints, which the operator configures.
    http: reqwest::Client,
    /// For everyone else: public addresses only (the egress guard AI endpoints use).
    public_http: reqwest::Client,
    allow_private: bool,
    /// The OAuth providers the operator set up (OneDrive, Google Drive).
    oauth: Arc<Vec<OAuthApp>>,
}

impl Storage {
    pub fn new(
        vault: Arc<dyn ObjectStore>,
        db: PgPool,
        sealer: Sealer,
        config: &crate::Config,
    ) -> anyhow::Result<Self> {
        let http = webdav::client_builder().build()?;
        // Where the providers send the browser back after signing in.
        let callback = config
            .auth
            .public_url
            .join("/api/cloud-connections/oauth/callback")?;
        let oauth = [
            (Provider::OneDrive, &config.cloud.onedrive),
            (Provider::GDrive, &config.cloud.gdrive),
        ]
        .into_iter()
        .filter_map(|(p, c)| {
            c.clone()
                .map(|c| OAuthApp::new(p, c, callback.clone(), http.clone()))
        })
        .collect();
        Ok(Self {
            vault,
            db,
            sealer,
            public_http: webdav::client_builder()
                .dns_resolver(Arc::new(egress::PublicOnly))
                .build()?,
            http,
            allow_private: config.cloud.allow_private,
            oauth: Arc::new(oauth),
        })
    }

    /// The provider's OAuth client, if the operator set it up.
    pub fn oauth_app(&self, provider: Provider) -> Option<&OAuthApp> {
        self.oauth.iter().find(|a| a.provider == provider)
    }

    /// The OAuth providers people can connect here.
    pub fn oauth_providers(&self) -> Vec<Provider> {
        self.oauth.iter().map(|a| a.provider).collect()
    }

    /// Whether a user may connect a server at `url` (the host written in it; names are checked
    /// again when resolved).
    pub fn endpoint_allowed(&self, url: &Url) -> bool {
        self.allow_private || egress::host_allowed(url)
    }

    /// Seals a connection's credentials for its owner, bound to the connection.
    pub fn seal(&self, owner: Uuid, connection: Uuid, creds: &Credentials) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(creds).map_err(anyhow::Error::from)?;
        Ok(self
            .sealer
            .seal_versioned(Purpose::CloudCredentials, owner, connection, &json)?)
    }

    /// A connection's credentials, opened.
    pub(super) fn open(&self, row: &ConnectionRow) -> Result<Credentials> {
        let opened = self
            .sealer
            .open_versioned(
                Purpose::CloudCredentials,
                row.user_id,
                row.id,
                &row.credentials_enc,
            )
            .map_err(|e| anyhow::anyhow!("connection {}: {e}", row.id))?;
        Ok(serde_json::from_slice(&opened).map_err(anyhow::Error::from)?)
    }

    /// The drive behind a connection row, its credentials opened.
    pub fn drive_of(&self, row: &ConnectionRow) -> Result<Box<dyn CloudDrive>> {
        let creds = self.open(row)?;
        if let Some(provider) = Provider::parse(&row.provider) {
            let tokens = creds
                .oauth
                .ok_or_else(|| anyhow::anyhow!("connection {} has no tokens", row.id))?;
            let tokens = ConnectionTokens::new(self.clone(), row.id, tokens);
            return self.oauth_drive(provider, Arc::new(tokens));
        }
        let endpoint = Url::parse(&row.endpoint).map_err(anyhow::Error::from)?;
        self.drive_for(
            &row.provider,
            &endpoint,
            row.username.as_deref().unwrap_or_default(),
            Secret::new(creds.password.unwrap_or_default()),
        )
    }

    /// The drive of an OAuth provider, with its tokens.
    pub fn oauth_drive(
        &self,
        provider: Provider,
        tokens: Arc<dyn super::oauth::AccessToken>,
    ) -> Result<Box<dyn CloudDrive>> {
        let app = self.oauth_app(provider).ok_or_else(|| {
            Error::conflict(
                "cloud_provider_unavailable",
                format!(
                    "{} is not set up on this server any more; ask its operator",
                    provider.label()
                ),
            )
        })?;
        let api = Api {
            http: self.http.clone(),
            tokens,
        };
        let base = app.config.api_url.clone();
        Ok(match provider {
            Provider::OneDrive => Box::new(OneDrive::new(api, base)),
            Provider::GDrive => Box::new(GDrive::new(api, base)),
        })
    }

    /// The drive for what a person entered (a connection not saved yet is checked with it).
    pub fn drive_for(
        &self,
        provider: &str,
        endpoint: &Url,
        username: &str,
        password: Secret<String>,
    ) -> Result<Box<dyn CloudDrive>> {
        let http = if self.allow_private {
            self.http.clone()
        } else {
            self.public_http.clone()
        };
        let root = match provider {
            "webdav" => endpoint.clone(),
            "nextcloud" => webdav::nextcloud_root(endpoint, username)?,
            other => {
                return Err(Error::conflict(
                    "cloud_provider_unavailable",
                    format!("{other} connections are not available in this version"),
                ));
            }
        };
        Ok(Box::new(WebDav::new(http, &root, username, password)))
    }

    /// The drive of a connection named by a locator.
    async fn drive(&self, connection: Uuid) -> Result<(ConnectionRow, Box<dyn CloudDrive>)> {
        let row = q::get_any(&self.db, connection)
            .await?
            .ok_or(Error::NotFound("cloud connection"))?;
        let drive = self.drive_of(&row)?;
        Ok((row, drive))
    }

    /// Notes how an operation on a connection went: credentials refused turn it `error` (its
    /// owner sees why on the Storage page); a success after an error turns it `active` again.
    /// Reports the outcome as a service error naming the connection.
    pub async fn observe<T>(
        &self,
        row: &ConnectionRow,
        outcome: std::result::Result<T, DriveError>,
    ) -> Result<T> {
        let error = match &outcome {
            Ok(_) if row.status == "error" => Some(None),
            Err(DriveError::Credentials) => Some(Some(refused_message(&row.provider))),
            _ => None,
        };
        if let Some(error) = error
            && let Err(e) = q::set_status(&self.db, row.id, error.as_deref()).await
        {
            tracing::warn!(connection_id = %row.id, error = %e.chain(), "cannot record the connection's status");
        }
        outcome.map_err(|e| match e {
            DriveError::Unreachable(reason) => Error::unavailable(
                Dependency::CloudStorage,
                anyhow::anyhow!("{} ({}): {reason}", row.display_name, row.provider),
            ),
            other => other.into(),
        })
    }

    /// Streams the bytes under `locator`.
    pub async fn get_stream(&self, locator: &str) -> Result<ByteStream<'static>> {
        match Location::parse(locator) {
            Location::Vault(key) => {
                self.vault
                    .get_stream(&ObjectKey::from_stored(key.to_owned()))
                    .await
            }
            Location::Cloud { connection, path } => {
                let (row, drive) = self.drive(connection).await?;
                let got = drive.get_stream(path).await;
                self.observe(&row, got).await
            }
        }
    }

    /// Bytes `start..=end` under `locator`, streamed.
    pub async fn get_range(
        &self,
        locator: &str,
        start: u64,
        end: u64,
    ) -> Result<ByteStream<'static>> {
        match Location::parse(locator) {
            Location::Vault(key) => {
                self.vault
                    .get_range(&ObjectKey::from_stored(key.to_owned()), start, end)
                    .await
            }
            Location::Cloud { connection, path } => {
                let (row, drive) = self.drive(connection).await?;
                let got = drive.get_range(path, start, end).await;
                self.observe(&row, got).await
            }
        }
    }

    /// Up to the first `len` bytes under `locator`.
    pub async fn read_prefix(&self, locator: &str, len: usize) -> Result<Bytes> {
        if let Location::Vault(key) = Location::parse(locator) {
            return self
                .vault
                .read_prefix(&ObjectKey::from_stored(key.to_owned()), len)
                .await;
        }
        let mut body = self.get_stream(locator).await?;
        let mut head = BytesMut::new();
        while head.len() < len
            && let Some(chunk) = body.next().await
        {
            head.extend_from_slice(&chunk?);
        }
        head.truncate(len);
        Ok(head.freeze())
    }

    /// Removes what is under `locator`; nothing there is not an error, and neither is a
    /// connection that no longer exists (its files are the owner's to keep).
    pub async fn delete(&self, locator: &str) -> Result<()> {
        match Location::parse(locator) {
            Location::Vault(key) => {
                self.vault
                    .delete(&ObjectKey::from_stored(key.to_owned()))
                    .await
            }
            Location::Cloud { connection, path } => match self.drive(connection).await {
                Ok((row, drive)) => {
                    let done = drive.delete(path).await;
                    self.observe(&row, done).await
                }
                Err(Error::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            },
        }
    }

    /// Stores `body` at `path` in the connection; the locator it is found by and its size.
    pub async fn put_cloud(
        &self,
        connection: Uuid,
        path: &str,
        content_type: &str,
        body: ByteStream<'_>,
        size: Option<u64>,
    ) -> Result<(String, u64)> {
        let (row, drive) = self.drive(connection).await?;
        if row.status == "revoked" {
            return Err(Error::conflict(
                "cloud_connection_revoked",
                format!("{} was disconnected", row.display_name),
            ));
        }
        let put = drive.put_stream(path, content_type, body, size).await;
        let (found_by, size) = self.observe(&row, put).await?;
        Ok((Location::cloud(connection, &found_by), size))
    }
}

/// Why a connection is in `error` after its credentials were refused, in words for its owner.
pub fn refused_message(provider: &str) -> String {
    match Provider::parse(provider) {
        Some(p) => format!(
            "{} no longer accepts DocuVault's sign-in (it was revoked or has expired); sign in again on the Storage page",
            p.label()
        ),
        None => "the server refused the user name or password; connect it again".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_say_where_the_bytes_are() {
        let id = Uuid::new_v4();
        let loc = Location::cloud(id, "DocuVault/Inbox/a: b.pdf");
        assert_eq!(
            Location::parse(&loc),
            Location::Cloud {
                connection: id,
                path: "DocuVault/Inbox/a: b.pdf"
            }
        );
        let key = format!("{id}/{id}/{id}.pdf");
        assert_eq!(Location::parse(&key), Location::Vault(&key));
        assert_eq!(
            Location::parse("cloud:not-an-id:x"),
            Location::Vault("cloud:not-an-id:x")
        );
        assert_eq!(Location::parse(&loc).connection(), Some(id));
    }
}
