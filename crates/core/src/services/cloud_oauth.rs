//! Connecting OneDrive or Google Drive by signing in at the provider: the start hands the
//! browser an authorization URL (PKCE `S256`, a fresh `state`); the provider sends it back to
//! the callback with a code, which is traded for tokens, checked against the drive, sealed and
//! saved as a connection. Signing in again to a connection in `error` replaces its tokens (its
//! documents stay where they are).
//!
//! What a sign-in keeps between the two legs (who started it, the PKCE verifier, the name) is
//! held in Redis for ten minutes under a hash of its `state` and taken with `GETDEL`, so a
//! `state` works once. The callback carries no DocuVault session (it is the provider's redirect),
//! so the API binds the `state` to the browser that started it with a cookie: a link carrying
//! an attacker's `state` cannot attach a victim's drive to the attacker's account, nor the
//! attacker's drive to the victim's.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use super::Vault;
use super::cloud::{connection_failure, display_name_of};
use super::documents::invalid;
use crate::auth::token_hash;
use crate::db::cloud_connections::{self as q, ConnectionRow, NewConnection};
use crate::error::{Dependency, Error, Result};
use crate::storage::oauth::{Provider, TokenError};
use crate::storage::{Credentials, Fresh};

/// How long a started sign-in may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(600);

/// A started sign-in: send the browser to `url`; bind `state` to it.
#[derive(Debug)]
pub struct OAuthStart {
    pub url: Url,
    pub state: String,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    owner: Uuid,
    provider: String,
    verifier: String,
    display_name: Option<String>,
    reconnect: Option<Uuid>,
}

fn state_invalid() -> Error {
    Error::bad_request(
        "cloud_oauth_state_invalid",
        "this sign-in expired or was started in another browser; start it again on the Storage page",
    )
}

impl Vault {
    fn cloud_pending_key(&self, state: &str) -> String {
        format!(
            "{}:cloud-oauth:{}",
            self.redis_key_prefix,
            token_hash(state)
        )
    }

    /// Starts connecting `provider` for `owner` (or signing in again to their connection
    /// `reconnect`): where to send the browser.
    pub async fn cloud_oauth_start(
        &self,
        owner: Uuid,
        provider: &str,
        display_name: Option<&str>,
        reconnect: Option<Uuid>,
    ) -> Result<OAuthStart> {
        let provider = Provider::parse(provider).ok_or_else(|| {
            invalid(
                "invalid_cloud_provider",
                "the provider is \"onedrive\" or \"gdrive\"",
            )
        })?;
        let app = self.storage.oauth_app(provider).ok_or_else(|| {
            invalid(
                "cloud_provider_unavailable",
                format!(
                    "{} is not set up on this server; its operator registers DocuVault with the provider first",
                    provider.label()
                ),
            )
        })?;
        let display_name = display_name.map(display_name_of).transpose()?;
        match reconnect {
            // Signing in again: only to one's own connection of that provider.
            Some(id) => {
                let theirs = q::get(&self.db, owner, id)
                    .await?
                    .is_some_and(|r| r.provider == provider.as_str());
                if !theirs {
                    return Err(Error::NotFound("cloud connection"));
                }
            }
            None => self.room_for_connection(owner).await?,
        }
        let auth = app.authorize();
        let pending = serde_json::to_string(&Pending {
            owner,
            provider: provider.as_str().to_owned(),
            verifier: auth.verifier,
            display_name: display_name.map(str::to_owned),
            reconnect,
        })
        .map_err(anyhow::Error::new)?;
        let mut conn = self.redis.connection();
        let _: () = conn
            .set_ex(
                self.cloud_pending_key(&auth.state),
                pending,
                PENDING_TTL.as_secs(),
            )
            .await
            .map_err(|e| Error::unavailable(Dependency::Redis, e))?;
        Ok(OAuthStart {
            url: auth.url,
            state: auth.state,
        })
    }

    /// Finishes connecting when the provider sends the browser back. `bound_state` is the
    /// state the browser's cookie holds; `provider_error` the provider's `error` parameter.
    pub async fn cloud_oauth_finish(
        &self,
        state: Option<&str>,
        bound_state: Option<&str>,
        code: Option<&str>,
        provider_error: Option<&str>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<ConnectionRow> {
        let state = state.filter(|s| !s.is_empty()).ok_or_else(state_invalid)?;
        let bound = bound_state
            .is_some_and(|b| crate::auth::constant_time_eq(b.as_bytes(), state.as_bytes()));
        if !bound {
            return Err(state_invalid());
        }
        let mut conn = self.redis.connection();
        let pending: Option<String> = conn
            .get_del(self.cloud_pending_key(state))
            .await
            .map_err(|e| Error::unavailable(Dependency::Redis, e))?;
        let pending: Pending = pending
            .and_then(|p| serde_json::from_str(&p).ok())
            .ok_or_else(state_invalid)?;
        let provider = Provider::parse(&pending.provider).ok_or_else(state_invalid)?;
        // Deactivated (or deleted) while at the provider: nothing is connected for them.
        let active = crate::db::users::get(&self.db, pending.owner)
            .await?
            .is_some_and(|u| u.is_active);
        if !active {
            return Err(Error::forbidden(
                "account_inactive",
                "this account is deactivated",
            ));
        }
        if let Some(e) = provider_error {
            let e: String = e.chars().filter(char::is_ascii_graphic).take(64).collect();
            return Err(Error::bad_request(
                "cloud_oauth_refused",
                format!("{} did not let DocuVault in ({e})", provider.label()),
            ));
        }
        let code = code.filter(|c| !c.is_empty()).ok_or_else(|| {
            Error::bad_request(
                "cloud_oauth_code_missing",
                format!("{} sent no code", provider.label()),
            )
        })?;
        let app = self.storage.oauth_app(provider).ok_or_else(|| {
            invalid(
                "cloud_provider_unavailable",
                format!("{} is not set up on this server", provider.label()),
            )
        })?;
        let tokens = app
            .exchange(code, &pending.verifier)
            .await
            .map_err(|e| match e {
                TokenError::Refused(reason) => Error::bad_request(
                    "cloud_oauth_refused",
                    format!("{} refused the sign-in: {reason}", provider.label()),
                ),
                TokenError::Unreachable(reason) => {
                    Error::unavailable(Dependency::CloudStorage, anyhow::anyhow!(reason))
                }
            })?;
        // Checked before it is saved, as every connection.
        let account = self
            .storage
            .oauth_drive(provider, Arc::new(Fresh(tokens.access_token.clone())))?
            .check()
            .await
            .map_err(|e| {
                invalid(
                    "cloud_connection_failed",
                    connection_failure(provider.as_str(), &e),
                )
            })?;
        let account = account.unwrap_or_else(|| provider.label().to_owned());
        let creds = Credentials {
            password: None,
            oauth: Some(tokens.clone()),
        };
        if let Some(id) = pending.reconnect {
            let row = q::get(&self.db, pending.owner, id)
                .await?
                .ok_or(Error::NotFound("cloud connection"))?;
            if row.endpoint != account {
                return Err(Error::conflict(
                    "cloud_account_mismatch",
                    format!(
                        "this connection is {}'s {}, and you signed in as {account}",
                        row.endpoint,
                        provider.label()
                    ),
                ));
            }
            let sealed = self.storage.seal(pending.owner, id, &creds)?;
            let mut conn = self.db.acquire().await?;
            q::set_tokens(&mut conn, id, &sealed, tokens.expires_at).await?;
            self.audit_cloud(pending.owner, ip, "cloud_reconnected", &row)
                .await;
            tracing::info!(connection_id = %id, provider = provider.as_str(), "cloud storage signed in again");
            return q::get(&self.db, pending.owner, id)
                .await?
                .ok_or(Error::NotFound("cloud connection"));
        }
        self.room_for_connection(pending.owner).await?;
        let id = Uuid::new_v4();
        let sealed = self.storage.seal(pending.owner, id, &creds)?;
        let new = NewConnection {
            id,
            owner: pending.owner,
            provider: provider.as_str(),
            display_name: pending.display_name.as_deref().unwrap_or(provider.label()),
            endpoint: &account,
            username: None,
            credentials_enc: &sealed,
            token_expires_at: Some(tokens.expires_at),
        };
        let row = q::insert(&self.db, &new).await?;
        self.audit_cloud(pending.owner, ip, "cloud_connected", &row)
            .await;
        tracing::info!(connection_id = %row.id, provider = provider.as_str(), "cloud storage connected");
        Ok(row)
    }

    /// The providers people can connect by signing in here.
    pub fn cloud_oauth_providers(&self) -> Vec<Provider> {
        self.storage.oauth_providers()
    }
}
