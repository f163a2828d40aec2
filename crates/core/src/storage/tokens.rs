//! A connection's OAuth tokens: the access token a drive sends, and its renewal with the refresh
//! token, by a drive that got a `401` or by the workers before it runs out
//! ([`Storage::refresh_expiring`]).
//!
//! A renewal locks the connection's row for its length, so processes renew one at a time; one
//! that finds the row renewed by another since it read it takes that token instead of spending
//! the refresh token again (Microsoft rotates refresh tokens). A refresh token the provider
//! refuses (revoked, expired) turns the connection `error` with a sentence for its owner.

use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::oauth::{AccessToken, Provider, TokenError, Tokens};
use super::registry::refused_message;
use super::{Credentials, DriveError, Storage};
use crate::db::cloud_connections as q;
use crate::error::Error;

/// A token this close to its expiry counts as expired (clocks differ; requests take time).
const EARLY: chrono::Duration = chrono::Duration::seconds(60);

/// The tokens of one connection, as a drive uses them.
#[derive(Debug)]
pub struct ConnectionTokens {
    storage: Storage,
    connection: Uuid,
    current: tokio::sync::Mutex<Tokens>,
}

impl ConnectionTokens {
    pub fn new(storage: Storage, connection: Uuid, tokens: Tokens) -> Self {
        Self {
            storage,
            connection,
            current: tokio::sync::Mutex::new(tokens),
        }
    }
}

#[async_trait::async_trait]
impl AccessToken for ConnectionTokens {
    async fn current(&self) -> Result<String, DriveError> {
        let stale = {
            let tokens = self.current.lock().await;
            if tokens.expires_at - EARLY > Utc::now() {
                return Ok(tokens.access_token.clone());
            }
            tokens.access_token.clone()
        };
        self.renew(&stale).await
    }

    async fn renew(&self, stale: &str) -> Result<String, DriveError> {
        let fresh = self.storage.refresh(self.connection, stale).await?;
        let access = fresh.access_token.clone();
        *self.current.lock().await = fresh;
        Ok(access)
    }
}

fn ours(e: impl Into<Error>) -> DriveError {
    DriveError::Other(e.into())
}

impl Storage {
    /// New tokens for the connection, unless another process renewed it since `stale` was
    /// read (its tokens are taken then).
    ///
    /// Boxed as `Send` here: the compiler cannot prove it for sqlx's executor futures where a
    /// boxed trait method (a drive's `renew`) and a spawned task await this.
    pub fn refresh<'a>(
        &'a self,
        connection: Uuid,
        stale: &'a str,
    ) -> BoxFuture<'a, Result<Tokens, DriveError>> {
        Box::pin(self.refresh_now(connection, stale))
    }

    async fn refresh_now(&self, connection: Uuid, stale: &str) -> Result<Tokens, DriveError> {
        let mut tx = self.db.begin().await.map_err(ours)?;
        let row = q::lock(&mut tx, connection)
            .await
            .map_err(ours)?
            .ok_or(DriveError::NotFound)?;
        let provider = Provider::parse(&row.provider)
            .ok_or_else(|| ours(anyhow::anyhow!("{} has no tokens", row.provider)))?;
        let tokens = self
            .open(&row)
            .map_err(ours)?
            .oauth
            .ok_or_else(|| ours(anyhow::anyhow!("connection {connection} has no tokens")))?;
        if tokens.access_token != stale && tokens.expires_at - EARLY > Utc::now() {
            return Ok(tokens);
        }
        let app = self.oauth_app(provider).ok_or_else(|| {
            DriveError::Refused(format!("{} is not set up on this server", provider.label()))
        })?;
        match app.refresh(&tokens.refresh_token).await {
            Ok(fresh) => {
                let creds = Credentials {
                    oauth: Some(fresh.clone()),
                    ..Credentials::default()
                };
                let sealed = self.seal(row.user_id, row.id, &creds).map_err(ours)?;
                q::set_tokens(&mut tx, row.id, &sealed, fresh.expires_at)
                    .await
                    .map_err(ours)?;
                tx.commit().await.map_err(ours)?;
                tracing::debug!(connection_id = %row.id, "cloud tokens renewed");
                Ok(fresh)
            }
            Err(TokenError::Refused(reason)) => {
                tracing::warn!(connection_id = %row.id, %reason, "the provider refused the refresh token");
                q::set_status(&mut *tx, row.id, Some(&refused_message(&row.provider)))
                    .await
                    .map_err(ours)?;
                tx.commit().await.map_err(ours)?;
                Err(DriveError::Credentials)
            }
            Err(TokenError::Unreachable(reason)) => Err(DriveError::Unreachable(reason)),
        }
    }

    /// Renews the tokens of connections that run out within `within` (the workers call this
    /// every minute, so requests rarely meet an expired token); how many were renewed.
    pub fn refresh_expiring(&self, within: Duration) -> BoxFuture<'_, crate::Result<usize>> {
        Box::pin(self.refresh_expiring_now(within))
    }

    async fn refresh_expiring_now(&self, within: Duration) -> crate::Result<usize> {
        let mut renewed = 0;
        for id in q::tokens_expiring(&self.db, within).await? {
            let Some(row) = q::get_any(&self.db, id).await? else {
                continue;
            };
            let stale = match self.open(&row).map(|c| c.oauth) {
                Ok(Some(t)) => t.access_token,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(connection_id = %id, error = %e.chain(), "cannot open a connection's tokens");
                    continue;
                }
            };
            match self.refresh(id, &stale).await {
                Ok(_) => renewed += 1,
                Err(e) => {
                    tracing::info!(connection_id = %id, error = %e, "cannot renew a connection's tokens; retried later")
                }
            }
        }
        Ok(renewed)
    }
}

/// Tokens just received from the provider, for checking a connection before it is saved: no
/// renewal (a `401` with them is a refusal).
#[derive(Debug)]
pub struct Fresh(pub String);

#[async_trait::async_trait]
impl AccessToken for Fresh {
    async fn current(&self) -> Result<String, DriveError> {
        Ok(self.0.clone())
    }

    async fn renew(&self, _stale: &str) -> Result<String, DriveError> {
        Err(DriveError::Credentials)
    }
}
