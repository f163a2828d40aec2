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
