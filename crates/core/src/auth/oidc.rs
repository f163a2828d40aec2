//! The OpenID Connect relying party, free of the HTTP framework and of SQL: discovery, the
//! authorization request (code flow with PKCE `S256`, `state` and `nonce`), the code exchange,
//! the ID token's verification against the provider's keys (signature, issuer, audience,
//! expiry, nonce) and the userinfo call. What the person is then allowed to do here is decided
//! in `services::sso`.
//!
//! Discovery and the key set are cached for an hour; a token signed with a key id the cache does
//! not know fetches the key set again (a provider rotating its keys), at most every 30 seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use futures::StreamExt;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::config::OidcConfig;
use crate::error::{Dependency, Error, Result};

/// Discovery documents, key sets, token and userinfo answers are small; a provider that sends
/// more is broken or hostile.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;
const CACHE_FOR: Duration = Duration::from_secs(3600);
const REFETCH_KEYS_AFTER: Duration = Duration::from_secs(30);
/// Clock skew allowed between us and the provider.
const LEEWAY_SECS: u64 = 60;

/// The parts of the provider's discovery document this relying party uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub userinfo_endpoint: Option<Url>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// A new authorization request: where to send the browser, and what to keep until it returns.
#[derive(Debug)]
pub struct AuthRequest {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
}

/// The ID token's claims this relying party reads (the registered ones are checked by
/// `jsonwebtoken`'s validation).
#[derive(Debug, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub nonce: Option<String>,
    pub azp: Option<String>,
    #[serde(default)]
    pub aud: Audience,
    #[serde(flatten)]
    pub profile: Profile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

impl Audience {
    fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(v) => v.len(),
            Self::None => 0,
        }
    }
}

/// Standard claims, from the ID token or the userinfo endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct Profile {
    pub sub: Option<String>,
    pub email: Option<String>,
    /// A boolean, or the strings "true"/"false" some providers send.
    #[serde(default)]
    pub email_verified: Option<serde_json::Value>,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
}

impl Profile {
    fn verified(&self) -> bool {
        match &self.email_verified {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Default)]
struct Cache {
    discovery: Option<(Instant, Arc<Discovery>)>,
    keys: Option<(Instant, Arc<Vec<Jwk>>)>,
}

pub struct OidcClient {
    config: OidcConfig,
    redirect_uri: Url,
    http: reqwest::Client,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(Dependency::IdentityProvider, anyhow::anyhow!("{what}: {e}"))
}

fn invalid_token(why: &str) -> Error {
    Error::unauthorized(
        "sso_invalid_token",
        format!("the identity provider's answer could not be trusted: {why}"),
    )
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE `S256` challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest;
    b64url(&sha2::Sha256::digest(verifier.as_bytes()))
}

impl OidcClient {
    /// The callback the provider sends the browser back to is
    /// `<PUBLIC_URL>/api/auth/oidc/callback`; register exactly that with the provider.
    pub fn new(config: OidcConfig, public_url: &Url) -> anyhow::Result<Self> {
        let redirect_uri = public_url
            .join("/api/auth/oidc/callback")
            .context("PUBLIC_URL cannot hold the callback path")?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("DocuVault/", env!("CARGO_PKG_VERSION")))
            // Every endpoint comes from the configured issuer's discovery document; a redirect
            // would take the client secret or the code somewhere else.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read OIDC_CA_FILE {}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .context("OIDC_CA_FILE holds no PEM certificate")?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            config,
            redirect_uri,
            http: builder
                .build()
                .context("cannot build the OpenID Connect client")?,
            cache: Mutex::new(Cache::default()),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    fn issuer(&self) -> String {
        self.config.issuer.clone()
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url, what: &str) -> Result<T> {
        let response = self
            .http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unavailable(what, e))?;
        let status = response.status();
        let body = read_limited(response, what).await?;
        if !status.is_success() {
            return Err(unavailable(what, format!("answered {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| unavailable(what, format!("not readable: {e}")))
    }

    /// The provider's discovery document (cached). Its `issuer` must be the configured one
    /// exactly (OpenID Connect Discovery §4.3), or tokens could be checked against the wrong
    /// party.
    pub async fn discovery(&self) -> Result<Arc<Discovery>> {
        if let Some((at, d)) = &self.cache.lock().await.discovery
            && at.elapsed() < CACHE_FOR
        {
            return Ok(d.clone());
        }
        let base = self.issuer();
        let url = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            base.trim_end_matches('/')
        ))
        .map_err(|e| unavailable("discovery", e))?;
        let d: Discovery = self.get_json(&url, "discovery").await?;
        if d.issuer != base {
            return Err(unavailable(
                "discovery",
                format!("the document names the issuer {:?}, not {base:?}", d.issuer),
            ));
        }
        if let Some(methods) = &d.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(unavailable(
                "discovery",
                "the provider does not support PKCE with S256",
            ));
        }
        let d = Arc::new(d);
        self.cache.lock().await.discovery = Some((Instant::now(), d.clone()));
        Ok(d)
    }

    /// Starts a sign-in: fresh `state`, `nonce` and PKCE verifier, and the URL to send the
    /// browser to.
    pub async fn authorization_request(&self) -> Result<AuthRequest> {
        let d = self.discovery().await?;
        let state = crate::auth::random_token()?;
        let nonce = crate::auth::random_token()?;
        let verifier = crate::auth::random_token()?;
        let mut url = d.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", self.redirect_uri.as_str())
            .append_pair("scope", &self.config.scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(AuthRequest {
            url,
            state,
            nonce,
            verifier,
        })
    }

    /// Trades the code for tokens, verifies the ID token against `nonce`, and reads the email
    /// from the userinfo endpoint when the ID token does not carry it.
    pub async fn identity(&self, code: &str, verifier: &str, nonce: &str) -> Result<Identity> {
        let d = self.discovery().await?;
        let tokens = self.exchange(&d, code, verifier).await?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| invalid_token("the token answer has no ID token"))?;
        let claims = self.verify_id_token(&id_token, nonce).await?;
        let mut profile = claims.profile;
        if profile.email.is_none()
            && let (Some(endpoint), Some(access)) = (&d.userinfo_endpoint, &tokens.access_token)
        {
            let info = self.userinfo(endpoint, access).await?;
            // The userinfo answer must be about the same person (Core §5.3.2).
            if info.sub.as_deref() != Some(claims.sub.as_str()) {
                return Err(invalid_token("userinfo is about someone else"));
            }
            profile = info;
        }
        let email_verified = profile.verified();
        Ok(Identity {
            subject: claims.sub,
            email: profile.email.map(|e| e.trim().to_owned()),
            email_verified,
            preferred_username: profile.preferred_username,
            name: profile.name,
        })
    }

    async fn exchange(&self, d: &Discovery, code: &str, verifier: &str) -> Result<TokenAnswer> {
        let public_client = self.config.client_secret.is_none();
        // Built before anything is awaited: the serializer is not `Send`.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", self.redirect_uri.as_str())
                .append_pair("code_verifier", verifier);
            if public_client {
                form.append_pair("client_id", &self.config.client_id);
            }
            form.finish()
        };
        let mut request = self
            .http
            .post(d.token_endpoint.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        // client_secret_basic: both parts form-encoded first (RFC 6749 §2.3.1).
        if let Some(secret) = &self.config.client_secret {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(&self.config.client_id), Some(enc(secret.expose())));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        let status = response.status();
        let body = read_limited(response, "token endpoint").await?;
        if status.is_server_error() {
            return Err(unavailable("token endpoint", format!("answered {status}")));
        }
        if !status.is_success() {
            let answer: ErrorAnswer = serde_json::from_slice(&body).unwrap_or(ErrorAnswer {
                error: None,
                error_description: None,
            });
            tracing::warn!(
                %status,
                error = answer.error.as_deref().unwrap_or(""),
                description = answer.error_description.as_deref().unwrap_or(""),
                "the identity provider refused the code"
            );
            return Err(Error::unauthorized(
                "sso_failed",
                "the identity provider did not accept the sign-in; start again",
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|e| invalid_token(&format!("the token answer is not readable ({e})")))
    }

    async fn userinfo(&self, endpoint: &Url, access_token: &str) -> Result<Profile> {
        let response = self
            .http
            .get(endpoint.clone())
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unavailable("userinfo", e))?;
        let status = response.status();
        let body = read_limited(response, "userinfo").await?;
        if !status.is_success() {
            return Err(unavailable("userinfo", format!("answered {status}")));
        }
        // A signed userinfo answer (application/jwt) is not asked for, so not accepted.
        serde_json::from_slice(&body).map_err(|_| invalid_token("userinfo is not JSON"))
    }

    /// The provider's signing keys, fetched again when `kid` is not among them.
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey> {
        let d = self.discovery().await?;
        for attempt in 0..2 {
            let keys = {
                let cache = self.cache.lock().await;
                match &cache.keys {
                    Some((at, keys))
                        if at.elapsed() < CACHE_FOR
                            && (attempt == 0 || at.elapsed() < REFETCH_KEYS_AFTER) =>
                    {
                        Some(keys.clone())
                    }
                    _ => None,
                }
            };
            let keys = match keys {
                Some(k) => k,
                None => {
                    let set: serde_json::Value = self.get_json(&d.jwks_uri, "key set").await?;
                    let keys = Arc::new(signing_keys(&set));
                    self.cache.lock().await.keys = Some((Instant::now(), keys.clone()));
                    keys
                }
            };
            if let Some(jwk) = pick_key(&keys, kid, alg) {
                return DecodingKey::from_jwk(jwk)
                    .map_err(|e| invalid_token(&format!("the provider's key is unusable ({e})")));
            }
            if attempt == 0 {
                // A rotated key: look once more (the cache allows one fetch per 30 s).
                let mut cache = self.cache.lock().await;
                if cache
                    .keys
                    .as_ref()
                    .is_some_and(|(at, _)| at.elapsed() >= REFETCH_KEYS_AFTER)
                {
                    cache.keys = None;
                }
            }
        }
        Err(invalid_token(
            "it is signed with a key the provider does not publish",
        ))
    }

    /// Verifies an ID token (Core §3.1.3.7): an asymmetric signature by a published key, this
    /// issuer, this client in the audience (and as `azp` when there are several), not expired,
    /// and the nonce of this sign-in.
    pub async fn verify_id_token(&self, token: &str, nonce: &str) -> Result<IdClaims> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid_token("the ID token is not a JWT"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(invalid_token(
                "the ID token is not signed with a public-key algorithm",
            ));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[self.issuer()]);
        validation.set_audience(&[self.config.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                invalid_token(match e.kind() {
                    K::InvalidSignature => "the ID token's signature is wrong",
                    K::ExpiredSignature => "the ID token has expired",
                    K::InvalidIssuer => "the ID token is from another issuer",
                    K::InvalidAudience => "the ID token is for another client",
                    K::MissingRequiredClaim(_) => "the ID token lacks a required claim",
                    _ => "the ID token is malformed",
                })
            })?
            .claims;
        if claims.aud.len() > 1 && claims.azp.as_deref() != Some(self.config.client_id.as_str()) {
            return Err(invalid_token("the ID token is for another client"));
        }
        let nonce_ok = claims
            .nonce
            .as_deref()
            .is_some_and(|n| crate::auth::constant_time_eq(n.as_bytes(), nonce.as_bytes()));
        if !nonce_ok {
            return Err(invalid_token(
                "the ID token was not issued for this sign-in (nonce)",
            ));
        }
        Ok(claims)
    }
}

/// The keys of a JWKS document that may verify signatures. A key this library cannot read
/// (an encryption key, a curve it lacks) is skipped, not fatal to the others.
fn signing_keys(set: &serde_json::Value) -> Vec<Jwk> {
    set.get("keys")
        .and_then(serde_json::Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
                // Public keys only: a symmetric key or an unknown type never verifies an ID token.
                .filter(|k| {
                    matches!(
                        k.algorithm,
                        AlgorithmParameters::RSA(_)
                            | AlgorithmParameters::EllipticCurve(_)
                            | AlgorithmParameters::OctetKeyPair(_)
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pick_key<'a>(keys: &'a [Jwk], kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let alg_fits = |k: &Jwk| {
        k.common
            .key_algorithm
            .is_none_or(|ka| key_algorithm(ka) == Some(alg))
    };
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid) && alg_fits(k)),
        // Without a key id, only an unambiguous key set will do.
        None => {
            let mut fitting = keys.iter().filter(|k| alg_fits(k));
            match (fitting.next(), fitting.next()) {
                (Some(k), None) => Some(k),
                _ => None,
            }
        }
    }
}

fn key_algorithm(k: KeyAlgorithm) -> Option<Algorithm> {
    Some(match k {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

async fn read_limited(response: reqwest::Response, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| unavailable(what, e))?;
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(unavailable(what, "the answer is too large"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn email_verified_accepts_booleans_and_their_strings() {
        for (v, want) in [
            (serde_json::json!(true), true),
            (serde_json::json!("true"), true),
            (serde_json::json!(false), false),
            (serde_json::json!("no"), false),
            (serde_json::json!(1), false),
        ] {
            let p = Profile {
                email_verified: Some(v.clone()),
                ..Profile::default()
            };
            assert_eq!(p.verified(), want, "{v}");
        }
        assert!(!Profile::default().verified());
    }

    #[test]
    fn keys_are_picked_by_id_and_algorithm() {
        let set = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "a", "alg": "RS256", "use": "sig", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "b", "alg": "RS256", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "EC", "kid": "c", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "unknown", "kid": "d"},
            {"kty": "oct", "kid": "e", "k": "c2VjcmV0"}
        ]});
        let keys = signing_keys(&set);
        assert_eq!(
            keys.len(),
            2,
            "the encryption, unknown and symmetric keys are skipped"
        );
        assert!(pick_key(&keys, Some("a"), Algorithm::RS256).is_some());
        assert!(
            pick_key(&keys, Some("a"), Algorithm::ES256).is_none(),
            "alg must fit"
        );
        assert!(pick_key(&keys, Some("b"), Algorithm::RS256).is_none());
        assert!(pick_key(&keys, Some("c"), Algorithm::ES256).is_some());
        assert!(
            pick_key(&keys, None, Algorithm::RS256).is_none(),
            "ambiguous without kid"
        );
    }
}
