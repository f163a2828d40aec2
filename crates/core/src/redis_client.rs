//! The shared Redis connection. Connected lazily and reconnected by the `ConnectionManager`, so
//! the API starts, answers 503 and recovers by itself while Redis is down. Rate limits (accounts
//! issue) and the job queue (pipeline issue) build on this handle.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::Secret;
use crate::error::{Dependency, Error, Result};

#[derive(Clone)]
pub struct RedisClient {
    client: redis::Client,
    manager: ConnectionManager,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisClient")
    }
}

impl RedisClient {
    /// Builds the client without connecting; the first command connects.
    pub fn connect_lazy(url: &Secret<String>) -> anyhow::Result<Self> {
        let client = redis::Client::open(url.expose().as_str())
            // The redis crate's parse errors do not include the URL, so the password stays out.
            .context("REDIS_URL is not a valid Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("cannot create the Redis connection manager")?;
        Ok(Self { client, manager })
    }

    /// A clone of the multiplexed connection (cheap; all clones share one socket).
    pub fn connection(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// A connection of its own for subscriptions (a subscribed connection can do nothing else).
    pub async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        self.client.get_async_pubsub().await
    }

    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.connection();
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::unavailable(Dependency::Redis, e))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(Error::unavailable(
                Dependency::Redis,
                anyhow::anyhow!("PING answered {pong:?}"),
            ))
        }
    }
}
