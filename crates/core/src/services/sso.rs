//! Single sign-on through the OpenID Connect provider (`OIDC_*`): the sign-in starts here, the
//! browser goes to the provider, and comes back with a code that this module trades for the
//! person's identity (`auth::oidc` checks the tokens) and then for a DocuVault sign-in.
//!
//! What a sign-in keeps between the two legs (`nonce`, the PKCE verifier, where to go after) is
//! held in Redis for ten minutes under a hash of its `state`, and taken with `GETDEL`, so a
//! `state` works once. The API binds the `state` to the browser that started the sign-in with a
//! cookie, so a link carrying someone else's code signs nobody in (login CSRF).
//!
//! Who the person is here: the account already linked to their issuer and subject; else the
//! account with their email, if the provider says the email is verified (the identity is
//! linked then); else a new account when `OIDC_AUTO_CREATE` is on. An unverified email links
//! nothing and creates nothing: anyone could type someone else's address at a provider that
//! does not check it. Single sign-on does not ask for the TOTP code of a local account: the
//! provider is where the second factor belongs.

use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;
use uuid::Uuid;

use super::Vault;
use super::accounts::{RequestMeta, SignIn};
use crate::auth::oidc::{Identity, OidcClient};
use crate::auth::token_hash;
use crate::db::{audit, identities, users};
use crate::error::{Dependency, Error, Result};
use docuvault_domain::{Email, Handle, Role};

/// How long a started sign-in may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
const START_BUCKET: &str = "sso-start";

/// A started sign-in: send the browser to `url`; bind `state` to it.
#[derive(Debug)]
pub struct SsoStart {
    pub url: Url,
    pub state: String,
}

/// A finished sign-in and the app page to open.
#[derive(Debug)]
pub struct SsoDone {
    pub sign_in: SignIn,
    pub return_to: String,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    nonce: String,
    verifier: String,
    return_to: String,
}

fn not_configured() -> Error {
    Error::forbidden(
        "sso_not_configured",
        "single sign-on is not set up on this server",
    )
}

fn state_invalid() -> Error {
    Error::bad_request(
        "sso_state_invalid",
        "this sign-in expired or was started in another browser; start it again",
    )
}

/// Where to go after signing in: a path of this app, never another site (`//host`, `/\host`).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 512
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A handle for a new account: the provider's `preferred_username`, else the email's local
/// part, folded into the handle alphabet (at most 28 characters, leaving room for a suffix).
pub fn handle_base(preferred: Option<&str>, email: &str) -> String {
    let source = preferred
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email));
    let mut h: String = source
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(28)
        .collect();
    while h.ends_with(['-', '.', '_']) {
        h.pop();
    }
    if h.len() < 3 {
        h = format!("user-{h}").trim_end_matches('-').to_owned();
    }
    h
}

impl Vault {
    pub fn oidc(&self) -> Result<&OidcClient> {
        self.oidc.as_deref().ok_or_else(not_configured)
    }

    fn pending_key(&self, state: &str) -> String {
        format!("{}:sso:{}", self.redis_key_prefix, token_hash(state))
    }

    /// Starts a sign-in at the provider.
    pub async fn sso_start(&self, return_to: Option<&str>, meta: &RequestMeta) -> Result<SsoStart> {
        let client = self.oidc()?;
        self.limiter
            .hit(
                START_BUCKET,
                &meta.ip_key(),
                self.auth.rate_per_ip,
                self.auth.rate_window,
            )
            .await?;
        let request = client.authorization_request().await?;
        let pending = serde_json::to_string(&Pending {
            nonce: request.nonce,
            verifier: request.verifier,
            return_to: safe_return_to(return_to),
        })
        .map_err(anyhow::Error::new)?;
        let mut conn = self.redis.connection();
        let _: () = conn
            .set_ex(
                self.pending_key(&request.state),
                pending,
                PENDING_TTL.as_secs(),
            )
            .await
            .map_err(|e| Error::unavailable(Dependency::Redis, e))?;
        Ok(SsoStart {
            url: request.url,
            state: request.state,
        })
    }

    /// Finishes a sign-in when the provider sends the browser back. `bound_state` is the state
    /// the browser's cookie holds; `provider_error` the provider's `error` parameter.
    pub async fn sso_finish(
        &self,
        state: Option<&str>,
        bound_state: Option<&str>,
        code: Option<&str>,
        provider_error: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<SsoDone> {
        let client = self.oidc()?;
        let state = state.filter(|s| !s.is_empty()).ok_or_else(state_invalid)?;
        let bound = bound_state
            .is_some_and(|b| crate::auth::constant_time_eq(b.as_bytes(), state.as_bytes()));
        if !bound {
            self.sso_refused(None, "state_not_bound", meta).await?;
            return Err(state_invalid());
        }
        let mut conn = self.redis.connection();
        let pending: Option<String> = conn
            .get_del(self.pending_key(state))
            .await
            .map_err(|e| Error::unavailable(Dependency::Redis, e))?;
        let pending: Pending = pending
            .and_then(|p| serde_json::from_str(&p).ok())
            .ok_or_else(state_invalid)?;
        if let Some(e) = provider_error {
            let e: String = e.chars().filter(char::is_ascii_graphic).take(64).collect();
            self.sso_refused(None, &format!("provider: {e}"), meta)
                .await?;
            return Err(Error::unauthorized(
                "sso_failed",
                format!("the identity provider did not sign you in ({e})"),
            ));
        }
        let code = code.filter(|c| !c.is_empty()).ok_or_else(|| {
            Error::bad_request("sso_code_missing", "the identity provider sent no code")
        })?;
        let identity = match client
            .identity(code, &pending.verifier, &pending.nonce)
            .await
        {
            Ok(i) => i,
            Err(e) => {
                if !matches!(e, Error::Unavailable { .. }) {
                    self.sso_refused(None, &e.to_string(), meta).await?;
                }
                return Err(e);
            }
        };
        let user_id = self.sso_account(client, &identity, meta).await?;
        let user = users::get(&self.db, user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if !user.is_active {
            self.sso_refused(Some(user.id), "inactive", meta).await?;
            return Err(Error::forbidden(
                "account_inactive",
                "this account is deactivated; ask an admin",
            ));
        }
        let sign_in = self.sign_in_as(user, "sso", meta).await?;
        Ok(SsoDone {
            sign_in,
            return_to: pending.return_to,
        })
    }

    /// The account the identity signs in to: linked, linked now by verified email, or new.
    async fn sso_account(
        &self,
        client: &OidcClient,
        identity: &Identity,
        meta: &RequestMeta,
    ) -> Result<Uuid> {
        let issuer = client.config().issuer.as_str();
        let email = identity.email.as_deref().and_then(|e| Email::parse(e).ok());
        let email_str = email.as_ref().map(Email::as_str);
        if let Some(id) =
            identities::use_identity(&self.db, issuer, &identity.subject, email_str).await?
        {
            return Ok(id);
        }
        let Some(email) = email.filter(|_| identity.email_verified) else {
            self.sso_refused(None, "email_not_verified", meta).await?;
            return Err(Error::forbidden(
                "sso_email_unverified",
                "the identity provider did not confirm your email address, so no account here can be matched to you; ask an admin",
            ));
        };
        if let Some(user) = users::find_by_email(&self.db, email.as_str()).await? {
            identities::link(
                &self.db,
                user.id,
                issuer,
                &identity.subject,
                Some(email.as_str()),
            )
            .await?;
            audit::record(
                &self.db,
                &meta.event(
                    "sso_linked",
                    Some(user.id),
                    Some(user.id),
                    json!({ "issuer": issuer }),
                ),
            )
            .await?;
            // A concurrent first sign-in may have linked the identity to someone else.
            return identities::use_identity(&self.db, issuer, &identity.subject, None)
                .await?
                .ok_or_else(|| anyhow::anyhow!("identity vanished after linking").into());
        }
        if !client.config().auto_create {
            self.sso_refused(None, "no_account", meta).await?;
            return Err(Error::forbidden(
                "sso_no_account",
                format!(
                    "no DocuVault account has the address {}; ask an admin to make one",
                    email.as_str()
                ),
            ));
        }
        self.sso_create(issuer, identity, &email, meta).await
    }

    /// A new account for the identity (`OIDC_AUTO_CREATE`): no password (the hash `!` matches
    /// none), a free handle derived from the provider's username.
    async fn sso_create(
        &self,
        issuer: &str,
        identity: &Identity,
        email: &Email,
        meta: &RequestMeta,
    ) -> Result<Uuid> {
        let base = handle_base(identity.preferred_username.as_deref(), email.as_str());
        for attempt in 0..8u32 {
            let candidate = match attempt {
                0 => base.clone(),
                1..=4 => format!("{base}-{}", attempt + 1),
                _ => format!("{base}-{}", &Uuid::new_v4().simple().to_string()[..6]),
            };
            let handle = Handle::parse(&candidate)?;
            let mut tx = self.db.begin().await?;
            let created = users::create(
                &mut *tx,
                handle.as_str(),
                email.as_str(),
                "!",
                Role::User.as_str(),
                self.quota_default_bytes,
                self.ai.self_service_default,
            )
            .await;
            let user = match created {
                Ok(u) => u,
                Err(Error::Conflict {
                    code: "handle_taken",
                    ..
                }) => continue,
                Err(e) => return Err(e),
            };
            if !identities::link(
                &mut *tx,
                user.id,
                issuer,
                &identity.subject,
                Some(email.as_str()),
            )
            .await?
            {
                // Someone's concurrent first sign-in made the account already.
                drop(tx);
                return identities::use_identity(&self.db, issuer, &identity.subject, None)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("identity vanished").into());
            }
            audit::record(
                &mut *tx,
                &meta.event(
                    "sso_account_created",
                    Some(user.id),
                    Some(user.id),
                    json!({ "issuer": issuer, "handle": user.handle }),
                ),
            )
            .await?;
            tx.commit().await?;
            return Ok(user.id);
        }
        Err(Error::conflict(
            "handle_taken",
            "no free handle was found for the new account; ask an admin",
        ))
    }

    async fn sso_refused(
        &self,
        user: Option<Uuid>,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        audit::record(
            &self.db,
            &meta.event("sso_failed", user, None, json!({ "reason": reason })),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(
            safe_return_to(Some("/documents?folder=1")),
            "/documents?folder=1"
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "documents",
            "/a\nb",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn handles_are_derived_into_the_handle_alphabet() {
        assert_eq!(handle_base(Some("Jane Doe"), "x@example.org"), "jane-doe");
        assert_eq!(handle_base(None, "j.doe+tag@example.org"), "j.doe-tag");
        assert_eq!(handle_base(Some("  "), "__al@example.org"), "user-al");
        assert_eq!(handle_base(Some("Zoë"), "z@example.org"), "user-zo");
        assert_eq!(handle_base(Some("é"), "z@example.org"), "user");
        let long = handle_base(Some(&"a".repeat(50)), "z@example.org");
        assert_eq!(long.len(), 28);
        for h in ["jane-doe", "j.doe-tag", "user-al", "user-zo", "user"] {
            assert!(Handle::parse(h).is_ok(), "{h}");
        }
    }
}
