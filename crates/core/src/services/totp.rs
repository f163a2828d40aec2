//! TOTP enrolment: a secret is stored sealed but inactive until the first valid code; then
//! ten single-use recovery codes are shown once (only their hashes are kept). Turning TOTP off
//! needs the password and a current code.

use serde_json::json;

use super::Vault;
use super::accounts::{Caller, RequestMeta};
use crate::auth::{random_bytes, token_hash, totp};
use crate::crypto::Purpose;
use crate::db::{audit, users};
use crate::error::{Error, Result};

const RECOVERY_CODES: usize = 10;
const TOTP_BUCKET: &str = "totp";

#[derive(Debug)]
pub struct TotpEnrolment {
    pub otpauth_uri: String,
    pub secret: String,
    pub qr_svg: String,
}

/// `XXXX-XXXX` from an alphabet without look-alikes (no 0/O, 1/I/L).
fn recovery_code() -> anyhow::Result<String> {
    const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ!";
    let bytes = random_bytes::<8>()?;
    let mut code = String::with_capacity(9);
    for (i, b) in bytes.iter().enumerate() {
        if i == 4 {
            code.push('-');
        }
        // 31 symbols used (the 32nd is never picked): modulo 31 keeps the bias below 1 %.
        code.push(char::from(ALPHABET[usize::from(*b % 31)]));
    }
    Ok(code)
}

impl Vault {
    async fn totp_attempt(&self, caller: &Caller) -> Result<()> {
        self.limiter
            .hit(
                TOTP_BUCKET,
                &caller.id.to_string(),
                self.auth.rate_per_account,
                self.auth.rate_window,
            )
            .await
    }

    pub async fn totp_enroll(&self, caller: &Caller) -> Result<TotpEnrolment> {
        use base64::Engine;
        let secret = totp::new_secret()?;
        let sealed = self.sealer.seal(Purpose::TotpSecret, caller.id, &secret)?;
        let stored = base64::engine::general_purpose::STANDARD.encode(sealed);
        if !users::set_pending_totp(&self.db, caller.id, &stored).await? {
            return Err(Error::conflict(
                "totp_already_enabled",
                "two-factor sign-in is already on; turn it off first",
            ));
        }
        let otpauth_uri = totp::otpauth_uri(&secret, &caller.handle);
        Ok(TotpEnrolment {
            qr_svg: totp::qr_svg(&otpauth_uri)?,
            secret: totp::base32(&secret),
            otpauth_uri,
        })
    }

    /// Activates TOTP with a first valid code; returns the recovery codes (shown only now).
    pub async fn totp_verify(
        &self,
        caller: &Caller,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<Vec<String>> {
        self.totp_attempt(caller).await?;
        let user = users::get(&self.db, caller.id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if user.totp_enabled {
            return Err(Error::conflict(
                "totp_already_enabled",
                "two-factor sign-in is already on",
            ));
        }
        let Some(secret) = self.totp_secret(&user)? else {
            return Err(Error::conflict(
                "totp_not_enrolled",
                "start with POST /api/me/totp/enroll",
            ));
        };
        let Some(step) = totp::check(&secret, code, totp::now_unix(), user.totp_last_step) else {
            return Err(Error::bad_request(
                "invalid_totp_code",
                "wrong code; check the clock of your device",
            ));
        };
        let codes = (0..RECOVERY_CODES)
            .map(|_| recovery_code())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let hashes: Vec<String> = codes.iter().map(|c| token_hash(c)).collect();
        if !users::enable_totp(&self.db, user.id, step, &hashes).await? {
            return Err(Error::conflict(
                "totp_already_enabled",
                "two-factor sign-in was turned on meanwhile",
            ));
        }
        audit::record(
            &self.db,
            &meta.event("totp_enabled", Some(user.id), Some(user.id), json!({})),
        )
        .await?;
        Ok(codes)
    }

    pub async fn totp_disable(
        &self,
        caller: &Caller,
        password: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.totp_attempt(caller).await?;
        let user = users::get(&self.db, caller.id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if !user.totp_enabled {
            return Err(Error::conflict(
                "totp_not_enabled",
                "two-factor sign-in is not on",
            ));
        }
        if !self
            .passwords
            .verify(password, Some(user.password_hash.clone()))
            .await?
        {
            return Err(Error::forbidden("wrong_password", "the password is wrong"));
        }
        if !self.second_factor(&user, code, meta).await? {
            return Err(Error::forbidden(
                "invalid_totp_code",
                "wrong or already used code",
            ));
        }
        users::disable_totp(&self.db, user.id).await?;
        audit::record(
            &self.db,
            &meta.event("totp_disabled", Some(user.id), Some(user.id), json!({})),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_look_right() {
        let a = recovery_code().unwrap();
        assert_eq!(a.len(), 9);
        assert_eq!(a.as_bytes()[4], b'-');
        assert!(a.chars().all(|c| c == '-'
            || (c.is_ascii_alphanumeric() && c.is_ascii_uppercase() || c.is_ascii_digit())));
        assert_ne!(a, recovery_code().unwrap());
    }
}
