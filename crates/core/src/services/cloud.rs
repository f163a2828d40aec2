//! A person's own cloud as the place their documents are kept: connecting a WebDAV server or a
//! Nextcloud (tested before it is saved; the password sealed and never shown again), listing
//! connections with their status, testing one again, choosing where new uploads go, asking for
//! documents to be moved (the workers move them, see `pipeline::moves`), disconnecting.

use std::time::Duration;

use url::Url;
use uuid::Uuid;

use super::Vault;
use super::documents::invalid;
use crate::db::audit::{self, AuditEvent};
use crate::db::cloud_connections::{self as q, ConnectionRow, ConnectionSummary, NewConnection};
use crate::db::documents as docs;
use crate::db::storage_moves;
use crate::error::{Error, Result};
use crate::storage::{Credentials, Location};
use docuvault_domain::{FileKind, ObjectKey};

/// How many connections one user may have.
pub const MAX_CONNECTIONS: i64 = 10;
/// The folder in a person's cloud that DocuVault keeps their documents in.
pub const CLOUD_FOLDER: &str = "DocuVault";
/// How long a move's target may exist without the move before the clean-up deletes it (far
/// longer than any copy takes; a move that is being worked on keeps it anyway).
const MOVE_TARGET_ORPHAN_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What a person enters to connect a WebDAV server or a Nextcloud.
#[derive(Debug)]
pub struct NewCloud {
    pub provider: String,
    pub display_name: String,
    pub url: String,
    pub username: String,
    pub password: String,
}

/// Where documents are kept: DocuVault's own store, or one of the owner's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Vault,
    Cloud(Uuid),
}

impl Backend {
    pub fn connection(self) -> Option<Uuid> {
        match self {
            Self::Vault => None,
            Self::Cloud(id) => Some(id),
        }
    }

    fn of(connection: Option<Uuid>) -> Self {
        connection.map_or(Self::Vault, Self::Cloud)
    }
}

impl Vault {
    /// Connects a WebDAV server or a Nextcloud after checking that it answers with these
    /// credentials; nothing is saved when it does not.
    pub async fn add_cloud_connection(
        &self,
        owner: Uuid,
        input: NewCloud,
        ip: Option<std::net::IpAddr>,
    ) -> Result<ConnectionRow> {
        let provider = match input.provider.as_str() {
            p @ ("webdav" | "nextcloud") => p,
            "onedrive" | "gdrive" => {
                return Err(invalid(
                    "cloud_provider_needs_sign_in",
                    "OneDrive and Google Drive are connected by signing in: POST /api/cloud-connections/oauth/start",
                ));
            }
            _ => {
                return Err(invalid(
                    "invalid_cloud_provider",
                    "the provider is \"webdav\" or \"nextcloud\"",
                ));
            }
        };
        let display_name = display_name_of(&input.display_name)?;
        let url = self.cloud_url(input.url.trim())?;
        let username = input.username.trim();
        if username.is_empty() || username.len() > 320 || username.chars().any(char::is_control) {
            return Err(invalid(
                "invalid_cloud_username",
                "the user name has 1 to 320 characters",
            ));
        }
        if input.password.is_empty() || input.password.len() > 1024 {
            return Err(invalid(
                "invalid_cloud_password",
                "the password (an app password for Nextcloud) has 1 to 1024 characters",
            ));
        }
        self.room_for_connection(owner).await?;
        // Checked before it is saved: a connection that does not work is not one.
        self.storage
            .drive_for(
                provider,
                &url,
                username,
                crate::Secret::new(input.password.clone()),
            )?
            .check()
            .await
            .map_err(|e| invalid("cloud_connection_failed", connection_failure(provider, &e)))?;
        let id = Uuid::new_v4();
        let sealed = self.storage.seal(
            owner,
            id,
            &Credentials {
                password: Some(input.password),
                oauth: None,
            },
        )?;
        let new = NewConnection {
            id,
            owner,
            provider,
            display_name,
            endpoint: url.as_str(),
            username: Some(username),
            credentials_enc: &sealed,
            token_expires_at: None,
        };
        let row = q::insert(&self.db, &new).await?;
        self.audit_cloud(owner, ip, "cloud_connected", &row).await;
        tracing::info!(connection_id = %row.id, provider, "cloud storage connected");
        Ok(row)
    }

    /// Refuses an eleventh connection.
    pub(super) async fn room_for_connection(&self, owner: Uuid) -> Result<()> {
        if q::list(&self.db, owner).await?.len() as i64 >= MAX_CONNECTIONS {
            return Err(Error::conflict(
                "too_many_connections",
                format!("at most {MAX_CONNECTIONS} cloud connections per account"),
            ));
        }
        Ok(())
    }

    /// A server URL a user may connect: http(s), no credentials or fragment in it, and on a
    /// public address unless `CLOUD_ALLOW_PRIVATE_ENDPOINTS` allows private ones. Plain http
    /// only to a private address (a LAN): the password would cross the internet readable.
    fn cloud_url(&self, raw: &str) -> Result<Url> {
        let url = Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                invalid(
                    "invalid_cloud_url",
                    "the server URL is an http(s) URL such as https://cloud.example.org",
                )
            })?;
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "invalid_cloud_url",
                "put the user name and password in their own fields, not in the URL",
            ));
        }
        if !self.storage.endpoint_allowed(&url) {
            return Err(invalid(
                "private_endpoint",
                "the server is on a private or loopback address; the operator can allow that with CLOUD_ALLOW_PRIVATE_ENDPOINTS",
            ));
        }
        if url.scheme() == "http" && crate::ai::egress::host_allowed(&url) {
            return Err(invalid(
                "insecure_cloud_url",
                "use https: over plain http the password would cross the internet readable",
            ));
        }
        Ok(url)
    }

    pub async fn list_cloud_connections(&self, owner: Uuid) -> Result<Vec<ConnectionSummary>> {
        q::list(&self.db, owner).await
    }

    /// The owner's connection, as listed.
    pub async fn cloud_connection(&self, owner: Uuid, id: Uuid) -> Result<ConnectionSummary> {
        q::list(&self.db, owner)
            .await?
            .into_iter()
            .find(|c| c.row.id == id)
            .ok_or(Error::NotFound("cloud connection"))
    }

    /// Checks the connection again and records how it answered.
    pub async fn test_cloud_connection(&self, owner: Uuid, id: Uuid) -> Result<ConnectionSummary> {
        let row = q::get(&self.db, owner, id)
            .await?
            .ok_or(Error::NotFound("cloud connection"))?;
        let outcome = self.storage.drive_of(&row)?.check().await;
        let error = outcome
            .as_ref()
            .err()
            .map(|e| connection_failure(&row.provider, e));
        q::set_status(&self.db, id, error.as_deref()).await?;
        self.cloud_connection(owner, id).await
    }

    /// Disconnects; refused while documents are kept there or moving there (they would become
    /// unreadable): the owner moves them first, and the page says so.
    pub async fn delete_cloud_connection(
        &self,
        owner: Uuid,
        id: Uuid,
        ip: Option<std::net::IpAddr>,
    ) -> Result<()> {
        let row = q::get(&self.db, owner, id)
            .await?
            .ok_or(Error::NotFound("cloud connection"))?;
        let kept = q::documents_in(&self.db, id).await?;
        if kept > 0 {
            return Err(in_use(kept));
        }
        // A document that arrived between the count and the delete: the foreign key refuses.
        if !q::delete(&self.db, owner, id).await? {
            return Err(Error::NotFound("cloud connection"));
        }
        self.audit_cloud(owner, ip, "cloud_disconnected", &row)
            .await;
        tracing::info!(connection_id = %id, "cloud storage disconnected");
        Ok(())
    }

    /// Where the owner's new uploads go.
    pub async fn default_storage(&self, owner: Uuid) -> Result<Backend> {
        Ok(Backend::of(q::default_of(&self.db, owner).await?))
    }

    pub async fn set_default_storage(&self, owner: Uuid, to: Backend) -> Result<Backend> {
        if !q::set_default(&self.db, owner, to.connection()).await? {
            return Err(Error::NotFound("cloud connection"));
        }
        Ok(to)
    }

    /// Asks for the owner's document to be moved to `to`; a worker copies it, checks the copy,
    /// switches the document to it and deletes the old one. `false`: it is there already.
    pub async fn request_storage_move(&self, owner: Uuid, id: Uuid, to: Backend) -> Result<bool> {
        let row = docs::get(&self.db, owner, id)
            .await?
            .ok_or(Error::NotFound("document"))?;
        if Location::parse(&row.object_key).connection() == to.connection() {
            return Ok(false);
        }
        let to_locator = match to {
            Backend::Vault => {
                let kind = FileKind::from_mime(&row.content_type).ok_or_else(|| {
                    anyhow::anyhow!("document {id} has an unknown type {}", row.content_type)
                })?;
                ObjectKey::for_document(owner, id, kind).as_str().to_owned()
            }
            Backend::Cloud(connection) => {
                let conn = q::get(&self.db, owner, connection)
                    .await?
                    .ok_or(Error::NotFound("cloud connection"))?;
                if conn.status == "revoked" {
                    return Err(Error::conflict(
                        "cloud_connection_revoked",
                        format!("{} was disconnected", conn.display_name),
                    ));
                }
                let folder = match row.folder_id {
                    Some(f) => crate::db::folders::name_of(&self.db, owner, f).await?,
                    None => None,
                };
                Location::cloud(
                    connection,
                    &cloud_path(folder.as_deref(), &row.filename, id),
                )
            }
        };
        let requested = storage_moves::request(
            &self.db,
            owner,
            id,
            to.connection(),
            &to_locator,
            MOVE_TARGET_ORPHAN_AFTER,
        )
        .await?;
        if !requested {
            return Err(Error::conflict(
                "document_moving",
                "the document is being moved already; wait until that move is done",
            ));
        }
        tracing::info!(document_id = %id, to = ?to, "storage move requested");
        Ok(true)
    }

    /// Asks for every document of the owner kept in `from` to be moved to `to`; how many moves
    /// were asked for (documents moving already are left alone).
    pub async fn request_storage_moves(
        &self,
        owner: Uuid,
        from: Backend,
        to: Backend,
    ) -> Result<usize> {
        if let Backend::Cloud(c) = from {
            q::get(&self.db, owner, c)
                .await?
                .ok_or(Error::NotFound("cloud connection"))?;
        }
        let ids = docs::kept_in(&self.db, owner, from.connection()).await?;
        let mut asked = 0;
        for id in ids {
            match self.request_storage_move(owner, id, to).await {
                Ok(true) => asked += 1,
                Ok(false) | Err(Error::Conflict { .. }) | Err(Error::NotFound("document")) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(asked)
    }

    pub(super) async fn audit_cloud(
        &self,
        owner: Uuid,
        ip: Option<std::net::IpAddr>,
        event_type: &'static str,
        row: &ConnectionRow,
    ) {
        let event = AuditEvent {
            event_type,
            user_id: Some(owner),
            actor_id: Some(owner),
            ip,
            // Never the credentials; the URL names the server the documents go to.
            metadata: serde_json::json!({
                "connection_id": row.id, "provider": row.provider, "endpoint": row.endpoint,
            }),
        };
        if let Err(e) = audit::record(&self.db, &event).await {
            tracing::warn!(error = %e.chain(), "cannot write the audit log");
        }
    }
}

fn in_use(kept: i64) -> Error {
    Error::conflict(
        "connection_in_use",
        format!(
            "{kept} document(s) are kept in this storage or moving there; move them to another storage first"
        ),
    )
}

/// Why a connection did not work, in words for its owner.
/// A connection's name as entered: 1 to 100 characters, no control characters.
pub(super) fn display_name_of(raw: &str) -> Result<&str> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(
            "invalid_display_name",
            "the name has 1 to 100 characters",
        ));
    }
    Ok(name)
}

pub(super) fn connection_failure(provider: &str, e: &crate::storage::DriveError) -> String {
    use crate::storage::DriveError;
    match e {
        DriveError::Credentials => crate::storage::refused_message(provider),
        DriveError::Unreachable(reason) => format!("cannot reach the server: {reason}"),
        other => other.to_string(),
    }
}

/// Where a document is kept in a person's cloud: readable there too,
/// `DocuVault/<folder>/<name> (<short id>).<ext>`. The short id keeps two documents of the same
/// name apart and makes the path the same on every attempt of a move.
pub fn cloud_path(folder: Option<&str>, filename: &str, id: Uuid) -> String {
    let folder = folder.map_or_else(|| "Unfiled".to_owned(), |f| segment(f, 80));
    let (stem, ext) = match filename.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() && !e.is_empty() && e.len() <= 10 => (s, Some(e)),
        _ => (filename, None),
    };
    let short = &id.simple().to_string()[..8];
    let name = match ext {
        Some(ext) => format!("{} ({short}).{}", segment(stem, 120), segment(ext, 10)),
        None => format!("{} ({short})", segment(stem, 120)),
    };
    format!("{CLOUD_FOLDER}/{folder}/{name}")
}

/// One path segment every cloud accepts: no separators, no characters Windows refuses (the
/// owner's sync client may be on Windows), no leading dot, at most `max` characters.
fn segment(raw: &str, max: usize) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .take(max)
        .collect();
    let trimmed = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        "document".into()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_paths_are_readable_and_safe() {
        let id = Uuid::parse_str("2f3a1b2c-0000-4000-8000-000000000000").unwrap();
        assert_eq!(
            cloud_path(None, "Invoice March.pdf", id),
            "DocuVault/Unfiled/Invoice March (2f3a1b2c).pdf"
        );
        assert_eq!(
            cloud_path(Some("Tax/2026"), "a:b?.txt", id),
            "DocuVault/Tax_2026/a_b_ (2f3a1b2c).txt"
        );
        assert_eq!(
            cloud_path(Some(".."), "..", id),
            "DocuVault/document/document (2f3a1b2c)"
        );
        assert_eq!(
            cloud_path(None, "README", id),
            "DocuVault/Unfiled/README (2f3a1b2c)"
        );
        let long = "x".repeat(500);
        assert!(
            cloud_path(Some(&long), &format!("{long}.pdf"), id)
                .chars()
                .count()
                < 240
        );
    }
}
