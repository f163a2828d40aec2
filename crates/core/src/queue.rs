//! The job queue: hands document ids to workers. It only delivers; PostgreSQL decides whether a
//! job may run (see `db::pipeline`), so a message delivered twice, late or never is harmless:
//! the claim ignores what is not due, and the sweeper re-publishes what was lost.
//!
//! The Redis implementation is a stream (`XADD`, trimmed) read by one consumer group; every
//! worker is a consumer. A message a killed worker read but never acknowledged is taken over
//! with `XAUTOCLAIM` once it has been idle for the visibility timeout. If Redis restarts
//! without its data, the group is made again on the next read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::streams::{StreamAutoClaimReply, StreamId, StreamInfoConsumersReply, StreamReadReply};
use uuid::Uuid;

use crate::error::{Dependency, Error, Result};
use crate::redis_client::RedisClient;

/// One delivered job.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The queue's own id for the message, for [`JobQueue::ack`].
    pub receipt: String,
    pub document_id: Uuid,
}

#[async_trait::async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    async fn publish(&self, document_id: Uuid) -> Result<()>;
    /// The next job for `consumer`: first one abandoned by another consumer for longer than
    /// the visibility timeout, else a new one, waiting up to `wait`. `None` if there is none.
    async fn next(&self, consumer: &str, wait: Duration) -> Result<Option<Delivery>>;
    /// The job is finished with (done, failed or handed back to PostgreSQL for a retry).
    async fn ack(&self, delivery: &Delivery) -> Result<()>;
    /// True once after the queue found it had lost its messages (Redis restarted empty): the
    /// caller then has every waiting job published again.
    fn take_lost(&self) -> bool {
        false
    }
    /// Forgets consumers (stopped workers) that hold no message and were idle for `idle`.
    async fn prune_consumers(&self, _idle: Duration) -> Result<usize> {
        Ok(0)
    }
}

const GROUP: &str = "workers";
const FIELD: &str = "document_id";
/// Roughly how many messages the stream keeps; acknowledged ones are of no further use.
const MAX_LEN: usize = 100_000;
/// Must stay below the connection's response timeout (2 s).
const MAX_BLOCK: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
pub struct RedisQueue {
    redis: RedisClient,
    /// Blocking reads get their own connection: on the shared one they would hold up every
    /// other command for as long as they block.
    reader: RedisClient,
    lost: Arc<AtomicBool>,
    visibility: Duration,
    /// `{REDIS_KEY_PREFIX}:jobs`: installations (and tests) sharing a Redis stay apart.
    stream: String,
}

impl RedisQueue {
    /// A queue for publishing only (the API).
    pub fn new(redis: RedisClient, key_prefix: &str, visibility: Duration) -> Self {
        Self::with_reader(redis.clone(), redis, key_prefix, visibility)
    }

    /// A queue for a worker: `reader` is a connection of its own for the blocking reads.
    pub fn with_reader(
        redis: RedisClient,
        reader: RedisClient,
        key_prefix: &str,
        visibility: Duration,
    ) -> Self {
        Self {
            redis,
            reader,
            lost: Arc::default(),
            visibility,
            stream: format!("{key_prefix}:jobs"),
        }
    }

    async fn ensure_group(&self) -> Result<()> {
        let mut conn = self.redis.connection();
        // From "0": after Redis lost its data, whatever was re-published since is read too.
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn reclaim(&self, consumer: &str) -> redis::RedisResult<Option<StreamId>> {
        let mut conn = self.redis.connection();
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(consumer)
            .arg(u64::try_from(self.visibility.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        Ok(reply.claimed.into_iter().next())
    }

    async fn read_new(
        &self,
        consumer: &str,
        wait: Duration,
    ) -> redis::RedisResult<Option<StreamId>> {
        let mut conn = self.reader.connection();
        let block = wait.min(MAX_BLOCK);
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(u64::try_from(block.as_millis()).unwrap_or(0).max(1))
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">")
            .query_async(&mut conn)
            .await?;
        Ok(reply
            .and_then(|r| r.keys.into_iter().next())
            .and_then(|k| k.ids.into_iter().next()))
    }

    async fn next_once(
        &self,
        consumer: &str,
        wait: Duration,
    ) -> redis::RedisResult<Option<StreamId>> {
        if let Some(entry) = self.reclaim(consumer).await? {
            return Ok(Some(entry));
        }
        self.read_new(consumer, wait).await
    }

    /// A message whose body is not a document id (written by something else) is dropped.
    async fn delivery(&self, entry: StreamId) -> Result<Option<Delivery>> {
        let id = entry
            .get::<String>(FIELD)
            .and_then(|s| Uuid::parse_str(&s).ok());
        match id {
            Some(document_id) => Ok(Some(Delivery {
                receipt: entry.id,
                document_id,
            })),
            None => {
                tracing::warn!(message_id = %entry.id, "dropping a malformed queue message");
                self.ack_id(&entry.id).await?;
                Ok(None)
            }
        }
    }

    async fn ack_id(&self, id: &str) -> Result<()> {
        let mut conn = self.redis.connection();
        redis::cmd("XACK")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(id)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

fn unavailable(e: redis::RedisError) -> Error {
    Error::unavailable(Dependency::Redis, e)
}

#[async_trait::async_trait]
impl JobQueue for RedisQueue {
    async fn publish(&self, document_id: Uuid) -> Result<()> {
        let mut conn = self.redis.connection();
        redis::cmd("XADD")
            .arg(&self.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_LEN)
            .arg("*")
            .arg(FIELD)
            .arg(document_id.to_string())
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn next(&self, consumer: &str, wait: Duration) -> Result<Option<Delivery>> {
        let entry = match self.next_once(consumer, wait).await {
            Ok(entry) => entry,
            // Redis came back empty (restart without persistence), or first use.
            Err(e) if e.code() == Some("NOGROUP") => {
                self.ensure_group().await?;
                self.lost.store(true, Ordering::SeqCst);
                self.next_once(consumer, wait).await.map_err(unavailable)?
            }
            Err(e) => return Err(unavailable(e)),
        };
        match entry {
            Some(entry) => self.delivery(entry).await,
            None => Ok(None),
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        self.ack_id(&delivery.receipt).await
    }

    fn take_lost(&self) -> bool {
        self.lost.swap(false, Ordering::SeqCst)
    }

    async fn prune_consumers(&self, idle: Duration) -> Result<usize> {
        // Every worker start is a new consumer name; without this the group lists every worker
        // that ever ran. One holding messages is left alone: XAUTOCLAIM takes those over.
        let mut conn = self.redis.connection();
        let info: StreamInfoConsumersReply = match redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&self.stream)
            .arg(GROUP)
            .query_async(&mut conn)
            .await
        {
            Ok(info) => info,
            Err(e) if e.code() == Some("NOGROUP") => return Ok(0),
            Err(e) => return Err(unavailable(e)),
        };
        let idle_ms = usize::try_from(idle.as_millis()).unwrap_or(usize::MAX);
        let mut pruned = 0;
        for c in info
            .consumers
            .iter()
            .filter(|c| c.pending == 0 && c.idle >= idle_ms)
        {
            redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(&c.name)
                .query_async::<i64>(&mut conn)
                .await
                .map_err(unavailable)?;
            pruned += 1;
        }
        Ok(pruned)
    }
}
