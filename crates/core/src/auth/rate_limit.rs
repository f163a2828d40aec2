//! Fixed-window attempt counters in Redis, shared by every API process. Keys hold a hash of
//! what they count (an address, an account), never the value itself.
//!
//! Two uses: `hit` counts every attempt and refuses once over the limit (per client address);
//! `check` + `record_failure` refuse only after that many failures (per account, so a person
//! who types their password right is never locked out by their own successful logins).

use std::time::Duration;

use redis::Script;

use crate::error::{Dependency, Error, Result};
use crate::redis_client::RedisClient;

#[derive(Clone, Debug)]
pub struct RateLimiter {
    redis: RedisClient,
    prefix: String,
}

/// Increments and returns (count, milliseconds until the window ends).
const INCR_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

fn redis_down(e: redis::RedisError) -> Error {
    Error::unavailable(Dependency::Redis, e)
}

fn retry_after(ttl_ms: i64) -> Error {
    Error::RateLimited {
        retry_after_secs: u64::try_from(ttl_ms.max(1)).unwrap_or(1).div_ceil(1000),
    }
}

impl RateLimiter {
    pub fn new(redis: RedisClient, key_prefix: &str) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}:rl"),
        }
    }

    fn key(&self, bucket: &str, subject: &str) -> String {
        format!("{}:{bucket}:{}", self.prefix, super::token_hash(subject))
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<(i64, i64)> {
        let mut conn = self.redis.connection();
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        Script::new(INCR_SCRIPT)
            .key(key)
            .arg(window_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_down)
    }

    /// Counts an attempt; `RateLimited` once more than `limit` were made in the window.
    pub async fn hit(
        &self,
        bucket: &str,
        subject: &str,
        limit: u32,
        window: Duration,
    ) -> Result<()> {
        let (n, ttl) = self.incr(&self.key(bucket, subject), window).await?;
        if n > i64::from(limit) {
            return Err(retry_after(ttl));
        }
        Ok(())
    }

    /// `RateLimited` if `limit` failures were already recorded in the window.
    pub async fn check(&self, bucket: &str, subject: &str, limit: u32) -> Result<()> {
        let mut conn = self.redis.connection();
        let (n, ttl): (Option<i64>, i64) = redis::pipe()
            .get(self.key(bucket, subject))
            .pttl(self.key(bucket, subject))
            .query_async(&mut conn)
            .await
            .map_err(redis_down)?;
        if n.unwrap_or(0) >= i64::from(limit) {
            return Err(retry_after(ttl));
        }
        Ok(())
    }

    /// Records a failure; returns the count in the current window.
    pub async fn record_failure(
        &self,
        bucket: &str,
        subject: &str,
        window: Duration,
    ) -> Result<i64> {
        Ok(self.incr(&self.key(bucket, subject), window).await?.0)
    }

    /// Forgets the failures (after a successful login).
    pub async fn clear(&self, bucket: &str, subject: &str) -> Result<()> {
        let mut conn = self.redis.connection();
        redis::cmd("DEL")
            .arg(self.key(bucket, subject))
            .query_async::<i64>(&mut conn)
            .await
            .map_err(redis_down)?;
        Ok(())
    }
}
