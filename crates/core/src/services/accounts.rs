//! Registration, sign-in and sessions: login (with TOTP when enrolled), refresh-token rotation
//! with reuse detection (RFC 9700 §4.14), logout, "sign out everywhere", and the bearer check.
//!
//! Every security event is written to `audit_log`. Errors for a wrong login are the same
//! whether the account exists or not, and take the same time (the password check runs on a
//! dummy hash).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Vault;
use crate::auth::{ApiScope, random_token, token_hash, totp};
use crate::crypto::Purpose;
use crate::db::audit::{self, AuditEvent};
use crate::db::sessions::{self, NewRefresh, SessionRow};
use crate::db::users::{self, UserRow};
use crate::error::{Error, Result};
use docuvault_domain::account::check_new_password;
use docuvault_domain::{Email, Handle, Role};

/// Where a request came from, for rate limits, sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// An audit event from this request's address.
    pub(crate) fn event<'a>(
        &self,
        event_type: &'a str,
        user: Option<Uuid>,
        actor: Option<Uuid>,
        metadata: serde_json::Value,
    ) -> AuditEvent<'a> {
        AuditEvent {
            event_type,
            user_id: user,
            actor_id: actor,
            ip: self.ip,
            metadata,
        }
    }

    /// The client address as a rate-limit key.
    pub(crate) fn ip_key(&self) -> String {
        self.ip
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: Uuid,
    pub handle: String,
    pub role: Role,
    /// When the access token the caller presented expires (Unix seconds): a long-lived answer
    /// (an event stream) ends then, and the client comes back with a fresh token.
    pub token_expires_at: i64,
    /// How the caller signed this request: a sign-in's access token, or an API token.
    pub credential: Credential,
}

/// What authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token of an interactive sign-in: may do everything the account may.
    Session,
    /// An API token: only what its scope allows.
    ApiToken { id: Uuid, scope: ApiScope },
}

impl Caller {
    pub fn require_admin(&self) -> Result<()> {
        match self.role {
            Role::Admin => Ok(()),
            Role::User => Err(Error::forbidden(
                "admin_only",
                "this needs an admin account",
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UserView {
    pub id: Uuid,
    pub handle: String,
    pub email: String,
    pub role: String,
    pub is_active: bool,
    pub totp_enabled: bool,
    pub recovery_codes_left: i32,
    pub created_at: DateTime<Utc>,
    /// Whether the account has a password (one made by single sign-on has none).
    pub password_set: bool,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        Self {
            // A stored hash is a PHC string; `!` (no password) and anything else match nothing.
            password_set: u.password_hash.starts_with('$'),
            id: u.id,
            handle: u.handle,
            email: u.email,
            role: u.role,
            is_active: u.is_active,
            totp_enabled: u.totp_enabled,
            recovery_codes_left: u.recovery_codes_left,
            created_at: u.created_at,
        }
    }
}

/// A successful sign-in or refresh: the access token for the body, the refresh token and the
/// family (for the CSRF token) for cookies.
#[derive(Debug)]
pub struct SignIn {
    pub access_token: String,
    pub expires_in: u64,
    pub user: UserView,
    pub refresh_token: String,
    pub family_id: Uuid,
    pub security_notice: Option<String>,
}

#[derive(Debug)]
pub enum LoginOutcome {
    SignedIn(Box<SignIn>),
    /// The password was right; the account needs a TOTP (or recovery) code as well.
    TotpRequired,
}

const LOGIN_IP: &str = "login-ip";
const LOGIN_ACCOUNT: &str = "login-account";
const REGISTER_IP: &str = "register-ip";

fn invalid_credentials() -> Error {
    Error::unauthorized("invalid_credentials", "wrong login or password")
}

fn invalid_refresh() -> Error {
    Error::unauthorized("invalid_refresh_token", "sign in again")
}

impl Vault {
    /// Refuses password sign-in, registration, reset and change when `PASSWORD_LOGIN=false`.
    pub(crate) fn passwords_allowed(&self) -> Result<()> {
        if self.auth.password_login {
            return Ok(());
        }
        let via = self
            .auth
            .oidc
            .as_ref()
            .map_or("single sign-on", |o| o.display_name.as_str());
        Err(Error::forbidden(
            "password_login_disabled",
            format!("passwords are turned off on this server; sign in with {via}"),
        ))
    }

    /// The bearer check: a valid signature, an active account and the current token version.
    pub async fn authenticate(&self, bearer: &str) -> Result<Caller> {
        let unauthorized = || {
            Error::unauthorized(
                "invalid_token",
                "the access token is missing, invalid or expired",
            )
        };
        if bearer.starts_with(super::api_tokens::TOKEN_PREFIX) {
            return self.authenticate_api_token(bearer).await;
        }
        let claims = self.tokens.verify(bearer).ok_or_else(unauthorized)?;
        let state = users::auth_state(&self.db, claims.sub)
            .await?
            .ok_or_else(unauthorized)?;
        if !state.is_active || state.token_version != claims.ver {
            return Err(unauthorized());
        }
        Ok(Caller {
            id: claims.sub,
            handle: state.handle,
            role: Role::parse(&state.role).map_err(|e| anyhow::anyhow!("stored role: {e}"))?,
            token_expires_at: claims.exp,
            credential: Credential::Session,
        })
    }

    pub async fn register(
        &self,
        handle: &str,
        email: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<UserView> {
        self.passwords_allowed()?;
        if !self.auth.allow_registration {
            return Err(Error::forbidden(
                "registration_closed",
                "registration is closed; ask an admin for an account",
            ));
        }
        self.limiter
            .hit(
                REGISTER_IP,
                &meta.ip_key(),
                self.auth.rate_per_ip,
                self.auth.rate_window,
            )
            .await?;
        let user = self
            .create_user(handle, email, password, Role::User)
            .await?;
        audit::record(
            &self.db,
            &meta.event(
                "user_registered",
                Some(user.id),
                Some(user.id),
                json!({ "handle": user.handle }),
            ),
        )
        .await?;
        Ok(user)
    }

    /// Creates an account (registration and `docuvault user create`).
    pub async fn create_user(
        &self,
        handle: &str,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<UserView> {
        let handle = Handle::parse(handle)?;
        let email = Email::parse(email)?;
        check_new_password(password, handle.as_str(), email.as_str())?;
        let hash = self.passwords.hash(password).await?;
        Ok(users::create(
            &self.db,
            handle.as_str(),
            email.as_str(),
            &hash,
            role.as_str(),
            self.quota_default_bytes,
            self.ai.self_service_default,
        )
        .await?
        .into())
    }

    pub async fn login(
        &self,
        login: &str,
        password: &str,
        totp_code: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome> {
        self.passwords_allowed()?;
        let window = self.auth.rate_window;
        self.limiter
            .hit(LOGIN_IP, &meta.ip_key(), self.auth.rate_per_ip, window)
            .await?;
        let user = users::find_by_login(&self.db, login).await?;
        // Failures count per account (handle and email are one key), or per login name when
        // there is no such account.
        let account_key = user
            .as_ref()
            .map_or_else(|| login.trim().to_lowercase(), |u| u.id.to_string());
        // Taken before the password is checked (and given back unless the attempt fails), so
        // concurrent guesses cannot all slip under the limit.
        let failures = self
            .limiter
            .reserve(
                LOGIN_ACCOUNT,
                &account_key,
                self.auth.rate_per_account,
                window,
            )
            .await?;
        let ok = self
            .passwords
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await?;
        let user = match user {
            Some(u) if ok && u.is_active => u,
            other => {
                let reason = match &other {
                    None => "no_such_account",
                    Some(u) if !u.is_active => "inactive",
                    Some(_) => "wrong_password",
                };
                let id = other.map(|u| u.id);
                self.login_failed(failures, id, reason, meta).await?;
                return Err(invalid_credentials());
            }
        };

        let user = if user.totp_enabled {
            let Some(code) = totp_code.map(str::trim).filter(|c| !c.is_empty()) else {
                // The password was right; asking for the code is not a failure.
                self.limiter.give_back(LOGIN_ACCOUNT, &account_key).await?;
                return Ok(LoginOutcome::TotpRequired);
            };
            if !self.second_factor(&user, code, meta).await? {
                self.login_failed(failures, Some(user.id), "wrong_totp_code", meta)
                    .await?;
                return Err(Error::unauthorized(
                    "invalid_totp_code",
                    "wrong or already used code",
                ));
            }
            // Read again: a recovery code may just have been used up.
            users::get(&self.db, user.id)
                .await?
                .ok_or_else(invalid_credentials)?
        } else {
            user
        };

        self.limiter.clear(LOGIN_ACCOUNT, &account_key).await?;
        let signed_in = self.sign_in_as(user, "password", meta).await?;
        Ok(LoginOutcome::SignedIn(Box::new(signed_in)))
    }

    /// Audits a failed login; `failures` is the count the attempt reserved, this one included.
    async fn login_failed(
        &self,
        failures: i64,
        user: Option<Uuid>,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        audit::record(
            &self.db,
            &meta.event("login_failed", user, None, json!({ "reason": reason })),
        )
        .await?;
        if failures == i64::from(self.auth.rate_per_account) {
            audit::record(
                &self.db,
                &meta.event(
                    "login_locked",
                    user,
                    None,
                    json!({ "failures": failures, "window_secs": self.auth.rate_window.as_secs() }),
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// A TOTP code (each time step once) or an unused recovery code.
    pub(crate) async fn second_factor(
        &self,
        user: &UserRow,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<bool> {
        let Some(secret) = self.totp_secret(user)? else {
            return Ok(false);
        };
        if let Some(step) = totp::check(&secret, code, totp::now_unix(), user.totp_last_step) {
            return users::accept_totp_step(&self.db, user.id, step).await;
        }
        let normalised = code.trim().to_uppercase();
        if users::use_recovery_code(&self.db, user.id, &token_hash(&normalised)).await? {
            audit::record(
                &self.db,
                &meta.event(
                    "recovery_code_used",
                    Some(user.id),
                    Some(user.id),
                    json!({}),
                ),
            )
            .await?;
            return Ok(true);
        }
        Ok(false)
    }

    pub(crate) fn totp_secret(&self, user: &UserRow) -> Result<Option<Vec<u8>>> {
        use base64::Engine;
        let Some(stored) = &user.totp_secret else {
            return Ok(None);
        };
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(stored)
            .map_err(|e| anyhow::anyhow!("stored TOTP secret is not base64: {e}"))?;
        let secret = self
            .sealer
            .open(Purpose::TotpSecret, user.id, &sealed)
            .map_err(anyhow::Error::new)?;
        Ok(Some(secret))
    }

    /// A new sign-in (its own refresh-token family) for a user who proved who they are by
    /// `method`, audited as `login_succeeded`.
    pub(super) async fn sign_in_as(
        &self,
        user: UserRow,
        method: &str,
        meta: &RequestMeta,
    ) -> Result<SignIn> {
        let family = Uuid::new_v4();
        let signed_in = self.start_session(user, family, meta).await?;
        audit::record(
            &self.db,
            &meta.event(
                "login_succeeded",
                Some(signed_in.user.id),
                Some(signed_in.user.id),
                json!({ "family_id": family, "method": method }),
            ),
        )
        .await?;
        Ok(signed_in)
    }

    async fn start_session(
        &self,
        user: UserRow,
        family: Uuid,
        meta: &RequestMeta,
    ) -> Result<SignIn> {
        let refresh_token = random_token()?;
        sessions::insert(
            &self.db,
            &self.new_refresh(user.id, family, &refresh_token, meta),
        )
        .await?;
        let (access_token, expires_in) = self.tokens.issue(user.id, user.token_version)?;
        let security_notice = users::take_security_notice(&self.db, user.id).await?;
        Ok(SignIn {
            access_token,
            expires_in,
            user: user.into(),
            refresh_token,
            family_id: family,
            security_notice,
        })
    }

    fn new_refresh<'a>(
        &self,
        user: Uuid,
        family: Uuid,
        token: &str,
        meta: &'a RequestMeta,
    ) -> NewRefresh<'a> {
        let ttl =
            chrono::Duration::from_std(self.auth.refresh_ttl).unwrap_or(chrono::Duration::days(30));
        NewRefresh {
            user_id: user,
            family_id: family,
            token_hash: token_hash(token),
            expires_at: Utc::now() + ttl,
            user_agent: meta.user_agent.as_deref(),
            ip: meta.ip,
        }
    }

    /// Rotates a refresh token. A token that was already rotated means it was copied: the whole
    /// family is revoked, the event audited and the user warned at their next login.
    pub async fn refresh(
        &self,
        presented: &str,
        csrf: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<SignIn> {
        let mut tx = self.db.begin().await?;
        let Some(row) = sessions::find_for_update(&mut *tx, &token_hash(presented)).await? else {
            return Err(invalid_refresh());
        };
        self.check_csrf(row.family_id, csrf)?;
        if row.revoked {
            return Err(invalid_refresh());
        }
        if row.used_at.is_some() {
            sessions::revoke_family(&mut *tx, row.family_id).await?;
            users::set_security_notice(&mut *tx, row.user_id, "A sign-in token of yours was used twice, which means it was copied. That session was ended; if this was not you, change your password.").await?;
            audit::record(
                &mut *tx,
                &meta.event(
                    "refresh_token_reuse",
                    Some(row.user_id),
                    None,
                    json!({ "family_id": row.family_id }),
                ),
            )
            .await?;
            tx.commit().await?;
            let link = self.app_link("/account");
            let place = meta
                .ip
                .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
            self.notify(
                row.user_id,
                super::notify::Notice::SuspiciousSignIn,
                "A sign-in token of your DocuVault account was copied".into(),
                |handle| {
                    format!(
                        "Hello {handle},\n\nA sign-in token of your account \"{handle}\" was used twice, from {place}: it \
                         had been copied. DocuVault ended that sign-in.\n\nIf this was not you, change your password \
                         and sign out everywhere:\n{link}\n\nYou can turn these emails off on your Account page.\n"
                    )
                },
            )
            .await;
            return Err(Error::unauthorized(
                "refresh_token_reused",
                "this sign-in was ended because its token was used twice; sign in again",
            ));
        }
        let user = users::get(&mut *tx, row.user_id).await?;
        let user = match user {
            Some(u) if u.is_active && row.expires_at > Utc::now() => u,
            _ => return Err(invalid_refresh()),
        };
        sessions::mark_used(&mut *tx, row.id).await?;
        let refresh_token = random_token()?;
        sessions::insert(
            &mut *tx,
            &self.new_refresh(user.id, row.family_id, &refresh_token, meta),
        )
        .await?;
        tx.commit().await?;
        let (access_token, expires_in) = self.tokens.issue(user.id, user.token_version)?;
        Ok(SignIn {
            access_token,
            expires_in,
            user: user.into(),
            refresh_token,
            family_id: row.family_id,
            security_notice: None,
        })
    }

    fn check_csrf(&self, family: Uuid, csrf: Option<&str>) -> Result<()> {
        match csrf {
            Some(t) if self.tokens.csrf_matches(family, t) => Ok(()),
            _ => Err(Error::forbidden(
                "csrf_failed",
                "missing or wrong X-CSRF-Token header",
            )),
        }
    }

    /// Ends the sign-in the refresh token belongs to. Without a (known) token there is nothing
    /// to end; with one, the CSRF token must match.
    pub async fn logout(
        &self,
        presented: Option<&str>,
        csrf: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<()> {
        let Some(presented) = presented else {
            return Ok(());
        };
        let mut tx = self.db.begin().await?;
        let Some(row) = sessions::find_for_update(&mut *tx, &token_hash(presented)).await? else {
            return Ok(());
        };
        self.check_csrf(row.family_id, csrf)?;
        sessions::revoke_family(&mut *tx, row.family_id).await?;
        audit::record(
            &mut *tx,
            &meta.event(
                "logout",
                Some(row.user_id),
                Some(row.user_id),
                json!({ "family_id": row.family_id }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes every sign-in and every access token of the caller.
    pub async fn logout_all(&self, caller: &Caller, meta: &RequestMeta) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let families = sessions::revoke_all(&mut *tx, caller.id).await?;
        users::bump_token_version(&mut *tx, caller.id).await?;
        audit::record(
            &mut *tx,
            &meta.event(
                "logout_all",
                Some(caller.id),
                Some(caller.id),
                json!({ "tokens_revoked": families }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends one of the caller's sign-ins: it can no longer refresh, so it ends when its current
    /// access token expires (at most `ACCESS_TOKEN_TTL_SECS`).
    pub async fn end_session(
        &self,
        caller: &Caller,
        family_id: Uuid,
        meta: &RequestMeta,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !sessions::revoke_family_of(&mut *tx, caller.id, family_id).await? {
            return Err(Error::NotFound("session"));
        }
        audit::record(
            &mut *tx,
            &meta.event(
                "session_ended",
                Some(caller.id),
                Some(caller.id),
                json!({ "family_id": family_id }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn me(&self, caller: &Caller) -> Result<UserView> {
        users::get(&self.db, caller.id)
            .await?
            .map(UserView::from)
            .ok_or(Error::NotFound("user"))
    }

    pub async fn sessions(&self, caller: &Caller) -> Result<Vec<SessionRow>> {
        sessions::list_active(&self.db, caller.id).await
    }

    /// Changes the caller's password; every other sign-in and access token ends.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.passwords_allowed()?;
        self.limiter
            .hit(
                "password-change",
                &caller.id.to_string(),
                self.auth.rate_per_account,
                self.auth.rate_window,
            )
            .await?;
        let user = users::get(&self.db, caller.id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if !self
            .passwords
            .verify(current, Some(user.password_hash.clone()))
            .await?
        {
            return Err(Error::forbidden(
                "wrong_password",
                "the current password is wrong",
            ));
        }
        let event = meta.event("password_changed", Some(user.id), Some(user.id), json!({}));
        self.replace_password(&user, new, &event).await
    }

    /// Checks `new` against the policy, stores its hash and ends every sign-in and access token
    /// of the user, with the audit event, in one transaction.
    pub(crate) async fn replace_password(
        &self,
        user: &UserRow,
        new: &str,
        event: &AuditEvent<'_>,
    ) -> Result<()> {
        check_new_password(new, &user.handle, &user.email)?;
        let hash = self.passwords.hash(new).await?;
        let mut tx = self.db.begin().await?;
        users::set_password(&mut *tx, user.id, &hash).await?;
        sessions::revoke_all(&mut *tx, user.id).await?;
        audit::record(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}
