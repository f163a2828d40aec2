//! The operations the API (and later the worker) performs, on [`Vault`]: everything needed to
//! serve one request, cheap to clone, no per-instance state that matters.

pub mod documents;
pub mod settings;
pub mod topics;

use std::sync::Arc;

use crate::crypto::Sealer;
use crate::db::PgPool;
use crate::redis_client::RedisClient;
use crate::storage::ObjectStore;

#[derive(Clone, Debug)]
pub struct Vault {
    pub db: PgPool,
    pub store: Arc<dyn ObjectStore>,
    pub redis: RedisClient,
    pub sealer: Sealer,
    pub max_upload_bytes: u64,
}

impl Vault {
    /// Wires the services from configuration. Connects nothing yet: PostgreSQL and Redis are
    /// reached on first use, so a process started while a dependency is down still answers
    /// (503) and recovers by itself.
    pub fn from_config(config: &crate::Config, application_name: &str) -> anyhow::Result<Self> {
        Ok(Self {
            db: crate::db::connect_lazy(&config.database, application_name)?,
            store: Arc::new(crate::storage::S3Store::new(&config.object_store)?),
            redis: RedisClient::connect_lazy(&config.redis_url)?,
            sealer: Sealer::new(&config.secret_key),
            max_upload_bytes: config.max_upload_bytes,
        })
    }
}
