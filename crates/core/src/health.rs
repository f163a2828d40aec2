//! Probes of every dependency, run concurrently, each bounded so `/health` answers within 2 s
//! even when a dependency hangs instead of refusing.

use std::future::Future;
use std::time::Duration;

use crate::db;
use crate::services::Vault;

/// Each probe's budget; the three run at once, so the whole report takes about this long at most.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Ok,
    Down,
}

impl Probe {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Down => "down",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthReport {
    pub postgres: Probe,
    pub object_store: Probe,
    pub redis: Probe,
    /// The embedding model is in `MODEL_DIR`: the `local` provider classifies by meaning
    /// (else by matching words). Informational: it does not make the service unhealthy.
    pub semantic_model: bool,
}

impl HealthReport {
    pub fn is_ok(&self) -> bool {
        [self.postgres, self.object_store, self.redis]
            .iter()
            .all(|p| *p == Probe::Ok)
    }
}

async fn probe<F>(name: &'static str, check: F) -> Probe
where
    F: Future<Output = crate::Result<()>>,
{
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(())) => Probe::Ok,
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e.chain(), "health probe failed");
            Probe::Down
        }
        Err(_) => {
            tracing::warn!(
                dependency = name,
                timeout_ms = PROBE_TIMEOUT.as_millis() as u64,
                "health probe timed out"
            );
            Probe::Down
        }
    }
}

impl Vault {
    pub async fn health(&self) -> HealthReport {
        let (postgres, object_store, redis) = tokio::join!(
            probe("postgres", db::ping(&self.db)),
            probe("object_store", self.store.health()),
            probe("redis", self.redis.ping()),
        );
        HealthReport {
            postgres,
            object_store,
            redis,
            semantic_model: crate::pipeline::semantic::model_present(&self.model_dir),
        }
    }
}
