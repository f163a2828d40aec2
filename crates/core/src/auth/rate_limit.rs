//! Fixed-window attempt counters in Redis, shared by every API process. Keys hold a hash of
//! what they count (an address, an account), never the value itself.
//!
//! Two uses: `hit` counts every attempt and refuses once over the limit (per client address);
//! `reserve` + `give_back` limit failures (per account): an attempt takes one of the window's
//! allowance atomically *before* the password is checked — so concurrent guesses cannot all
//! pass a check made before any of them was counted — and a successful one gives it back, so a
//! person who types their password right is never locked out by their own logins.

use std::time::Duration;

use redis::Script;

use crate::error::{Dependency, Error, Result};
use crate::redis_client::RedisClient;

#[derive(Clone, Debug)]
pub struct RateLimiter {
    redis: RedisClient,
    prefix: String,
}

/// Takes one unit of the allowance (ARGV[2]) unless it is used up; returns (count after, ms
/// until the window ends), count 0 when refused (nothing taken).
const RESERVE_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if n > tonumber(ARGV[2]) then
  redis.call('DECR', KEYS[1])
  return {0, ttl}
end
return {n, ttl}
";

/// Returns one unit, never going below zero.
const GIVE_BACK_SCRIPT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
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

    /// Counts an attempt; `RateLimited` once `limit` were made in the window.
    pub async fn hit(
        &self,
        bucket: &str,
        subject: &str,
        limit: u32,
        window: Duration,
    ) -> Result<()> {
        self.reserve(bucket, subject, limit, window).await.map(drop)
    }

    /// Takes one of `limit` attempts allowed in the window, atomically, before the attempt is
    /// made; `RateLimited` (nothing taken) when they are used up. Returns how many are taken
    /// now, this one included.
    pub async fn reserve(
        &self,
        bucket: &str,
        subject: &str,
        limit: u32,
        window: Duration,
    ) -> Result<i64> {
        let mut conn = self.redis.connection();
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let (n, ttl): (i64, i64) = Script::new(RESERVE_SCRIPT)
            .key(self.key(bucket, subject))
            .arg(window_ms)
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_down)?;
        if n == 0 {
            return Err(retry_after(ttl));
        }
        Ok(n)
    }

    /// Returns an attempt taken by [`Self::reserve`] that turned out not to be a failure.
    pub async fn give_back(&self, bucket: &str, subject: &str) -> Result<()> {
        let mut conn = self.redis.connection();
        Script::new(GIVE_BACK_SCRIPT)
            .key(self.key(bucket, subject))
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(redis_down)?;
        Ok(())
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
