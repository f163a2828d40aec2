//! API tokens for scripts and scanners: created (the secret shown once), listed, revoked by
//! their owner; checked on every request by [`Vault::authenticate`]. Creating and revoking one
//! are audited. Only an interactive sign-in manages tokens (see [`ApiScope::allows`]).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Vault;
use super::accounts::{Caller, Credential, RequestMeta};
use super::documents::invalid;
use crate::auth::{ApiScope, random_token, token_hash};
use crate::db::api_tokens::{self as q, ApiTokenRow, NewApiToken};
use crate::db::audit;
use crate::error::{Error, Result};
use docuvault_domain::Role;

/// Every API token starts with this, so the bearer check knows which kind it holds (and secret
/// scanners can recognise a leaked one).
pub const TOKEN_PREFIX: &str = "dvt_";
/// How many live tokens one user may hold.
pub const MAX_LIVE_TOKENS: i64 = 50;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EXPIRY_DAYS: u32 = 3650;
/// How much of a token the list shows.
const SHOWN_CHARS: usize = TOKEN_PREFIX.len() + 6;

/// A token just made: the row, and the secret, which is never shown again.
#[derive(Debug)]
pub struct CreatedToken {
    pub row: ApiTokenRow,
    pub token: String,
}

impl Vault {
    /// The caller of a request bearing an API token.
    pub(super) async fn authenticate_api_token(&self, bearer: &str) -> Result<Caller> {
        let found = q::use_token(&self.db, &token_hash(bearer))
            .await?
            .ok_or_else(|| {
                Error::unauthorized(
                    "invalid_token",
                    "the API token is unknown, revoked or expired",
                )
            })?;
        let scope = ApiScope::parse(&found.scope)
            .ok_or_else(|| anyhow::anyhow!("stored token scope {:?}", found.scope))?;
        // A long answer (an event stream) ends after one access-token lifetime at most, so a
        // revoked token's stream does not outlive it by much.
        let horizon = Utc::now() + self.tokens.access_ttl;
        let ends = found.expires_at.map_or(horizon, |at| at.min(horizon));
        Ok(Caller {
            id: found.user_id,
            handle: found.handle,
            role: Role::parse(&found.role).map_err(|e| anyhow::anyhow!("stored role: {e}"))?,
            token_expires_at: ends.timestamp(),
            credential: Credential::ApiToken {
                id: found.token_id,
                scope,
            },
        })
    }

    pub async fn create_api_token(
        &self,
        caller: &Caller,
        name: &str,
        scope: &str,
        expires_in_days: Option<u32>,
        meta: &RequestMeta,
    ) -> Result<CreatedToken> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(invalid(
                "invalid_token_name",
                format!(
                    "a token's name has 1 to {MAX_NAME_CHARS} characters and no control characters"
                ),
            ));
        }
        let scope = ApiScope::parse(scope).ok_or_else(|| {
            invalid(
                "invalid_token_scope",
                "scope is one of \"upload\", \"read\" or \"full\"",
            )
        })?;
        let expires_at = match expires_in_days {
            None => None,
            Some(days @ 1..=MAX_EXPIRY_DAYS) => Some(Utc::now() + Duration::days(i64::from(days))),
            Some(_) => {
                return Err(invalid(
                    "invalid_token_expiry",
                    format!(
                        "expires_in_days is 1 to {MAX_EXPIRY_DAYS}, or left out for a token that does not expire"
                    ),
                ));
            }
        };
        let token = format!("{TOKEN_PREFIX}{}", random_token()?);
        let prefix: String = token.chars().take(SHOWN_CHARS).collect();

        let mut tx = self.db.begin().await?;
        // One user's token creations queue here, so the limit holds under a burst.
        crate::db::users::lock_row(&mut *tx, caller.id).await?;
        if q::count_live(&mut *tx, caller.id).await? >= MAX_LIVE_TOKENS {
            return Err(Error::conflict(
                "too_many_tokens",
                format!("you have {MAX_LIVE_TOKENS} live API tokens; revoke one first"),
            ));
        }
        let row = q::insert(
            &mut *tx,
            &NewApiToken {
                user_id: caller.id,
                name,
                scope: scope.as_str(),
                token_hash: &token_hash(&token),
                prefix: &prefix,
                expires_at,
            },
        )
        .await?;
        audit::record(
            &mut *tx,
            &meta.event(
                "api_token_created",
                Some(caller.id),
                Some(caller.id),
                json!({ "token_id": row.id, "name": row.name, "scope": row.scope,
                        "expires_at": row.expires_at }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedToken { row, token })
    }

    pub async fn api_tokens(&self, caller: &Caller) -> Result<Vec<ApiTokenRow>> {
        q::list(&self.db, caller.id).await
    }

    /// Revokes one of the caller's live tokens; it stops working at once.
    pub async fn revoke_api_token(
        &self,
        caller: &Caller,
        id: Uuid,
        meta: &RequestMeta,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let name = q::revoke(&mut *tx, caller.id, id)
            .await?
            .ok_or(Error::NotFound("API token"))?;
        audit::record(
            &mut *tx,
            &meta.event(
                "api_token_revoked",
                Some(caller.id),
                Some(caller.id),
                json!({ "token_id": id, "name": name }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Whether a token row is usable now.
pub fn is_live(row: &ApiTokenRow, now: DateTime<Utc>) -> bool {
    row.revoked_at.is_none() && row.expires_at.is_none_or(|at| at > now)
}
