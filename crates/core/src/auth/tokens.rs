//! Access tokens: HS256 JWTs signed with a key derived from `SECRET_KEY`, valid for
//! `ACCESS_TOKEN_TTL_SECS`, carrying the user's token version so "sign out everywhere" ends
//! them at once. Only HS256 is accepted: `alg: none`, another algorithm, a wrong key, a wrong
//! issuer or audience, an expired token or a changed claim are all refused.
//!
//! Also the CSRF token of a sign-in: an HMAC of its refresh-token family, so it cannot be
//! planted from another site (a forged cookie would need the server's key).

use std::time::Duration;

use hmac::{KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::Sealer;

const ISSUER: &str = "docuvault";
const AUDIENCE: &str = "docuvault-api";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    /// The user's `token_version` when the token was issued.
    pub ver: i32,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    csrf_key: [u8; 32],
    media_key: [u8; 32],
    pub access_ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys([redacted])")
    }
}

impl TokenKeys {
    pub fn new(sealer: &Sealer, access_ttl: Duration) -> Self {
        let jwt_key = sealer.derive_key("jwt-hs256");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(&jwt_key),
            decoding: DecodingKey::from_secret(&jwt_key),
            validation,
            csrf_key: sealer.derive_key("csrf"),
            media_key: sealer.derive_key("media-links"),
            access_ttl,
        }
    }

    /// A signed access token for `user` at `version`, and its lifetime in seconds.
    pub fn issue(&self, user: Uuid, version: i32) -> anyhow::Result<(String, u64)> {
        let now = chrono::Utc::now().timestamp();
        let ttl = self.access_ttl.as_secs();
        let claims = AccessClaims {
            sub: user,
            ver: version,
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing the access token failed: {e}"))?;
        Ok((token, ttl))
    }

    /// The claims of a valid token; `None` for anything forged, altered or expired.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The CSRF token of the sign-in `family`.
    pub fn csrf_token(&self, family: Uuid) -> String {
        use base64::Engine;
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.csrf_key) else {
            unreachable!("HMAC takes a key of any length");
        };
        mac.update(family.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn csrf_matches(&self, family: Uuid, presented: &str) -> bool {
        super::constant_time_eq(self.csrf_token(family).as_bytes(), presented.as_bytes())
    }

    /// A media link's token: lets `<img src>` and the PDF viewer (which send no Authorization
    /// header) fetch `purpose` for `scope` (a document, or nil for all of the user's) as `user`
    /// until `exp` (Unix seconds), while the user's token version is `version` — so "sign out
    /// everywhere" ends media links too. `{user}.{version}.{exp}.{mac}`, URL-safe.
    pub fn media_token(
        &self,
        purpose: &str,
        user: Uuid,
        version: i32,
        scope: Uuid,
        exp: i64,
    ) -> String {
        use base64::Engine;
        let mac = self.media_mac(purpose, user, version, scope, exp);
        let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac);
        format!("{}.{version}.{exp}.{mac}", user.simple())
    }

    /// The user and token version of a media token for `purpose` and `scope` that is genuine and
    /// not expired.
    pub fn media_verify(&self, token: &str, purpose: &str, scope: Uuid) -> Option<(Uuid, i32)> {
        use base64::Engine;
        let mut parts = token.split('.');
        let user = Uuid::parse_str(parts.next()?).ok()?;
        let version: i32 = parts.next()?.parse().ok()?;
        let exp: i64 = parts.next()?.parse().ok()?;
        let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts.next()?)
            .ok()?;
        if parts.next().is_some() || exp < chrono::Utc::now().timestamp() {
            return None;
        }
        let want = self.media_mac(purpose, user, version, scope, exp);
        super::constant_time_eq(&want, &mac).then_some((user, version))
    }

    fn media_mac(&self, purpose: &str, user: Uuid, version: i32, scope: Uuid, exp: i64) -> Vec<u8> {
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.media_key) else {
            unreachable!("HMAC takes a key of any length");
        };
        mac.update(format!("{purpose}\n{user}\n{version}\n{scope}\n{exp}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod media_tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn media_tokens_are_bound_to_purpose_scope_and_time() {
        let keys = TokenKeys::new(
            &Sealer::new(&Secret::new("k".repeat(40))),
            Duration::from_secs(60),
        );
        let (user, doc) = (Uuid::new_v4(), Uuid::new_v4());
        let exp = chrono::Utc::now().timestamp() + 60;
        let token = keys.media_token("preview", user, 3, doc, exp);
        assert_eq!(keys.media_verify(&token, "preview", doc), Some((user, 3)));
        assert_eq!(keys.media_verify(&token, "thumbnail", doc), None);
        assert_eq!(keys.media_verify(&token, "preview", Uuid::new_v4()), None);
        let old = keys.media_token("preview", user, 3, doc, exp - 120);
        assert_eq!(keys.media_verify(&old, "preview", doc), None);
        let forged = token.replacen(".3.", ".4.", 1);
        assert_eq!(keys.media_verify(&forged, "preview", doc), None);
        let other = TokenKeys::new(
            &Sealer::new(&Secret::new("x".repeat(40))),
            Duration::from_secs(60),
        );
        assert_eq!(other.media_verify(&token, "preview", doc), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use base64::Engine;

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(
            &Sealer::new(&Secret::new(secret.repeat(32))),
            Duration::from_secs(900),
        )
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn issued_tokens_verify_and_forgeries_do_not() {
        let k = keys("a");
        let user = Uuid::new_v4();
        let (token, ttl) = k.issue(user, 3).unwrap();
        assert_eq!(ttl, 900);
        let claims = k.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.ver), (user, 3));

        // Signed with another key.
        assert!(keys("b").verify(&token).is_none());
        // alg: none, unsigned.
        let parts: Vec<&str> = token.split('.').collect();
        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(k.verify(&none).is_none());
        // Claims changed after signing.
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap();
        let forged = String::from_utf8(payload)
            .unwrap()
            .replace(&user.to_string(), &Uuid::new_v4().to_string());
        assert!(
            k.verify(&format!("{}.{}.{}", parts[0], b64(&forged), parts[2]))
                .is_none()
        );
        // Expired.
        let expired = TokenKeys::new(&Sealer::new(&Secret::new("a".repeat(32))), Duration::ZERO);
        let (old, _) = expired.issue(user, 3).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(k.verify(&old).is_none());
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_family_and_key() {
        let k = keys("a");
        let fam = Uuid::new_v4();
        let t = k.csrf_token(fam);
        assert!(k.csrf_matches(fam, &t));
        assert!(!k.csrf_matches(Uuid::new_v4(), &t));
        assert!(!keys("b").csrf_matches(fam, &t));
        assert!(!k.csrf_matches(fam, ""));
    }
}
