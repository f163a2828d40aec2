//! Argon2id password hashing (RFC 9106; OWASP's parameters: 19 MiB, 2 passes, 1 lane).
//!
//! Hashing runs on the blocking pool behind a semaphore, so a burst of logins cannot take every
//! core or 19 MiB per request without bound. Verifying against a missing account still does the
//! full work on a dummy hash, so "no such user" and "wrong password" take the same time.

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

/// Password hashes at most this many at once per process.
const CONCURRENT_HASHES: usize = 4;

#[derive(Clone, Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(32))
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &[u8]) -> anyhow::Result<String> {
    let salt = super::random_bytes::<16>()?;
    let hash = argon2()?
        .hash_password_with_salt(password, &salt)
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// A hash of a random password, made once, to verify against when there is no account.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = super::random_bytes::<16>().unwrap_or([7; 16]);
        hash_blocking(&random).unwrap_or_default()
    })
}

fn verify_blocking(password: &[u8], stored: Option<&str>) -> bool {
    let Ok(argon) = argon2() else {
        return false;
    };
    // An unusable stored hash (the migrated `owner` account's '!') verifies like a missing one.
    let parsed = stored.filter(|h| h.starts_with("$argon2"));
    let ok = argon
        .verify_password(password, parsed.unwrap_or_else(|| dummy_hash()))
        .is_ok();
    ok && parsed.is_some()
}

impl Passwords {
    pub fn new() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(CONCURRENT_HASHES)),
        }
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let password = password.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .context("hashing task failed")?
    }

    /// Whether `password` matches `stored`; `None` (no such account) is never a match but costs
    /// the same.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let password = password.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || verify_blocking(&password, stored.as_deref()))
            .await
            .context("verification task failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_state_their_parameters() -> anyhow::Result<()> {
        let p = Passwords::new();
        let h = p.hash("correct horse battery").await?;
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify("correct horse battery", Some(h.clone())).await?);
        assert!(!p.verify("correct horse batterY", Some(h.clone())).await?);
        assert!(!p.verify("correct horse battery", None).await?);
        assert!(!p.verify("anything", Some("!".to_owned())).await?);
        assert_ne!(h, p.hash("correct horse battery").await?, "salted");
        Ok(())
    }
}
