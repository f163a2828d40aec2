//! The worker: takes job deliveries from the queue and runs up to `concurrency` jobs at once,
//! while a sweeper hands PostgreSQL's due jobs to the queue (those whose publish failed, whose
//! retry came due, whose worker died, or whose message Redis lost).
//!
//! Shutdown stops taking jobs, lets running ones finish for a grace period, and gives back any
//! still running after it (they become `pending` again, due at once) — a stopped worker never
//! leaves a document waiting for its lease to expire.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{AttemptHook, Outcome, Pipeline};
use crate::ai::{AiClient, RetryPolicy};
use crate::crypto::Sealer;
use crate::db::object_cleanup as q_cleanup;
use crate::db::pipeline as q;
use crate::metrics::Metrics;
use crate::queue::{Delivery, JobQueue, RedisQueue};
use crate::redis_client::RedisClient;
use docuvault_domain::ObjectKey;

/// How long one read from the queue waits for a delivery.
const POLL: Duration = Duration::from_millis(1000);
/// Every this many sweeps (about 5 minutes), orphaned objects are deleted and consumers of
/// stopped workers are forgotten…
const PRUNE_EVERY: u64 = 150;
/// …once they have been idle this long and hold no message.
const PRUNE_IDLE: Duration = Duration::from_secs(3600);
/// How long a job slot rests after a job could not run at all (a dependency is down).
const FAILURE_PAUSE: Duration = Duration::from_secs(1);
/// How often a worker looks for mailboxes due a look (each is looked at every `MAIL_POLL_SECS`).
const MAIL_EVERY: Duration = Duration::from_secs(10);

/// Mail ingest's loop: the mailboxes that are due, one after another, until `stop`. A look in
/// progress when the worker stops is cut off; its message stays unmarked and is read again.
async fn read_mail_until(vault: crate::services::Vault, stop: CancellationToken) {
    let mut failing = false;
    loop {
        match crate::ingest::mail::check_due(&vault).await {
            Ok(_) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e.chain(), "cannot look for due mailboxes; retrying");
                }
                failing = true;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(MAIL_EVERY) => {}
        }
    }
}

/// How often the sweeper looks for due jobs.
const SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// OneDrive and Google Drive tokens are renewed when they run out within this (they last an
/// hour), checked every minute.
const RENEW_TOKENS_AHEAD: Duration = Duration::from_secs(600);
const RENEW_TOKENS_EVERY: Duration = Duration::from_secs(60);
/// How many orphaned objects one clean-up deletes.
const CLEANUP_BATCH: i64 = 100;
/// How long a clean-up holds the keys it took before another worker may take them.
const CLEANUP_LEASE: Duration = Duration::from_secs(600);
/// How long a completed presigned upload is remembered (completing it again answers its
/// document meanwhile).
const COMPLETED_UPLOADS_KEPT: Duration = Duration::from_secs(24 * 3600);
/// How many due jobs one sweep hands to the queue.
const SWEEP_BATCH: i64 = 500;

/// How long the job loop may go without a turn while it has a free slot before the worker no
/// longer calls itself alive (it turns at least once per queue poll, about every second).
const STALL_AFTER_SECS: u64 = 30;

/// What the sweeper checks before it touches the heartbeat file: the job loop took a turn
/// lately, or it is waiting only because every slot is busy with a job.
struct Liveness {
    slots: Arc<Semaphore>,
    turned: Arc<AtomicU64>,
}

impl Liveness {
    fn is_alive(&self) -> bool {
        self.slots.available_permits() == 0
            || unix_now().saturating_sub(self.turned.load(Ordering::Relaxed)) < STALL_AFTER_SECS
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sets the file's modification time to now (creating it if needed).
async fn touch(path: &std::path::Path) -> std::io::Result<()> {
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .await?;
    file.into_std()
        .await
        .set_modified(std::time::SystemTime::now())
}

/// The semantic classifier from `MODEL_DIR`, or `None` (said in the log) when it cannot be
/// loaded: owners whose provider is `local` then get the lexical classifier.
fn load_semantic(config: &crate::config::PipelineConfig) -> Option<super::semantic::Semantic> {
    match super::semantic::Semantic::load(&config.model_dir, config.classify) {
        Ok(semantic) => Some(semantic),
        Err(e) => {
            tracing::warn!(
                error = %e,
                model_dir = %config.model_dir.display(),
                "no embedding model: the local classifier falls back to matching words (lexical)"
            );
            None
        }
    }
}

/// What a `run_until_idle` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    pub classified: usize,
    pub failed: usize,
    pub retried: usize,
}

#[derive(Debug, Clone)]
pub struct Worker {
    pub(super) pipeline: Pipeline,
    queue: Arc<dyn JobQueue>,
    consumer: String,
    concurrency: usize,
    /// Documents this process is working on right now, with the attempt that holds each, to
    /// give back on shutdown.
    in_flight: Arc<Mutex<HashMap<Uuid, i32>>>,
    /// The services mail ingest stores attachments through and notifications are sent by
    /// (`None`: this worker reads no mail and sends no email).
    services: Option<crate::services::Vault>,
}

impl Worker {
    pub fn new(pipeline: Pipeline, queue: Arc<dyn JobQueue>, concurrency: usize) -> Self {
        // Unique per process start: a restarted worker must not inherit a dead one's deliveries
        // (those are taken over through the visibility timeout instead).
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        let consumer = format!(
            "{host}-{}-{}",
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            pipeline,
            queue,
            consumer,
            concurrency: concurrency.max(1),
            in_flight: Arc::default(),
            services: None,
        }
    }

    /// Also looks into users' connected mailboxes (mail ingest), storing through `vault`, and
    /// tells owners of failed documents who asked for it.
    pub fn with_services(mut self, vault: crate::services::Vault) -> Self {
        self.services = Some(vault);
        self
    }

    /// A worker with its own connections, as `docuvault worker` (or `serve --with-worker`) runs it.
    pub fn from_config(config: &crate::Config, application_name: &str) -> anyhow::Result<Self> {
        let redis = RedisClient::connect_lazy(&config.redis_url)?;
        let reader = RedisClient::connect_lazy(&config.redis_url)?;
        let db = crate::db::connect_lazy(&config.database, application_name)?;
        let store: Arc<dyn crate::storage::ObjectStore> =
            Arc::new(crate::storage::S3Store::new(&config.object_store)?);
        let pipeline = Pipeline {
            storage: crate::storage::Storage::new(
                Arc::clone(&store),
                db.clone(),
                Sealer::from_config(config),
                config,
            )?,
            db,
            store,
            ai: AiClient::new(
                Sealer::from_config(config),
                config.pipeline.ai_timeout,
                RetryPolicy::default(),
                config.pipeline.ai_allow_private,
                config.ai.clone(),
            )?,
            metrics: Metrics::new(redis.clone(), &config.redis_key_prefix),
            events: Arc::new(crate::events::RedisEvents::new(
                redis.clone(),
                &config.redis_key_prefix,
            )),
            semantic: load_semantic(&config.pipeline),
            ocr: super::ocr::Ocr::new(
                config.pipeline.ocr.clone(),
                config.pipeline.concurrency,
                config.pipeline.extract_timeout,
            ),
            config: config.pipeline.clone(),
            hook: None,
        };
        let queue = Arc::new(RedisQueue::with_reader(
            redis,
            reader,
            &config.redis_key_prefix,
            config.pipeline.visibility,
        ));
        let vault = crate::services::Vault::from_config(config, application_name)?;
        Ok(Self::new(pipeline, queue, config.pipeline.concurrency).with_services(vault))
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Runs `hook` at the start of every attempt. For tests only (to inject a panic).
    #[doc(hidden)]
    pub fn with_hook(mut self, hook: AttemptHook) -> Self {
        self.pipeline.hook = Some(hook);
        self
    }

    /// Works until `shutdown`, then drains for up to `grace`.
    pub async fn run(&self, shutdown: CancellationToken, grace: Duration) {
        tracing::info!(consumer = %self.consumer, concurrency = self.concurrency, "worker started");
        // Said once at the start, not at the first image.
        self.pipeline.ocr.state().await;
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let turned = Arc::new(AtomicU64::new(unix_now()));
        let sweeper = {
            let me = self.clone();
            let stop = shutdown.clone();
            let alive = Liveness {
                slots: Arc::clone(&slots),
                turned: Arc::clone(&turned),
            };
            tokio::spawn(async move { me.sweep_until(stop, alive).await })
        };
        let mover = {
            let me = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { me.move_until(stop).await })
        };
        let renewer = {
            let storage = self.pipeline.storage.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { renew_tokens_until(storage, stop).await })
        };
        let mail = self.services.clone().map(|vault| {
            let stop = shutdown.clone();
            tokio::spawn(async move { read_mail_until(vault, stop).await })
        });
        let mut jobs = JoinSet::new();
        let mut failing = false;
        loop {
            turned.store(unix_now(), Ordering::Relaxed);
            while let Some(done) = jobs.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a job task panicked");
                }
            }
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let next = tokio::select! {
                () = shutdown.cancelled() => break,
                next = self.queue.next(&self.consumer, POLL) => next,
            };
            self.after_read().await;
            match next {
                Ok(Some(delivery)) => {
                    failing = false;
                    let me = self.clone();
                    jobs.spawn(async move {
                        let id = delivery.document_id;
                        // `process` catches a panic of the attempt itself; this catches one in
                        // the bookkeeping around it, so the job is not left in `in_flight`
                        // (and given back later although this process no longer holds it).
                        if AssertUnwindSafe(me.handle(delivery))
                            .catch_unwind()
                            .await
                            .is_err()
                        {
                            tracing::error!(document_id = %id, "a job task panicked");
                            me.untrack(id);
                        }
                        drop(permit);
                    });
                }
                Ok(None) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e.chain(), "cannot read the job queue; retrying");
                    }
                    failing = true;
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        tracing::info!(
            running = jobs.len(),
            "worker stopping: finishing running jobs"
        );
        let drained =
            tokio::time::timeout(grace, async { while jobs.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            jobs.abort_all();
            while jobs.join_next().await.is_some() {}
            self.give_back().await;
        }
        sweeper.abort();
        // A move cut off here is taken up again after its lease (see `moves`).
        mover.abort();
        renewer.abort();
        if let Some(mail) = mail {
            mail.abort();
        }
        tracing::info!("worker stopped");
    }

    /// Runs jobs one at a time until no document is waiting: every pending job (retries
    /// included, as they come due) has ended `classified` or `failed`. For tests and
    /// `docuvault worker --once`.
    pub async fn run_until_idle(&self) -> crate::Result<RunStats> {
        let mut stats = RunStats::default();
        loop {
            self.pipeline
                .storage
                .refresh_expiring(RENEW_TOKENS_AHEAD)
                .await?;
            self.run_due_moves().await?;
            self.sweep(self.pipeline.config.visibility).await?;
            let mut worked = false;
            while let Some(delivery) = self
                .queue
                .next(&self.consumer, Duration::from_millis(100))
                .await?
            {
                self.after_read().await;
                let outcome = self.pipeline.run_job(delivery.document_id).await?;
                self.queue.ack(&delivery).await?;
                match outcome {
                    Outcome::Classified => stats.classified += 1,
                    Outcome::Failed => {
                        stats.failed += 1;
                        if let Some(services) = &self.services {
                            services.notify_document_failed(delivery.document_id).await;
                        }
                    }
                    Outcome::Retried => stats.retried += 1,
                    Outcome::Skipped | Outcome::Lost => continue,
                }
                worked = true;
            }
            self.after_read().await;
            let (waiting, next_due) = q::waiting(&self.pipeline.db).await?;
            if waiting == 0 {
                return Ok(stats);
            }
            if !worked {
                // Due jobs whose messages are not in the queue for us: publish them again
                // (a duplicate is skipped by the claim), then wait for the next one to come due.
                self.sweep(Duration::ZERO).await?;
                let wait = next_due
                    .map(|t| (t - chrono::Utc::now()).to_std().unwrap_or_default())
                    .unwrap_or_default()
                    .clamp(Duration::from_millis(20), Duration::from_secs(1));
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn handle(&self, delivery: Delivery) {
        let id = delivery.document_id;
        let result = match self.pipeline.claim(id).await {
            Ok(Some(job)) => {
                self.track(id, job.attempts);
                let outcome = self.pipeline.process(job).await;
                self.untrack(id);
                if let (Ok(Outcome::Failed), Some(services)) = (&outcome, &self.services) {
                    services.notify_document_failed(id).await;
                }
                outcome
            }
            Ok(None) => Ok(Outcome::Skipped),
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => {
                if let Err(e) = self.queue.ack(&delivery).await {
                    // Redelivered after the visibility timeout and skipped then: harmless.
                    tracing::warn!(document_id = %id, error = %e.chain(), "cannot acknowledge a job");
                }
            }
            Err(e) => {
                // PostgreSQL is unreachable, so nothing was recorded. Put the job at the back of
                // the queue instead of leaving it with this consumer until the visibility
                // timeout (minutes), and slow down: this slot reads again only after a pause.
                tracing::warn!(document_id = %id, error = %e.chain(), "job could not run; queued again");
                let requeued = match self.queue.publish(id).await {
                    Ok(()) => self.queue.ack(&delivery).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = requeued {
                    tracing::warn!(document_id = %id, error = %e.chain(), "cannot queue the job again; it is taken over after the visibility timeout");
                }
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
        }
    }

    fn track(&self, id: Uuid, attempt: i32) {
        if let Ok(mut held) = self.in_flight.lock() {
            held.insert(id, attempt);
        }
    }

    fn untrack(&self, id: Uuid) {
        if let Ok(mut held) = self.in_flight.lock() {
            held.remove(&id);
        }
    }

    /// After Redis lost its data, every waiting job must be published again.
    async fn after_read(&self) {
        if self.queue.take_lost()
            && let Err(e) = q::forget_published(&self.pipeline.db).await
        {
            tracing::warn!(error = %e.chain(), "cannot mark jobs for re-publishing");
        }
    }

    async fn give_back(&self) {
        let held: Vec<(Uuid, i32)> = self
            .in_flight
            .lock()
            .map(|held| held.iter().map(|(id, a)| (*id, *a)).collect())
            .unwrap_or_default();
        if held.is_empty() {
            return;
        }
        match q::release(&self.pipeline.db, &held).await {
            Ok(n) => tracing::info!(released = n, "gave unfinished jobs back to the queue"),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "cannot give jobs back; they are taken over when their lease expires")
            }
        }
    }

    /// Moves documents between backends as owners asked, one at a time (a move is bounded by
    /// the network, not the CPU), apart from the jobs so a large move holds up no processing.
    async fn move_until(&self, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match self.run_due_moves().await {
                Ok(_) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e.chain(), "cannot take storage moves; retrying");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(SWEEP_INTERVAL) => {}
            }
        }
    }

    async fn sweep_until(&self, stop: CancellationToken, alive: Liveness) {
        let mut failing = false;
        let mut sweeps: u64 = 0;
        loop {
            sweeps += 1;
            if let Some(path) = &self.pipeline.config.heartbeat_file
                && alive.is_alive()
                && let Err(e) = touch(path).await
            {
                tracing::debug!(error = %e, path = %path.display(), "cannot write the heartbeat file");
            }
            if sweeps % PRUNE_EVERY == 1 {
                match self.queue.prune_consumers(PRUNE_IDLE).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(pruned = n, "forgot the queue consumers of stopped workers")
                    }
                    Err(e) => tracing::debug!(error = %e.chain(), "cannot prune queue consumers"),
                }
                if let Err(e) = self.release_expired_uploads().await {
                    tracing::debug!(error = %e.chain(), "cannot release expired uploads now");
                }
                if let Err(e) = self.clean_up_objects().await {
                    tracing::debug!(error = %e.chain(), "cannot clean up orphaned objects now");
                }
                if let Err(e) = crate::db::sessions::prune_expired(&self.pipeline.db).await {
                    tracing::debug!(error = %e.chain(), "cannot prune expired sign-in tokens now");
                }
            }
            match self.sweep(self.pipeline.config.visibility).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(published = n, "sweeper published due jobs");
                    }
                    failing = false;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e.chain(), "sweep failed; retrying");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(SWEEP_INTERVAL) => {}
            }
        }
    }

    /// Gives back the quota of presigned uploads whose reservation expired before they were
    /// completed, and makes their objects due for [`clean_up_objects`](Self::clean_up_objects);
    /// forgets completed ones after a day. Returns how many reservations it released.
    pub async fn release_expired_uploads(&self) -> crate::Result<usize> {
        let db = &self.pipeline.db;
        let mut released = 0;
        loop {
            let batch = crate::db::uploads::release_expired(db, CLEANUP_BATCH).await?;
            released += batch.len();
            if batch.len() < usize::try_from(CLEANUP_BATCH).unwrap_or(usize::MAX) {
                break;
            }
        }
        if released > 0 {
            tracing::info!(released, "released expired upload reservations");
        }
        crate::db::uploads::prune_completed(db, COMPLETED_UPLOADS_KEPT).await?;
        Ok(released)
    }

    /// Deletes the objects of uploads whose process died before it recorded the document, of
    /// deleted documents and of released presigned uploads (see `db::object_cleanup`): the
    /// object first (and the multipart upload it was still being sent in), then its entry, so
    /// a crash in between only means the (idempotent) delete runs again. Returns how many.
    pub async fn clean_up_objects(&self) -> crate::Result<usize> {
        let db = &self.pipeline.db;
        let orphans = q_cleanup::take_due_orphans(db, CLEANUP_BATCH, CLEANUP_LEASE).await?;
        for orphan in &orphans {
            // On error the store is unreachable: this key and the rest come due again after
            // the lease.
            let key = ObjectKey::from_stored(orphan.object_key.clone());
            if let Some(upload_id) = &orphan.multipart_id {
                self.pipeline.store.abort_multipart(&key, upload_id).await?;
            }
            // The locator says which backend (DocuVault's store, or a person's cloud). A cloud
            // server that is down holds up only its own entries (due again after the lease);
            // DocuVault's store being down stops the batch, as every entry would fail.
            if let Err(e) = self.pipeline.storage.delete(key.as_str()).await {
                if crate::storage::Location::parse(key.as_str())
                    .connection()
                    .is_none()
                {
                    return Err(e);
                }
                tracing::warn!(object_key = %key, error = %e.chain(), "cannot delete a file in a cloud now; trying again later");
                continue;
            }
            q_cleanup::forget(db, key.as_str()).await?;
            tracing::info!(object_key = %key, "deleted an object no document claims");
        }
        Ok(orphans.len())
    }

    /// Hands due, unpublished jobs to the queue; those it could not hand over stay unpublished.
    async fn sweep(&self, republish_after: Duration) -> crate::Result<usize> {
        let db = &self.pipeline.db;
        let ids = q::take_unpublished(db, SWEEP_BATCH, republish_after).await?;
        for (n, id) in ids.iter().enumerate() {
            if let Err(e) = self.queue.publish(*id).await {
                q::unpublish(db, &ids[n..]).await?;
                return Err(e);
            }
        }
        Ok(ids.len())
    }
}

/// Renews cloud connections' OAuth tokens before they run out, so a request or a job rarely
/// meets an expired one (a drive renews one that expired anyway).
async fn renew_tokens_until(storage: crate::storage::Storage, stop: CancellationToken) {
    loop {
        if let Err(e) = storage.refresh_expiring(RENEW_TOKENS_AHEAD).await {
            tracing::warn!(error = %e.chain(), "cannot renew cloud tokens; retrying");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RENEW_TOKENS_EVERY) => {}
        }
    }
}
