//! The operations the API performs, on [`Vault`]: everything needed to
//! serve one request, cheap to clone, no per-instance state that matters.

pub mod accounts;
pub mod admin;
pub mod api_tokens;
pub mod cloud;
pub mod cloud_oauth;
pub mod documents;
pub mod folders;
pub mod mail_accounts;
pub mod notify;
pub mod password_reset;
pub mod preview;
pub mod search;
pub mod secrets;
pub mod settings;
pub mod shares;
pub mod sso;
pub mod topics;
pub mod totp;
pub mod uploads;

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::{Passwords, RateLimiter, TokenKeys};
use crate::config::AuthConfig;
use crate::crypto::Sealer;
use crate::db::PgPool;
use crate::events::{Change, DocumentEvent, EventBus, RedisEvents};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::queue::{JobQueue, RedisQueue};
use crate::redis_client::RedisClient;
use crate::storage::ObjectStore;

#[derive(Clone, Debug)]
pub struct Vault {
    pub db: PgPool,
    /// DocuVault's own store (presigned transfers, thumbnails).
    pub store: Arc<dyn ObjectStore>,
    /// Every backend a document may be kept in, the own store included.
    pub storage: crate::storage::Storage,
    pub redis: RedisClient,
    /// Where new jobs are published (the upload's document row is the job itself).
    pub queue: Arc<dyn JobQueue>,
    /// Where changes to documents are told to their owner's open app tabs.
    pub events: Arc<dyn EventBus>,
    pub metrics: Metrics,
    pub sealer: Sealer,
    pub max_upload_bytes: u64,
    /// The quota a new account starts with.
    pub quota_default_bytes: i64,
    /// Presigned uploads' expiry and part size.
    pub direct_uploads: crate::config::DirectUploadConfig,
    /// How many matches, the newest, a search ranks.
    pub search_ranked_matches: i64,
    /// Where the workers' embedding model is (`MODEL_DIR`), for `/health` to say which local
    /// classifier they use.
    pub model_dir: std::path::PathBuf,
    /// Queues this process's changes of one user's quota row (see [`QuotaGates`]).
    pub quota_gates: QuotaGates,
    pub passwords: Passwords,
    pub tokens: TokenKeys,
    pub limiter: RateLimiter,
    pub mailer: Arc<dyn Mailer>,
    pub auth: AuthConfig,
    /// Every user may point AI settings at private addresses, not only admins.
    pub ai_allow_private: bool,
    /// The instance's AI default and policy.
    pub ai: crate::config::AiConfig,
    pub mail_ingest: crate::config::MailIngestConfig,
    /// The OpenID Connect provider, when single sign-on is set up.
    pub oidc: Option<Arc<crate::auth::oidc::OidcClient>>,
    /// Namespaces this installation's keys in a shared Redis.
    pub redis_key_prefix: String,
}

impl Vault {
    /// Wires the services from configuration. Connects nothing yet: PostgreSQL and Redis are
    /// reached on first use, so a process started while a dependency is down still answers
    /// (503) and recovers by itself.
    pub fn from_config(config: &crate::Config, application_name: &str) -> anyhow::Result<Self> {
        let redis = RedisClient::connect_lazy(&config.redis_url)?;
        let sealer = Sealer::from_config(config);
        let db = crate::db::connect_lazy(&config.database, application_name)?;
        let store: Arc<dyn ObjectStore> =
            Arc::new(crate::storage::S3Store::new(&config.object_store)?);
        Ok(Self {
            storage: crate::storage::Storage::new(
                Arc::clone(&store),
                db.clone(),
                sealer.clone(),
                config,
            )?,
            passwords: Passwords::new(),
            tokens: TokenKeys::new(&sealer, config.auth.access_ttl),
            limiter: RateLimiter::new(redis.clone(), &config.redis_key_prefix),
            mailer: crate::mail::from_config(config.smtp.as_ref())?,
            auth: config.auth.clone(),
            ai_allow_private: config.pipeline.ai_allow_private,
            ai: config.ai.clone(),
            mail_ingest: config.mail_ingest.clone(),
            db,
            store,
            queue: Arc::new(RedisQueue::new(
                redis.clone(),
                &config.redis_key_prefix,
                config.pipeline.visibility,
            )),
            metrics: Metrics::new(redis.clone(), &config.redis_key_prefix),
            events: Arc::new(RedisEvents::new(redis.clone(), &config.redis_key_prefix)),
            redis,
            sealer,
            max_upload_bytes: config.max_upload_bytes,
            quota_default_bytes: config.quota_default_bytes,
            direct_uploads: config.direct_uploads.clone(),
            search_ranked_matches: config.search_ranked_matches,
            model_dir: config.pipeline.model_dir.clone(),
            quota_gates: QuotaGates::default(),
            oidc: config
                .auth
                .oidc
                .clone()
                .map(|c| crate::auth::oidc::OidcClient::new(c, &config.auth.public_url))
                .transpose()?
                .map(Arc::new),
            redis_key_prefix: config.redis_key_prefix.clone(),
        })
    }
}

impl Vault {
    /// Tells the owner's open app tabs that a document changed (best effort, bounded).
    pub(crate) async fn tell(&self, owner: Uuid, id: Uuid, change: Change, status: Option<&str>) {
        self.events
            .publish(
                owner,
                DocumentEvent {
                    document_id: id,
                    change,
                    status: status.map(str::to_owned),
                },
            )
            .await;
    }
}

/// Cuts a page read with one row more than `limit` (which tells whether there is a next page
/// without a COUNT) back to `limit` rows; the last row kept when there is a next page, for its
/// cursor.
pub(crate) fn cut_page<T>(rows: &mut Vec<T>, limit: i64) -> Option<&T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last()
}

/// Striped locks that queue, inside one process, the statements that change the same user's
/// quota row. PostgreSQL serialises them anyway (the row lock, held until commit); queueing
/// here first means a burst of one user's uploads waits in memory holding one pooled
/// connection, instead of holding every connection of the pool while blocked on the row —
/// which starved everyone else's requests (503 after the acquire timeout) in a test of 50
/// concurrent uploads. 64 stripes: two users share one only by chance, and then only wait a
/// statement's length for each other.
#[derive(Debug, Clone)]
pub struct QuotaGates(Arc<Vec<tokio::sync::Mutex<()>>>);

impl Default for QuotaGates {
    fn default() -> Self {
        Self(Arc::new(
            (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
        ))
    }
}

impl QuotaGates {
    pub async fn enter(&self, user: Uuid) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = (user.as_u128() % self.0.len() as u128) as usize;
        self.0[stripe].lock().await
    }
}
