//! Signing in to OneDrive and Google Drive: OAuth 2 (authorization code with PKCE `S256`, the
//! refresh-token grant) through the `oauth2` crate, over our own reqwest client so its timeouts
//! and "no redirects, no proxy" hold; and [`Api`], the authorized requests both drives send:
//! the bearer token, one renewal after a `401`, and waiting out `429`/`503` with `Retry-After`.
//!
//! Every endpoint (authorization, token, API) comes from the operator's config, so a test points
//! them at a local server that speaks the providers' wire formats.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

use super::DriveError;
use crate::config::OAuthProviderConfig;

/// Token endpoint answers are small; a bigger one is broken or hostile.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;
/// The longest `Retry-After` waited out inside one operation; a longer one fails it as an
/// outage (jobs and moves are retried later).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Tries of one request: the first, one after a token renewal, and waits for `Retry-After`.
const MAX_TRIES: u32 = 4;

/// The providers a person connects by signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OneDrive,
    GDrive,
}

impl Provider {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "onedrive" => Some(Self::OneDrive),
            "gdrive" => Some(Self::GDrive),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneDrive => "onedrive",
            Self::GDrive => "gdrive",
        }
    }

    /// The provider's name for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::OneDrive => "OneDrive",
            Self::GDrive => "Google Drive",
        }
    }

    /// The least the drives need: OneDrive's app folder (`Apps/<app>/`), and on Google Drive
    /// only the files DocuVault made (`drive.file`); plus a refresh token.
    fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::OneDrive => &["Files.ReadWrite.AppFolder", "User.Read", "offline_access"],
            Self::GDrive => &["https://www.googleapis.com/auth/drive.file"],
        }
    }
}

/// A connection's tokens, as sealed in `cloud_connections.credentials_enc`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A started sign-in: the browser goes to `url`; `state` and `verifier` wait for its return.
#[derive(Debug)]
pub struct Authorization {
    pub url: Url,
    pub state: String,
    pub verifier: String,
}

/// Why the token endpoint gave no tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The provider refused the grant (`invalid_grant`: revoked, expired, already used).
    #[error("{0}")]
    Refused(String),
    /// The provider did not answer, or answered 5xx or 429.
    #[error("cannot reach the provider: {0}")]
    Unreachable(String),
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// DocuVault as an OAuth client of one provider.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub provider: Provider,
    pub config: OAuthProviderConfig,
    redirect: Url,
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpFailure(String);

impl OAuthApp {
    pub fn new(
        provider: Provider,
        config: OAuthProviderConfig,
        redirect: Url,
        http: reqwest::Client,
    ) -> Self {
        Self {
            provider,
            config,
            redirect,
            http,
        }
    }

    fn client(&self) -> Client {
        let mut client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(self.config.auth_url.clone()))
            .set_token_uri(TokenUrl::from_url(self.config.token_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(self.redirect.clone()))
            // Both providers take the client's credentials in the form body.
            .set_auth_type(AuthType::RequestBody);
        if let Some(secret) = &self.config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().clone()));
        }
        client
    }

    /// Where to send the browser to sign in, with a fresh `state` and PKCE verifier.
    pub fn authorize(&self) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client();
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge);
        for scope in self.provider.scopes() {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        if self.provider == Provider::GDrive {
            // Google sends a refresh token only for offline access, and again only on consent.
            request = request
                .add_extra_param("access_type", "offline")
                .add_extra_param("prompt", "consent");
        }
        let (url, state) = request.url();
        Authorization {
            url,
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
        }
    }

    /// Trades the code the browser brought back (and the verifier) for tokens.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<Tokens, TokenError> {
        // The future owns its client: one borrowing `self` is not provably `Send` for every
        // lifetime, which a boxed drive method needs.
        let http = |req| {
            let client = self.http.clone();
            async move { send(&client, req).await }
        };
        let got = self
            .client()
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&http)
            .await
            .map_err(token_error)?;
        let refresh = got
            .refresh_token()
            .map(|t| t.secret().clone())
            .ok_or_else(|| {
                TokenError::Refused("the provider gave no refresh token (offline access)".into())
            })?;
        Ok(tokens(
            got.access_token().secret(),
            refresh,
            got.expires_in(),
        ))
    }

    /// New tokens for a refresh token. A provider that rotates refresh tokens (Microsoft) sends
    /// a new one; one that does not (Google) keeps the old one valid.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, TokenError> {
        // The future owns its client: one borrowing `self` is not provably `Send` for every
        // lifetime, which a boxed drive method needs.
        let http = |req| {
            let client = self.http.clone();
            async move { send(&client, req).await }
        };
        let old = RefreshToken::new(refresh_token.to_owned());
        let got = self
            .client()
            .exchange_refresh_token(&old)
            .request_async(&http)
            .await
            .map_err(token_error)?;
        let refresh = got
            .refresh_token()
            .map_or_else(|| refresh_token.to_owned(), |t| t.secret().clone());
        Ok(tokens(
            got.access_token().secret(),
            refresh,
            got.expires_in(),
        ))
    }
}

fn tokens(access: &str, refresh: String, expires_in: Option<Duration>) -> Tokens {
    // A provider that says nothing about expiry: an hour, as both providers issue.
    let lifetime = expires_in.unwrap_or(Duration::from_secs(3600));
    Tokens {
        access_token: access.to_owned(),
        refresh_token: refresh,
        expires_at: Utc::now()
            + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1)),
    }
}

fn token_error<E: std::error::Error>(
    e: RequestTokenError<E, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(r) => TokenError::Refused(
            r.error_description()
                .cloned()
                .unwrap_or_else(|| r.error().to_string()),
        ),
        RequestTokenError::Request(e) => TokenError::Unreachable(e.to_string()),
        RequestTokenError::Parse(e, _) => {
            TokenError::Unreachable(format!("the token endpoint's answer is unreadable: {e}"))
        }
        RequestTokenError::Other(e) => TokenError::Unreachable(e),
    }
}

/// The `oauth2` crate's request, sent with our client. 5xx and 429 count as the provider being
/// unreachable, not as a refusal.
async fn send(http: &reqwest::Client, req: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| HttpFailure(e.without_url().to_string()))?;
    let status = resp.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(HttpFailure(format!("the token endpoint answered {status}")));
    }
    let headers = resp.headers().clone();
    let body = super::read_limited(resp, MAX_TOKEN_RESPONSE)
        .await
        .map_err(|e| HttpFailure(e.to_string()))?;
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// Where a drive gets its access token: the connection's current one, and a new one when the
/// provider says it expired (see `storage::tokens`).
#[async_trait::async_trait]
pub trait AccessToken: Send + Sync + std::fmt::Debug {
    /// A token that has not expired yet, as far as we know.
    async fn current(&self) -> Result<String, DriveError>;
    /// A token other than `stale`, which the provider refused.
    async fn renew(&self, stale: &str) -> Result<String, DriveError>;
}

/// The authorized requests of one connection to its provider's API.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub tokens: Arc<dyn AccessToken>,
}

/// Whether a request carries the bearer token (an upload session's URL is authorized by itself,
/// and Graph refuses a token sent with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Bearer,
    Url,
}

impl Api {
    /// Sends the request `build` makes (again on a retry): with the bearer, renewed once after
    /// a `401`; `429` and `503` are waited out when the provider says how long (`Retry-After`,
    /// up to 30 s). The answer is returned whatever its status.
    pub async fn send(
        &self,
        auth: Auth,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DriveError> {
        let mut token = match auth {
            Auth::Bearer => Some(self.tokens.current().await?),
            Auth::Url => None,
        };
        let mut renewed = false;
        for _ in 0..MAX_TRIES {
            let mut req = build(&self.http);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.map_err(unreachable)?;
            match resp.status() {
                StatusCode::UNAUTHORIZED if !renewed && token.is_some() => {
                    let stale = token.take().unwrap_or_default();
                    token = Some(self.tokens.renew(&stale).await?);
                    renewed = true;
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    match retry_after(&resp) {
                        Some(wait) if wait <= MAX_RETRY_AFTER => tokio::time::sleep(wait).await,
                        Some(wait) => {
                            return Err(DriveError::Unreachable(format!(
                                "the provider asks to wait {} s",
                                wait.as_secs()
                            )));
                        }
                        None => return Ok(resp),
                    }
                }
                _ => return Ok(resp),
            }
        }
        Err(DriveError::Unreachable(
            "the provider kept refusing the request; try again later".into(),
        ))
    }
}

/// `Retry-After` in seconds (the form both providers send).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

pub fn unreachable(e: reqwest::Error) -> DriveError {
    // Without the URL: an upload session's URL is a credential.
    DriveError::Unreachable(e.without_url().to_string())
}

/// What an API answer that is not a success means; the provider's own message when it sent
/// one (`{"error": {"message": …}}` from both).
pub async fn failure(resp: reqwest::Response, what: &str) -> DriveError {
    let status = resp.status();
    match status {
        StatusCode::UNAUTHORIZED => return DriveError::Credentials,
        StatusCode::NOT_FOUND => return DriveError::NotFound,
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            return DriveError::Unreachable(format!("the provider answered {s}"));
        }
        _ => {}
    }
    let message = super::read_limited(resp, 16 * 1024)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned));
    match (status, message) {
        (StatusCode::FORBIDDEN, None) => DriveError::Credentials,
        (StatusCode::INSUFFICIENT_STORAGE, _) => {
            DriveError::Refused("the drive is out of space".into())
        }
        (s, Some(m)) => DriveError::Refused(format!("{what}: {m} ({s})")),
        (s, None) => DriveError::Refused(format!("{what}: the provider answered {s}")),
    }
}

/// A small JSON answer (metadata, an upload session), its status checked; `what` says what
/// was asked, for the error.
pub async fn json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> Result<T, DriveError> {
    if !resp.status().is_success() {
        return Err(failure(resp, what).await);
    }
    let body = super::read_limited(resp, 256 * 1024).await?;
    serde_json::from_slice(&body)
        .map_err(|e| DriveError::Unreachable(format!("the provider's answer is unreadable: {e}")))
}

/// A successful answer's body as a stream of chunks.
pub fn body_stream(resp: reqwest::Response) -> super::ByteStream<'static> {
    use futures::{StreamExt, TryStreamExt};
    resp.bytes_stream()
        .map_err(|e| crate::Error::from(DriveError::Unreachable(e.without_url().to_string())))
        .boxed()
}

/// Cuts a body into pieces of `size` bytes (the last one shorter), as upload sessions take it.
pub struct Chunks<'a> {
    body: super::ByteStream<'a>,
    carry: bytes::BytesMut,
    ended: bool,
}

impl<'a> Chunks<'a> {
    pub fn new(body: super::ByteStream<'a>) -> Self {
        Self {
            body,
            carry: bytes::BytesMut::new(),
            ended: false,
        }
    }

    /// The next piece: `size` bytes, fewer only at the end of the body (empty after it).
    pub async fn next(&mut self, size: usize) -> crate::Result<bytes::Bytes> {
        use futures::StreamExt;
        while self.carry.len() < size && !self.ended {
            match self.body.next().await {
                Some(chunk) => self.carry.extend_from_slice(&chunk?),
                None => self.ended = true,
            }
        }
        let n = self.carry.len().min(size);
        Ok(self.carry.split_to(n).freeze())
    }
}

/// Percent-encodes one path segment for a URL (everything but unreserved characters).
pub fn segment(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// `base` with `rest` appended to its path (`base` may or may not end in `/`).
pub fn join(base: &Url, rest: &str) -> Result<Url, DriveError> {
    let raw = format!("{}/{}", base.as_str().trim_end_matches('/'), rest);
    Url::parse(&raw).map_err(|e| DriveError::Refused(format!("API URL: {e}")))
}
