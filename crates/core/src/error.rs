//! The one error type of DocuVault's services. Client mistakes carry a stable snake_case code;
//! an unavailable dependency is named; anything else is internal and kept opaque by the API.

use docuvault_domain::ValidationError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The dependencies DocuVault needs, as named in `/health` and in 503 errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Postgres,
    ObjectStore,
    Redis,
    /// The OpenID Connect provider single sign-on goes through.
    IdentityProvider,
    /// A person's own cloud storage (a WebDAV server, Nextcloud) holding their documents.
    CloudStorage,
}

impl Dependency {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::ObjectStore => "object_store",
            Self::Redis => "redis",
            Self::IdentityProvider => "identity_provider",
            Self::CloudStorage => "cloud_storage",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A value broke a domain rule (422).
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// No valid credentials: missing, expired, forged or revoked (401).
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// Authenticated, but not allowed: a non-admin on an admin route, a missing CSRF token (403).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// Too many attempts; try again after `retry_after_secs` (429).
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The thing does not exist, or is not the caller's to see (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change clashes with existing state (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// An upload is larger than allowed (413).
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// An upload does not fit in what is left of its owner's quota (413).
    #[error("storage quota exceeded: {used} of {limit} bytes used, and this file needs {needed}")]
    QuotaExceeded { used: i64, limit: i64, needed: u64 },
    /// The content is not a type we accept, or not the type it claims to be (415).
    #[error("{message}")]
    UnsupportedType { code: &'static str, message: String },
    /// A dependency is down or too slow (503).
    #[error("{} is unavailable", .dependency.as_str())]
    Unavailable {
        dependency: Dependency,
        #[source]
        source: anyhow::Error,
    },
    /// A bug or an unexpected answer: logged with its context, answered as an opaque 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// The error and every cause on one line, for logs (no backtrace, no secrets: sources never
    /// carry credentials).
    pub fn chain(&self) -> String {
        match self {
            Self::Unavailable { dependency, source } => {
                format!("{}: {source:#}", dependency.as_str())
            }
            Self::Internal(e) => format!("{e:#}"),
            other => other.to_string(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn unavailable(dependency: Dependency, source: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable {
            dependency,
            source: source.into(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // Connection trouble means PostgreSQL is down or overloaded: 503, not 500.
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            // A peer that accepts and then hangs up mid-handshake (a restarting server or pooler)
            // surfaces as a protocol error.
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Self::unavailable(Dependency::Postgres, e),
            sqlx::Error::Database(ref db)
                if db.code().is_some_and(|c| c.starts_with("08") || c == "57P01" || c == "57P03") =>
            {
                Self::unavailable(Dependency::Postgres, e)
            }
            // Text PostgreSQL cannot hold (a NUL character, 22021; or one the database encoding
            // lacks, 22P05) came from the request: the client's mistake, not a server error.
            sqlx::Error::Database(ref db)
                if db.code().is_some_and(|c| c == "22021" || c == "22P05") =>
            {
                Self::bad_request(
                    "invalid_text",
                    "text may not contain NUL characters (U+0000)",
                )
            }
            other => Self::Internal(anyhow::Error::new(other).context("database query failed")),
        }
    }
}

/// The name of the constraint a query violated, if that is why it failed.
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
