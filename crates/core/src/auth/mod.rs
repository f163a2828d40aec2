//! Sign-in primitives, free of HTTP and SQL: password hashing, tokens, TOTP, rate limits.
//! The flows that use them live in `services::accounts`.

pub mod oidc;
pub mod password;
pub mod rate_limit;
pub mod scope;
pub mod tokens;
pub mod totp;

pub use password::Passwords;
pub use rate_limit::RateLimiter;
pub use scope::ApiScope;
pub use tokens::{AccessClaims, TokenKeys};

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(buf)
}

/// An opaque bearer secret (refresh token, reset token): 256 random bits, base64url.
pub fn random_token() -> anyhow::Result<String> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// What is stored of an opaque token: its SHA-256, hex. The tokens carry 256 random bits, so a
/// fast hash is enough (unlike passwords), and lookups stay an index probe.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (a, b) = (
            random_token().unwrap_or_default(),
            random_token().unwrap_or_default(),
        );
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(token_hash("abc"), token_hash("abc"));
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"diff"));
        assert!(!constant_time_eq(b"same", b"same!"));
    }
}
