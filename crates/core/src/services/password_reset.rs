//! Password reset by email: a single-use token (only its hash stored) valid for 30 minutes.
//! The request answers the same whether or not the address has an account, and everything
//! after the rate limits (lookup, token, audit, email) runs off the request path so the
//! answer's timing does not tell either. A reset ends every
//! sign-in of the account.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::Vault;
use super::accounts::RequestMeta;
use crate::auth::{random_token, token_hash};
use crate::db::{audit, password_resets, sessions, users};
use crate::error::{Error, Result};
use crate::mail::Mail;
use docuvault_domain::account::check_new_password;

pub const RESET_TTL: Duration = Duration::from_secs(30 * 60);

impl Vault {
    pub async fn request_password_reset(&self, email: &str, meta: &RequestMeta) -> Result<()> {
        self.passwords_allowed()?;
        let ip = meta.ip_key();
        self.limiter
            .hit(
                "reset-ip",
                &ip,
                self.auth.rate_per_ip,
                self.auth.rate_window,
            )
            .await?;
        let email = email.trim().to_lowercase();
        self.limiter
            .hit(
                "reset-account",
                &email,
                self.auth.rate_per_account,
                self.auth.rate_window,
            )
            .await?;
        // Everything that differs between a known and an unknown address (the lookup, the
        // token's INSERT, the audit row, the mail) happens after the answer, so its timing
        // tells nothing (`make bench` measures the ratio).
        let me = self.clone();
        let meta = meta.clone();
        tokio::spawn(async move {
            if let Err(e) = me.send_reset_link(&email, &meta).await {
                tracing::error!(error = %e.chain(), "a password-reset request could not be handled");
            }
        });
        Ok(())
    }

    /// The part of a reset request that depends on whether the address has an account.
    async fn send_reset_link(&self, email: &str, meta: &RequestMeta) -> Result<()> {
        let Some(user) = users::find_by_email(&self.db, email).await? else {
            return Ok(());
        };
        if !user.is_active {
            return Ok(());
        }
        let token = random_token()?;
        let expires = Utc::now()
            + chrono::Duration::seconds(i64::try_from(RESET_TTL.as_secs()).unwrap_or(1800));
        password_resets::insert(&self.db, &token_hash(&token), user.id, expires).await?;
        audit::record(
            &self.db,
            &meta.event("password_reset_requested", Some(user.id), None, json!({})),
        )
        .await?;

        let mut link = self.auth.public_url.clone();
        link.set_path("/reset-password");
        // In the fragment: browsers do not send it to servers or in Referer headers.
        link.set_fragment(Some(&format!("token={token}")));
        let mail = Mail {
            to: user.email,
            subject: "Reset your DocuVault password".into(),
            body: format!(
                "Someone (hopefully you) asked to reset the password of the DocuVault account \"{}\".\n\n\
                 Open this link within 30 minutes to choose a new password:\n\n{link}\n\n\
                 Or send the token to POST /api/auth/password-reset/confirm:\n{token}\n\n\
                 If you did not ask for this, ignore this email; your password stays as it is.\n",
                user.handle
            ),
        };
        if let Err(e) = self.mailer.send(mail).await {
            tracing::error!(
                error = format!("{e:#}"),
                "password-reset email could not be sent"
            );
        }
        Ok(())
    }

    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.passwords_allowed()?;
        let ip = meta.ip_key();
        self.limiter
            .hit(
                "reset-confirm-ip",
                &ip,
                self.auth.rate_per_ip,
                self.auth.rate_window,
            )
            .await?;
        let invalid = || {
            Error::bad_request(
                "invalid_reset_token",
                "this reset link is invalid, used or expired; ask for a new one",
            )
        };
        let hash = token_hash(token.trim());
        let user_id = password_resets::peek(&self.db, &hash)
            .await?
            .ok_or_else(invalid)?;
        let user = users::get(&self.db, user_id).await?.ok_or_else(invalid)?;
        // Checked before the token is used up, so a refused password does not cost the link.
        check_new_password(new_password, &user.handle, &user.email)?;
        let new_hash = self.passwords.hash(new_password).await?;
        let mut tx = self.db.begin().await?;
        if password_resets::consume(&mut *tx, &hash).await? != Some(user_id) {
            return Err(invalid());
        }
        users::set_password(&mut *tx, user_id, &new_hash).await?;
        sessions::revoke_all(&mut *tx, user_id).await?;
        audit::record(
            &mut *tx,
            &meta.event("password_reset", Some(user_id), Some(user_id), json!({})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
