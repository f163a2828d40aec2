//! Changes to a user's documents, told to their open app tabs as they happen (`GET
//! /api/events`), whichever API or worker process made them.
//!
//! Behind a small trait; the Redis implementation publishes each change on the owner's channel
//! (`{REDIS_KEY_PREFIX}:events:{user_id}`), and every API process holds one pattern
//! subscription for all of them and fans the events out in memory to its open streams. Events
//! are hints, not the record: publishing is best effort with a short bound, a subscriber that
//! falls behind or a subscription that had to reconnect gets [`Event::Resync`] ("fetch again"),
//! and the app polls while its stream is down. PostgreSQL stays the truth.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::redis_client::RedisClient;

/// What happened to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

/// One change to one of a user's documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentEvent {
    pub document_id: Uuid,
    pub change: Change,
    /// The document's status after the change (none for a deletion).
    pub status: Option<String>,
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Document(DocumentEvent),
    /// Events may have been missed: fetch what is shown again.
    Resync,
}

#[async_trait::async_trait]
pub trait EventBus: Send + Sync + std::fmt::Debug {
    /// Tells `user`'s subscribers, wherever they are connected. Returns at once and never
    /// fails the caller: events leave in order, and one that cannot be sent is lost (the apps'
    /// polling catches up).
    async fn publish(&self, user: Uuid, event: DocumentEvent);

    /// The events of `user`'s documents from now on.
    fn subscribe(&self, user: Uuid) -> BoxStream<'static, Event>;
}

/// How long one publish may take before the next event's turn.
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(300);
/// Events waiting for Redis, per process, before new ones are dropped.
const OUTBOX_CAPACITY: usize = 4096;
/// Events buffered per process for subscribers that are slow to read.
const FANOUT_CAPACITY: usize = 1024;

#[derive(Debug, Clone)]
struct Envelope {
    /// `None`: for every subscriber (a resync after the subscription reconnected).
    user: Option<Uuid>,
    event: Event,
}

#[derive(Debug, Clone)]
pub struct RedisEvents {
    redis: RedisClient,
    /// `{REDIS_KEY_PREFIX}:events:`
    channel_prefix: String,
    fanout: broadcast::Sender<Envelope>,
    listening: Arc<AtomicBool>,
    /// Events on their way to Redis, sent in order by one task (see [`Self::outbox`]).
    outbox: Arc<OnceLock<mpsc::Sender<(Uuid, DocumentEvent)>>>,
}

impl RedisEvents {
    pub fn new(redis: RedisClient, key_prefix: &str) -> Self {
        Self {
            redis,
            channel_prefix: format!("{key_prefix}:events:"),
            fanout: broadcast::channel(FANOUT_CAPACITY).0,
            listening: Arc::new(AtomicBool::new(false)),
            outbox: Arc::new(OnceLock::new()),
        }
    }

    /// The queue of events to publish, and the one task that publishes them in order (started
    /// with the first event): a request or job hands its event over and goes on, whether Redis
    /// answers in a millisecond, slowly, or not at all.
    fn outbox(&self) -> &mpsc::Sender<(Uuid, DocumentEvent)> {
        self.outbox.get_or_init(|| {
            let (tx, mut rx) = mpsc::channel::<(Uuid, DocumentEvent)>(OUTBOX_CAPACITY);
            let redis = self.redis.clone();
            let prefix = self.channel_prefix.clone();
            tokio::spawn(async move {
                while let Some((user, event)) = rx.recv().await {
                    send(&redis, &prefix, user, &event).await;
                }
            });
            tx
        })
    }

    /// The one pattern subscription of this process, started by the first subscriber and kept
    /// up (reconnecting with a growing pause) for as long as the process runs.
    fn ensure_listening(&self) {
        if self.listening.swap(true, Ordering::AcqRel) {
            return;
        }
        let redis = self.redis.clone();
        let prefix = self.channel_prefix.clone();
        let fanout = self.fanout.clone();
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(200);
            loop {
                match listen(&redis, &prefix, &fanout).await {
                    Ok(()) => {
                        pause = Duration::from_millis(200);
                        tracing::debug!("event subscription ended; reconnecting");
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot subscribe to events now")
                    }
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        });
    }
}

/// Subscribes and forwards until the connection ends. Once subscribed, every subscriber is told
/// to resync: what was published before (the first subscriber's first moments, or while the
/// connection was down) was not heard.
async fn listen(
    redis: &RedisClient,
    prefix: &str,
    fanout: &broadcast::Sender<Envelope>,
) -> anyhow::Result<()> {
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), redis.pubsub())
        .await
        .map_err(|_| anyhow::anyhow!("connecting timed out"))??;
    pubsub.psubscribe(format!("{prefix}*")).await?;
    let _ = fanout.send(Envelope {
        user: None,
        event: Event::Resync,
    });
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let user = msg
            .get_channel_name()
            .strip_prefix(prefix)
            .and_then(|u| Uuid::parse_str(u).ok());
        let event = serde_json::from_slice::<DocumentEvent>(msg.get_payload_bytes()).ok();
        if let (Some(user), Some(event)) = (user, event) {
            // No receiver is not an error: nobody is watching right now.
            let _ = fanout.send(Envelope {
                user: Some(user),
                event: Event::Document(event),
            });
        }
    }
    Ok(())
}

/// Publishes one event on its owner's channel, waiting at most [`PUBLISH_TIMEOUT`].
async fn send(redis: &RedisClient, prefix: &str, user: Uuid, event: &DocumentEvent) {
    let Ok(payload) = serde_json::to_string(event) else {
        return;
    };
    let mut conn = redis.connection();
    let sent = tokio::time::timeout(
        PUBLISH_TIMEOUT,
        redis::cmd("PUBLISH")
            .arg(format!("{prefix}{user}"))
            .arg(payload)
            .query_async::<i64>(&mut conn),
    )
    .await;
    match sent {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "cannot publish a document event"),
        Err(_) => tracing::debug!("publishing a document event timed out"),
    }
}

#[async_trait::async_trait]
impl EventBus for RedisEvents {
    async fn publish(&self, user: Uuid, event: DocumentEvent) {
        // A full outbox means Redis has been unreachable for a while: the event is dropped
        // (the apps poll meanwhile) rather than held up or piled up in memory.
        if self.outbox().try_send((user, event)).is_err() {
            tracing::debug!("event outbox full; a document event was dropped");
        }
    }

    fn subscribe(&self, user: Uuid) -> BoxStream<'static, Event> {
        self.ensure_listening();
        let rx = self.fanout.subscribe();
        futures::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(Envelope { user: Some(u), .. }) if u != user => continue,
                    Ok(envelope) => return Some((envelope.event, rx)),
                    // Too slow to keep up: some of this user's events may be among the missed.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Some((Event::Resync, rx));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }
}
