//! Typed configuration read from environment variables (the CLI loads `.env` first in
//! development). A missing or malformed value stops start-up with one line naming the variable;
//! secrets are wrapped in [`Secret`] so `Debug` never shows them.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use crate::Secret;

/// Why the configuration could not be read; `Display` is the one line printed at start-up.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

/// Everything `docuvault serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub object_store: ObjectStoreConfig,
    pub redis_url: Secret<String>,
    pub secret_key: Secret<String>,
    /// The `SECRET_KEY` before a rotation (`SECRET_KEY_PREVIOUS`): values sealed under it still
    /// open until `docuvault secrets rotate` has sealed them again.
    pub secret_key_previous: Option<Secret<String>>,
    pub bind_addr: SocketAddr,
    pub max_upload_bytes: u64,
    /// The storage quota a new account starts with (`QUOTA_DEFAULT_BYTES`); admins change it
    /// per user.
    pub quota_default_bytes: i64,
    /// Presigned uploads: how long a reservation lasts and how large its parts are.
    pub direct_uploads: DirectUploadConfig,
    /// A search ranks at most this many matches, the newest (`SEARCH_RANKED_MATCHES`, 300):
    /// each match's vector is read (about 13 µs each at 100k documents, out of line), which for
    /// a word in 50,000 documents took seconds; the newest 300 take about 4 ms.
    pub search_ranked_matches: i64,
    /// Prefix of every Redis key DocuVault writes (`{prefix}:jobs`), so installations can share
    /// a Redis.
    pub redis_key_prefix: String,
    pub pipeline: PipelineConfig,
    pub ai: AiConfig,
    pub auth: AuthConfig,
    /// `None` when `SMTP_HOST` is not set: password-reset emails are then not sent (logged).
    pub smtp: Option<SmtpConfig>,
    pub mail_ingest: MailIngestConfig,
    pub cloud: CloudConfig,
}

/// People's own cloud storage (WebDAV, Nextcloud).
#[derive(Debug, Clone, Default)]
pub struct CloudConfig {
    /// Users may connect servers on private and loopback addresses
    /// (`CLOUD_ALLOW_PRIVATE_ENDPOINTS`; a family's Nextcloud on the LAN).
    pub allow_private: bool,
    /// OneDrive sign-in, when the operator registered DocuVault with Microsoft (`ONEDRIVE_*`).
    pub onedrive: Option<OAuthProviderConfig>,
    /// Google Drive sign-in, when the operator registered DocuVault with Google (`GDRIVE_*`).
    pub gdrive: Option<OAuthProviderConfig>,
}

/// DocuVault registered as an OAuth client with a cloud provider, and where the provider's
/// endpoints are (configurable so tests and sovereign clouds can point them elsewhere).
#[derive(Debug, Clone)]
pub struct OAuthProviderConfig {
    pub client_id: String,
    pub client_secret: Option<Secret<String>>,
    /// The authorization endpoint the browser is sent to.
    pub auth_url: Url,
    /// The token endpoint (code and refresh-token grants).
    pub token_url: Url,
    /// The API's base: Microsoft Graph's `…/v1.0`, or `https://www.googleapis.com`.
    pub api_url: Url,
}

/// Mail ingest: how often the workers look into connected mailboxes, and which servers users
/// may connect.
#[derive(Debug, Clone)]
pub struct MailIngestConfig {
    /// Between two looks into one mailbox (`MAIL_POLL_SECS`, 300).
    pub poll: Duration,
    /// Users may connect mail servers on private and loopback addresses
    /// (`MAIL_ALLOW_PRIVATE_ENDPOINTS`; a family server's LAN mail server).
    pub allow_private: bool,
    /// PEM certificates trusted besides the system's roots (`MAIL_CA_FILE`: a LAN's own CA).
    pub ca_file: Option<std::path::PathBuf>,
}

/// Which AI provider classifies documents when an admin assigned none, and whether new
/// accounts may choose their own.
#[derive(Debug, Clone, Default)]
pub struct AiConfig {
    /// The instance default (`AI_DEFAULT_PROVIDER`, `_MODEL`, `_BASE_URL`, `_API_KEY`):
    /// `local` unless the operator configures a remote one. The operator's choice, so it may
    /// point at a private address.
    pub default_provider: docuvault_domain::AiProviderKind,
    pub default_model: Option<String>,
    pub default_base_url: Option<Url>,
    pub default_api_key: Option<Secret<String>>,
    /// New accounts may choose their own provider (`AI_SELF_SERVICE_DEFAULT`); admins allow or
    /// forbid it per user.
    pub self_service_default: bool,
}

/// Sign-in, sessions and the browser-facing security settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Lifetime of an access token (JWT).
    pub access_ttl: Duration,
    /// Lifetime of a sign-in (refresh-token family) without use.
    pub refresh_ttl: Duration,
    /// Where people reach DocuVault; the base of links in emails. `https` turns on HSTS.
    pub public_url: Url,
    /// Mark cookies `Secure` (browsers also accept them on http://localhost).
    pub cookie_secure: bool,
    /// Origins allowed to call the API from a browser; empty means same-origin only.
    pub cors_origins: Vec<String>,
    pub allow_registration: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_proxy_headers: bool,
    /// Attempts at login, registration, password reset and TOTP per window, per account and
    /// per client address.
    pub rate_window: Duration,
    pub rate_per_account: u32,
    pub rate_per_ip: u32,
    /// The bearer token a Prometheus scraper sends to `/metrics`; without one, `/metrics`
    /// answers 404 (it shows the installation's activity, so it is never public by default).
    pub metrics_token: Option<Secret<String>>,
    /// Sign-in with a password (`PASSWORD_LOGIN`, on by default). Off, only single sign-on
    /// signs people in, and registration and password reset are closed with it.
    pub password_login: bool,
    /// Single sign-on through an OpenID Connect provider, when `OIDC_ISSUER` is set.
    pub oidc: Option<OidcConfig>,
}

/// The OpenID Connect provider DocuVault signs people in with (`OIDC_*`).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer identifier exactly as the provider writes it in tokens (a trailing slash
    /// matters); discovery is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE alone); sent with HTTP Basic otherwise.
    pub client_secret: Option<Secret<String>>,
    /// Space-separated; always includes `openid`.
    pub scopes: String,
    /// The provider's name on the sign-in button ("Sign in with …").
    pub display_name: String,
    /// Make an account for a person the provider vouches for and no account here has the email of.
    pub auto_create: bool,
    /// PEM certificates trusted besides the system's roots (a company CA).
    pub ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    pub from: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    StartTls,
    /// No encryption: only for a relay on loopback.
    None,
}

/// How workers process documents.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Jobs one worker process runs at once.
    pub concurrency: usize,
    /// A file the worker touches while its loop is alive, for `docuvault healthcheck --worker`
    /// (`WORKER_HEARTBEAT_FILE`; empty turns it off).
    pub heartbeat_file: Option<std::path::PathBuf>,
    /// How long a job may run before another worker may take it over (a killed worker's job).
    pub visibility: Duration,
    /// Attempts before a document ends `failed`.
    pub max_attempts: i32,
    /// The wait before the first retry; doubled for each further one (at most an hour).
    pub retry_base: Duration,
    /// Wall-clock bound on extracting one document's text.
    pub extract_timeout: Duration,
    /// Bytes of text kept from one document; a longer text is cut and marked truncated.
    pub extract_max_text_bytes: usize,
    /// Characters of extracted text sent to an AI provider (the rest is cut off).
    pub classify_max_chars: usize,
    /// Bound on one AI provider request.
    pub ai_timeout: Duration,
    /// Let every user's AI settings point at private addresses (loopback, LAN), not only
    /// admins' (`AI_ALLOW_PRIVATE_ENDPOINTS`).
    pub ai_allow_private: bool,
    /// OCR of images and scanned pages (`OCR_LANGUAGES`, `OCR_MAX_PAGES`); each page is bounded
    /// by `extract_timeout`.
    pub ocr: crate::pipeline::ocr::OcrConfig,
    /// The local classifier's embedding model (`MODEL_DIR`); without one there, the lexical
    /// classifier stands in.
    pub model_dir: std::path::PathBuf,
    /// When the semantic classifier assigns a topic (`CLASSIFY_MIN_SCORE`,
    /// `CLASSIFY_MIN_MARGIN`).
    pub classify: crate::pipeline::semantic::Thresholds,
}

/// Where the Docker image keeps the embedding model (scripts/model.sh puts it there).
pub const DEFAULT_MODEL_DIR: &str = "/usr/share/docuvault/models/all-minilm-l6-v2";

#[derive(Debug, Clone)]
pub struct DirectUploadConfig {
    /// How long a presigned upload's URLs work and its reservation holds quota
    /// (`PRESIGNED_UPLOAD_TTL_SECS`, 1 hour).
    pub ttl: Duration,
    /// Files larger than this are sent in parts of this size (`PRESIGNED_PART_BYTES`, 16 MiB;
    /// S3 needs at least 5 MiB).
    pub part_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: Secret<String>,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ObjectStoreConfig {
    pub endpoint: Url,
    /// Where browsers reach the same store (`S3_PUBLIC_ENDPOINT`), if not at `endpoint`:
    /// presigned URLs are signed for this host, since the signature covers it.
    pub public_endpoint: Option<Url>,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: Secret<String>,
}

pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8080";
/// Where a worker shows it is alive unless `WORKER_HEARTBEAT_FILE` says otherwise.
pub const DEFAULT_HEARTBEAT_FILE: &str = "/tmp/docuvault-worker.alive";
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
const MIN_SECRET_KEY_LEN: usize = 32;

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let database = DatabaseConfig {
            url: Secret::new(env.postgres_url("DATABASE_URL")?),
            max_connections: env.parse_or("DATABASE_MAX_CONNECTIONS", 10)?,
            // While PostgreSQL is down every request waits this long for its 503: short enough
            // that clients hear within 2 s (measured by `make test-faults`).
            acquire_timeout: Duration::from_millis(
                env.parse_or("DATABASE_ACQUIRE_TIMEOUT_MS", 1500)?,
            ),
        };
        let allow_http = env.parse_or("MINIO_ALLOW_HTTP", false)?;
        let object_store = ObjectStoreConfig {
            endpoint: env.s3_endpoint("MINIO_ENDPOINT", allow_http)?,
            public_endpoint: env.public_endpoint("S3_PUBLIC_ENDPOINT")?,
            region: env
                .optional("MINIO_REGION")
                .unwrap_or_else(|| "us-east-1".to_owned()),
            bucket: env.bucket("MINIO_BUCKET")?,
            access_key: env.required("MINIO_ACCESS_KEY")?,
            secret_key: Secret::new(env.required("MINIO_SECRET_KEY")?),
        };
        let redis_url = env.required("REDIS_URL")?;
        if !(redis_url.starts_with("redis://") || redis_url.starts_with("rediss://")) {
            return Err(env.problem("REDIS_URL", "must start with redis:// or rediss://"));
        }
        let secret_key = env.required("SECRET_KEY")?;
        if secret_key.len() < MIN_SECRET_KEY_LEN {
            return Err(env.problem(
                "SECRET_KEY",
                format!("must be at least {MIN_SECRET_KEY_LEN} characters (generate one with: openssl rand -base64 48)"),
            ));
        }
        let bind_addr = env.parse_or(
            "BIND_ADDR",
            DEFAULT_BIND_ADDR
                .parse()
                .map_err(|_| env.problem("BIND_ADDR", "bad default"))?,
        )?;
        let max_upload_bytes = env.parse_or("MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)?;
        if max_upload_bytes == 0 {
            return Err(env.problem("MAX_UPLOAD_BYTES", "must be greater than 0"));
        }
        let quota_default_bytes: i64 = env.parse_or("QUOTA_DEFAULT_BYTES", 104_857_600)?;
        if quota_default_bytes < 0 {
            return Err(env.problem("QUOTA_DEFAULT_BYTES", "must be 0 or more"));
        }
        let search_ranked_matches: i64 = env.parse_or("SEARCH_RANKED_MATCHES", 300)?;
        if !(1..=1_000_000).contains(&search_ranked_matches) {
            return Err(env.problem("SEARCH_RANKED_MATCHES", "must be between 1 and 1000000"));
        }
        let direct_uploads = DirectUploadConfig {
            ttl: Duration::from_secs(env.parse_or("PRESIGNED_UPLOAD_TTL_SECS", 3600)?),
            part_bytes: env.parse_or("PRESIGNED_PART_BYTES", 16 * 1024 * 1024)?,
        };
        // SigV4 signatures last at most 7 days.
        if !(60..=7 * 24 * 3600).contains(&direct_uploads.ttl.as_secs()) {
            return Err(env.problem(
                "PRESIGNED_UPLOAD_TTL_SECS",
                "must be between 60 and 604800 (7 days)",
            ));
        }
        if !(5 * 1024 * 1024..=5 * 1024 * 1024 * 1024).contains(&direct_uploads.part_bytes) {
            return Err(env.problem(
                "PRESIGNED_PART_BYTES",
                "must be between 5 MiB (5242880) and 5 GiB, the limits S3 sets on parts",
            ));
        }
        let redis_key_prefix = env
            .optional("REDIS_KEY_PREFIX")
            .unwrap_or_else(|| "docuvault".to_owned());
        if !redis_key_prefix
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b':' | b'.'))
        {
            return Err(env.problem(
                "REDIS_KEY_PREFIX",
                "may hold only a-z, 0-9, '-', '_', ':', '.'",
            ));
        }
        let pipeline = PipelineConfig {
            concurrency: env.parse_or("WORKER_CONCURRENCY", 2)?,
            // Read raw: set but empty means "off", which `optional` would read as unset.
            heartbeat_file: match (env.0)("WORKER_HEARTBEAT_FILE") {
                None => Some(std::path::PathBuf::from(DEFAULT_HEARTBEAT_FILE)),
                Some(path) if path.trim().is_empty() => None,
                Some(path) => Some(std::path::PathBuf::from(path)),
            },
            visibility: Duration::from_secs(env.parse_or("JOB_VISIBILITY_SECS", 300)?),
            max_attempts: env.parse_or("JOB_MAX_ATTEMPTS", 5)?,
            retry_base: Duration::from_millis(env.parse_or("JOB_RETRY_BASE_MS", 10_000)?),
            extract_timeout: Duration::from_secs(env.parse_or("EXTRACT_TIMEOUT_SECS", 60)?),
            extract_max_text_bytes: env.parse_or(
                "EXTRACT_MAX_TEXT_BYTES",
                crate::pipeline::extract::DEFAULT_MAX_TEXT_BYTES,
            )?,
            classify_max_chars: env.parse_or("AI_MAX_INPUT_CHARS", 12_000)?,
            ai_timeout: Duration::from_secs(env.parse_or("AI_TIMEOUT_SECS", 60)?),
            ai_allow_private: env.parse_or("AI_ALLOW_PRIVATE_ENDPOINTS", false)?,
            ocr: crate::pipeline::ocr::OcrConfig {
                // Read raw: set but empty means "off".
                languages: (env.0)("OCR_LANGUAGES")
                    .map_or_else(|| "eng+deu".to_owned(), |v| v.trim().to_owned()),
                max_pages: env.parse_or("OCR_MAX_PAGES", 20)?,
            },
            model_dir: std::path::PathBuf::from(
                env.optional("MODEL_DIR")
                    .unwrap_or_else(|| DEFAULT_MODEL_DIR.to_owned()),
            ),
            classify: crate::pipeline::semantic::Thresholds {
                min_score: env.parse_or("CLASSIFY_MIN_SCORE", 0.1)?,
                min_margin: env.parse_or("CLASSIFY_MIN_MARGIN", 0.02)?,
            },
        };
        for (var, value) in [
            ("CLASSIFY_MIN_SCORE", pipeline.classify.min_score),
            ("CLASSIFY_MIN_MARGIN", pipeline.classify.min_margin),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(env.problem(var, "must be between 0 and 1"));
            }
        }
        if !crate::pipeline::ocr::OcrConfig::languages_are_valid(&pipeline.ocr.languages) {
            return Err(env.problem(
                "OCR_LANGUAGES",
                "must be tesseract language codes joined by '+' (eng+deu), or empty for no OCR",
            ));
        }
        if pipeline.ocr.max_pages == 0 {
            return Err(env.problem("OCR_MAX_PAGES", "must be at least 1"));
        }
        if pipeline.concurrency == 0 {
            return Err(env.problem("WORKER_CONCURRENCY", "must be at least 1"));
        }
        if pipeline.extract_max_text_bytes == 0 {
            return Err(env.problem("EXTRACT_MAX_TEXT_BYTES", "must be at least 1"));
        }
        if pipeline.max_attempts < 1 {
            return Err(env.problem("JOB_MAX_ATTEMPTS", "must be at least 1"));
        }
        for (var, d) in [
            ("JOB_VISIBILITY_SECS", pipeline.visibility),
            ("EXTRACT_TIMEOUT_SECS", pipeline.extract_timeout),
            ("AI_TIMEOUT_SECS", pipeline.ai_timeout),
        ] {
            if d.is_zero() {
                return Err(env.problem(var, "must be at least 1"));
            }
        }
        let auth = auth_config(&env)?;
        let smtp = smtp_config(&env)?;
        let ai = ai_config(&env)?;
        let mail_ingest = MailIngestConfig {
            poll: Duration::from_secs(env.parse_or("MAIL_POLL_SECS", 300)?),
            allow_private: env.parse_or("MAIL_ALLOW_PRIVATE_ENDPOINTS", false)?,
            ca_file: env.optional("MAIL_CA_FILE").map(std::path::PathBuf::from),
        };
        if mail_ingest.poll.is_zero() {
            return Err(env.problem("MAIL_POLL_SECS", "must be at least 1"));
        }
        let secret_key_previous = env.optional("SECRET_KEY_PREVIOUS");
        if secret_key_previous.as_deref() == Some(secret_key.as_str()) {
            return Err(env.problem(
                "SECRET_KEY_PREVIOUS",
                "is the same as SECRET_KEY; it must be the key SECRET_KEY replaced",
            ));
        }
        Ok(Self {
            cloud: CloudConfig {
                allow_private: env.parse_or("CLOUD_ALLOW_PRIVATE_ENDPOINTS", false)?,
                onedrive: oauth_provider_config(&env, &ONEDRIVE_VARS)?,
                gdrive: oauth_provider_config(&env, &GDRIVE_VARS)?,
            },
            secret_key_previous: secret_key_previous.map(Secret::new),
            mail_ingest,
            auth,
            smtp,
            ai,
            database,
            object_store,
            redis_url: Secret::new(redis_url),
            secret_key: Secret::new(secret_key),
            bind_addr,
            max_upload_bytes,
            quota_default_bytes,
            direct_uploads,
            search_ranked_matches,
            redis_key_prefix,
            pipeline,
        })
    }
}

fn auth_config(env: &Env<'_>) -> Result<AuthConfig, ConfigError> {
    let public_url = env
        .optional("PUBLIC_URL")
        .unwrap_or_else(|| "http://localhost:8080".to_owned());
    let public_url = Url::parse(&public_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            env.problem(
                "PUBLIC_URL",
                "must be an http(s) URL such as https://vault.example.org",
            )
        })?;
    let cors_origins: Vec<String> = env
        .optional("CORS_ALLOWED_ORIGINS")
        .map(|v| {
            v.split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = cors_origins.iter().find(|o| {
        o.as_str() == "*" || Url::parse(o).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
    }) {
        return Err(env.problem(
            "CORS_ALLOWED_ORIGINS",
            format!("{bad:?} is not an origin such as https://app.example.org ('*' is refused)"),
        ));
    }
    let auth = AuthConfig {
        access_ttl: Duration::from_secs(env.parse_or("ACCESS_TOKEN_TTL_SECS", 900)?),
        refresh_ttl: Duration::from_secs(86_400 * env.parse_or("REFRESH_TOKEN_TTL_DAYS", 30u64)?),
        public_url,
        cookie_secure: env.parse_or("COOKIE_SECURE", true)?,
        cors_origins,
        allow_registration: env.parse_or("ALLOW_REGISTRATION", true)?,
        trust_proxy_headers: env.parse_or("TRUST_PROXY_HEADERS", false)?,
        rate_window: Duration::from_secs(env.parse_or("AUTH_RATE_WINDOW_SECS", 900)?),
        rate_per_account: env.parse_or("AUTH_RATE_MAX_PER_ACCOUNT", 10)?,
        rate_per_ip: env.parse_or("AUTH_RATE_MAX_PER_IP", 50)?,
        metrics_token: env.optional("METRICS_TOKEN").map(Secret::new),
        password_login: env.parse_or("PASSWORD_LOGIN", true)?,
        oidc: oidc_config(env)?,
    };
    if !auth.password_login && auth.oidc.is_none() {
        return Err(env.problem(
            "PASSWORD_LOGIN",
            "can only be false when single sign-on is set up (OIDC_ISSUER); nobody could sign in",
        ));
    }
    if auth
        .metrics_token
        .as_ref()
        .is_some_and(|t| t.expose().len() < 16)
    {
        return Err(env.problem(
            "METRICS_TOKEN",
            "must be at least 16 characters (generate one with: openssl rand -hex 24)",
        ));
    }
    for (var, zero) in [
        ("ACCESS_TOKEN_TTL_SECS", auth.access_ttl.is_zero()),
        ("REFRESH_TOKEN_TTL_DAYS", auth.refresh_ttl.is_zero()),
        ("AUTH_RATE_WINDOW_SECS", auth.rate_window.is_zero()),
        ("AUTH_RATE_MAX_PER_ACCOUNT", auth.rate_per_account == 0),
        ("AUTH_RATE_MAX_PER_IP", auth.rate_per_ip == 0),
    ] {
        if zero {
            return Err(env.problem(var, "must be at least 1"));
        }
    }
    Ok(auth)
}

/// The settings of one OAuth provider: `*_CLIENT_ID` turns it on; `*_CLIENT_SECRET` is
/// optional (a public client with PKCE needs none); `*_AUTH_URL`, `*_TOKEN_URL` and `*_API_URL`
/// default to the provider's own.
struct OAuthVars {
    client_id: &'static str,
    client_secret: &'static str,
    /// (variable, default) for the authorization, token and API URLs.
    urls: [(&'static str, &'static str); 3],
}

const ONEDRIVE_VARS: OAuthVars = OAuthVars {
    client_id: "ONEDRIVE_CLIENT_ID",
    client_secret: "ONEDRIVE_CLIENT_SECRET",
    urls: [
        (
            "ONEDRIVE_AUTH_URL",
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        ),
        (
            "ONEDRIVE_TOKEN_URL",
            "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        ),
        ("ONEDRIVE_API_URL", "https://graph.microsoft.com/v1.0"),
    ],
};

const GDRIVE_VARS: OAuthVars = OAuthVars {
    client_id: "GDRIVE_CLIENT_ID",
    client_secret: "GDRIVE_CLIENT_SECRET",
    urls: [
        (
            "GDRIVE_AUTH_URL",
            "https://accounts.google.com/o/oauth2/v2/auth",
        ),
        ("GDRIVE_TOKEN_URL", "https://oauth2.googleapis.com/token"),
        ("GDRIVE_API_URL", "https://www.googleapis.com"),
    ],
};

fn oauth_provider_config(
    env: &Env<'_>,
    vars: &OAuthVars,
) -> Result<Option<OAuthProviderConfig>, ConfigError> {
    let Some(client_id) = env.optional(vars.client_id).map(|c| c.trim().to_owned()) else {
        return Ok(None);
    };
    let url = |(name, default): (&'static str, &str)| -> Result<Url, ConfigError> {
        let raw = env.optional(name).unwrap_or_else(|| default.to_owned());
        Url::parse(raw.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none())
            .ok_or_else(|| env.problem(name, "must be an http(s) URL"))
    };
    let [auth, token, api] = vars.urls;
    Ok(Some(OAuthProviderConfig {
        client_id,
        client_secret: env.optional(vars.client_secret).map(Secret::new),
        auth_url: url(auth)?,
        token_url: url(token)?,
        api_url: url(api)?,
    }))
}

fn oidc_config(env: &Env<'_>) -> Result<Option<OidcConfig>, ConfigError> {
    let Some(raw) = env.optional("OIDC_ISSUER") else {
        return Ok(None);
    };
    let raw = raw.trim().to_owned();
    let issuer = Url::parse(&raw)
        .ok()
        .filter(|u| u.query().is_none() && u.fragment().is_none())
        .ok_or_else(|| {
            env.problem(
                "OIDC_ISSUER",
                "must be a URL such as https://id.example.org/realms/home",
            )
        })?;
    let loopback = match issuer.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    // OpenID Connect Discovery requires https; plain http is only for a provider on this host.
    if !(issuer.scheme() == "https" || issuer.scheme() == "http" && loopback) {
        return Err(env.problem(
            "OIDC_ISSUER",
            "must be an https URL (plain http only on loopback)",
        ));
    }
    let scopes = env
        .optional("OIDC_SCOPES")
        .unwrap_or_else(|| "openid email profile".to_owned());
    let scopes = scopes.split_whitespace().collect::<Vec<_>>().join(" ");
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(env.problem("OIDC_SCOPES", "must include openid"));
    }
    Ok(Some(OidcConfig {
        issuer: raw,
        client_id: env.required("OIDC_CLIENT_ID")?.trim().to_owned(),
        client_secret: env.optional("OIDC_CLIENT_SECRET").map(Secret::new),
        scopes,
        display_name: env
            .optional("OIDC_DISPLAY_NAME")
            .map_or_else(|| "single sign-on".to_owned(), |n| n.trim().to_owned()),
        auto_create: env.parse_or("OIDC_AUTO_CREATE", false)?,
        ca_file: env.optional("OIDC_CA_FILE").map(std::path::PathBuf::from),
    }))
}

fn ai_config(env: &Env<'_>) -> Result<AiConfig, ConfigError> {
    let provider = env
        .optional("AI_DEFAULT_PROVIDER")
        .unwrap_or_else(|| "local".to_owned());
    let api_key = env.optional("AI_DEFAULT_API_KEY");
    let parsed = docuvault_domain::AiSettingsUpdate::parse(
        &provider,
        env.optional("AI_DEFAULT_MODEL").as_deref(),
        env.optional("AI_DEFAULT_BASE_URL").as_deref(),
        api_key.as_deref().map(Some),
    )
    .map_err(|e| {
        let var = match e.code {
            "invalid_provider" => "AI_DEFAULT_PROVIDER",
            "invalid_model" => "AI_DEFAULT_MODEL",
            "invalid_base_url" => "AI_DEFAULT_BASE_URL",
            _ => "AI_DEFAULT_API_KEY",
        };
        env.problem(var, e.message)
    })?;
    Ok(AiConfig {
        default_provider: parsed.provider,
        default_model: parsed.model,
        default_base_url: parsed.base_url,
        default_api_key: parsed.api_key.flatten().map(Secret::new),
        self_service_default: env.parse_or("AI_SELF_SERVICE_DEFAULT", false)?,
    })
}

fn smtp_config(env: &Env<'_>) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(host) = env.optional("SMTP_HOST") else {
        return Ok(None);
    };
    let tls = match env.optional("SMTP_TLS").as_deref().unwrap_or("starttls") {
        "tls" => SmtpTls::Tls,
        "starttls" => SmtpTls::StartTls,
        "none" => SmtpTls::None,
        _ => return Err(env.problem("SMTP_TLS", "must be tls, starttls or none")),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls == SmtpTls::None && !loopback {
        return Err(env.problem(
            "SMTP_TLS",
            "none is only allowed for a relay on loopback: reset links must not cross a network in clear",
        ));
    }
    let default_port = match tls {
        SmtpTls::Tls => 465,
        SmtpTls::StartTls => 587,
        SmtpTls::None => 25,
    };
    Ok(Some(SmtpConfig {
        port: env.parse_or("SMTP_PORT", default_port)?,
        tls,
        username: env.optional("SMTP_USERNAME"),
        password: env.optional("SMTP_PASSWORD").map(Secret::new),
        from: env.required("SMTP_FROM")?,
        host,
    }))
}

/// Reads `DATABASE_MIGRATE_URL`, the only setting `docuvault migrate` needs.
pub fn migrate_url_from_env() -> Result<Secret<String>, ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok();
    Env(&lookup)
        .postgres_url("DATABASE_MIGRATE_URL")
        .map(Secret::new)
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn problem(&self, var: &'static str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            var,
            problem: problem.into(),
        }
    }

    fn optional(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var)
            .ok_or_else(|| self.problem(var, "is not set (see .env.example)"))
    }

    fn parse_or<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| {
                // Values of these variables are not secret, so naming them helps.
                self.problem(var, format!("cannot parse {raw:?}"))
            }),
        }
    }

    fn postgres_url(&self, var: &'static str) -> Result<String, ConfigError> {
        let raw = self.required(var)?;
        // Never echo the value: it carries a password.
        let url = Url::parse(&raw).map_err(|_| self.problem(var, "is not a valid URL"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(self.problem(var, "must be a postgres:// URL"));
        }
        Ok(raw)
    }

    fn s3_endpoint(&self, var: &'static str, allow_http: bool) -> Result<Url, ConfigError> {
        let raw = self.required(var)?;
        let url = Url::parse(&raw).map_err(|_| {
            self.problem(
                var,
                "must be an absolute URL such as https://s3.example.org or http://127.0.0.1:9000",
            )
        })?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err(self.problem(var, "has no host")),
        };
        match url.scheme() {
            "https" => Ok(url),
            "http" if loopback || allow_http => Ok(url),
            "http" => Err(self.problem(
                var,
                "plain http is only allowed on loopback; use https, or set MINIO_ALLOW_HTTP=true on a private network",
            )),
            _ => Err(self.problem(var, "must be an http(s) URL")),
        }
    }

    /// An http(s) origin with no path: a path prefix would be part of what the URL's signature
    /// covers, and a proxy that strips it would break every presigned URL.
    fn public_endpoint(&self, var: &'static str) -> Result<Option<Url>, ConfigError> {
        let Some(raw) = self.optional(var) else {
            return Ok(None);
        };
        let url = Url::parse(&raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                self.problem(var, "must be the URL browsers reach the store at, such as https://vault.example.org")
            })?;
        if url.path() != "/" || url.query().is_some() {
            return Err(self.problem(
                var,
                "must have no path: route /<bucket>/ on that host to the store instead (docs/deploy.md)",
            ));
        }
        Ok(Some(url))
    }

    fn bucket(&self, var: &'static str) -> Result<String, ConfigError> {
        let b = self.optional(var).unwrap_or_else(|| "docuvault".to_owned());
        let valid = (3..=63).contains(&b.len())
            && b.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
            && b.starts_with(|c: char| c.is_ascii_alphanumeric())
            && b.ends_with(|c: char| c.is_ascii_alphanumeric());
        valid.then_some(b).ok_or_else(|| {
            self.problem(
                var,
                "must be a valid S3 bucket name (3-63 of a-z, 0-9, '-', '.')",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                "DATABASE_URL",
                "postgres://app:pw@127.0.0.1:5432/docuvault".to_owned(),
            ),
            ("MINIO_ENDPOINT", "http://127.0.0.1:9000".to_owned()),
            ("MINIO_ACCESS_KEY", "app".to_owned()),
            ("MINIO_SECRET_KEY", "s3-secret-value".to_owned()),
            (
                "REDIS_URL",
                "redis://default:pw@127.0.0.1:6379/0".to_owned(),
            ),
            ("SECRET_KEY", "k".repeat(40)),
        ])
    }

    fn load(env: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn single_sign_on_settings_are_checked() {
        let var_of = |extra: &[(&'static str, &str)]| {
            let mut env = base();
            env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
            load(&env).err().map(|e| e.var)
        };
        assert_eq!(
            var_of(&[("PASSWORD_LOGIN", "false")]),
            Some("PASSWORD_LOGIN")
        );
        assert_eq!(
            var_of(&[("OIDC_ISSUER", "https://id.example.org")]),
            Some("OIDC_CLIENT_ID")
        );
        let ok = [("OIDC_CLIENT_ID", "dv"), ("PASSWORD_LOGIN", "false")];
        for (issuer, want) in [
            ("https://id.example.org/realms/home", None),
            ("http://127.0.0.1:9999", None),
            ("http://id.example.org", Some("OIDC_ISSUER")),
            ("https://id.example.org/?x=1", Some("OIDC_ISSUER")),
            ("not a url", Some("OIDC_ISSUER")),
        ] {
            let mut extra = ok.to_vec();
            extra.push(("OIDC_ISSUER", issuer));
            assert_eq!(var_of(&extra), want, "{issuer}");
        }
        let mut extra = ok.to_vec();
        extra.extend([
            ("OIDC_ISSUER", "https://id.example.org/"),
            ("OIDC_SCOPES", "email profile"),
        ]);
        assert_eq!(var_of(&extra), Some("OIDC_SCOPES"));
        let mut env = base();
        env.extend([
            ("OIDC_ISSUER", " https://id.example.org/ ".to_owned()),
            ("OIDC_CLIENT_ID", "dv".to_owned()),
        ]);
        let oidc = load(&env).unwrap().auth.oidc.unwrap();
        assert_eq!(
            oidc.issuer, "https://id.example.org/",
            "kept as written, trailing slash too"
        );
        assert_eq!(oidc.scopes, "openid email profile");
        assert!(!oidc.auto_create);
    }

    #[test]
    fn defaults_apply() {
        let c = load(&base()).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_upload_bytes, DEFAULT_MAX_UPLOAD_BYTES);
        assert_eq!(c.object_store.bucket, "docuvault");
    }

    #[test]
    fn each_missing_variable_is_named() {
        for var in [
            "DATABASE_URL",
            "MINIO_ENDPOINT",
            "MINIO_ACCESS_KEY",
            "MINIO_SECRET_KEY",
            "REDIS_URL",
            "SECRET_KEY",
        ] {
            let mut env = base();
            env.remove(var);
            let err = load(&env).err().map(|e| e.to_string()).unwrap_or_default();
            assert_eq!(
                err,
                format!("configuration error: {var}: is not set (see .env.example)")
            );
        }
    }

    #[test]
    fn malformed_values_are_named_without_leaking_secrets() {
        let cases = [
            ("MAX_UPLOAD_BYTES", "lots"),
            ("BIND_ADDR", "localhost"),
            ("DATABASE_URL", "mysql://u:supersecretpw@h/db"),
            ("MINIO_ENDPOINT", "http://s3.example.org"),
            ("MINIO_BUCKET", "Bad_Bucket"),
            ("SECRET_KEY", "short"),
            ("REDIS_URL", "http://x"),
            ("PUBLIC_URL", "vault.example.org"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example.org, not an origin",
            ),
            ("ACCESS_TOKEN_TTL_SECS", "0"),
            ("AUTH_RATE_MAX_PER_IP", "0"),
            ("METRICS_TOKEN", "short"),
            ("EXTRACT_MAX_TEXT_BYTES", "0"),
            ("QUOTA_DEFAULT_BYTES", "-1"),
            ("S3_PUBLIC_ENDPOINT", "https://vault.example.org/s3"),
            ("S3_PUBLIC_ENDPOINT", "vault.example.org"),
            ("AI_DEFAULT_PROVIDER", "skynet"),
            ("AI_DEFAULT_BASE_URL", "ftp://x"),
            ("AI_SELF_SERVICE_DEFAULT", "perhaps"),
        ];
        for (var, value) in cases {
            let mut env = base();
            env.insert(var, value.to_owned());
            let err = load(&env).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.starts_with(&format!("configuration error: {var}: ")),
                "{var}: {err}"
            );
            assert!(!err.contains("supersecretpw"), "{err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn new_settings_have_safe_defaults() {
        let c = load(&base()).unwrap();
        assert!(c.auth.metrics_token.is_none(), "/metrics is off by default");
        assert_eq!(c.pipeline.extract_max_text_bytes, 8 * 1024 * 1024);
        assert_eq!(c.quota_default_bytes, 104_857_600);
        assert!(c.object_store.public_endpoint.is_none());
        assert_eq!(
            c.ai.default_provider,
            docuvault_domain::AiProviderKind::Local
        );
        assert!(!c.ai.self_service_default, "the admin decides by default");
        assert_eq!(
            c.pipeline.heartbeat_file.as_deref(),
            Some(std::path::Path::new(DEFAULT_HEARTBEAT_FILE))
        );
        let mut env = base();
        env.insert("WORKER_HEARTBEAT_FILE", " ".to_owned());
        env.insert("S3_PUBLIC_ENDPOINT", "https://vault.example.org".to_owned());
        env.insert("AI_DEFAULT_PROVIDER", "openai".to_owned());
        env.insert("AI_DEFAULT_API_KEY", "sk-operator".to_owned());
        let c = load(&env).unwrap();
        assert!(c.pipeline.heartbeat_file.is_none());
        assert_eq!(
            c.object_store.public_endpoint.map(String::from).as_deref(),
            Some("https://vault.example.org/")
        );
        assert_eq!(
            c.ai.default_provider,
            docuvault_domain::AiProviderKind::OpenAi
        );
        assert!(!format!("{:?}", c.ai).contains("sk-operator"));
    }

    #[test]
    fn http_elsewhere_needs_an_explicit_opt_in() {
        let mut env = base();
        env.insert("MINIO_ENDPOINT", "http://minio:9000".to_owned());
        assert!(load(&env).is_err());
        env.insert("MINIO_ALLOW_HTTP", "true".to_owned());
        assert!(load(&env).is_ok());
    }

    #[test]
    fn smtp_is_optional_and_plaintext_only_on_loopback() {
        let mut env = base();
        assert!(load(&env).unwrap().smtp.is_none());
        env.insert("SMTP_HOST", "smtp.example.org".to_owned());
        assert_eq!(
            load(&env).err().map(|e| e.var),
            Some("SMTP_FROM"),
            "a sender is required"
        );
        env.insert("SMTP_FROM", "vault@example.org".to_owned());
        env.insert("SMTP_PASSWORD", "smtp-secret-value".to_owned());
        let c = load(&env).unwrap();
        let smtp = c.smtp.as_ref().unwrap();
        assert_eq!((smtp.tls, smtp.port), (SmtpTls::StartTls, 587));
        assert!(!format!("{c:?}").contains("smtp-secret-value"));
        env.insert("SMTP_TLS", "none".to_owned());
        assert_eq!(load(&env).err().map(|e| e.var), Some("SMTP_TLS"));
        env.insert("SMTP_HOST", "127.0.0.1".to_owned());
        assert_eq!(load(&env).unwrap().smtp.map(|s| s.port), Some(25));
    }

    #[test]
    fn auth_defaults() {
        let a = load(&base()).unwrap().auth;
        assert_eq!(a.access_ttl, Duration::from_secs(900));
        assert_eq!(a.refresh_ttl, Duration::from_secs(30 * 86_400));
        assert!(a.cookie_secure && a.allow_registration && !a.trust_proxy_headers);
        assert!(a.cors_origins.is_empty());
        assert_eq!((a.rate_per_account, a.rate_per_ip), (10, 50));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = load(&base()).map(|c| format!("{c:?}")).unwrap_or_default();
        assert!(c.contains("[redacted]"));
        for secret in ["pw@", "s3-secret-value", &"k".repeat(40)] {
            assert!(!c.contains(secret), "{secret} leaked in {c}");
        }
    }
}
