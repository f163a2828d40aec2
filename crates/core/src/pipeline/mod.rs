//! The processing pipeline: one job per document — fetch the bytes, extract the text, classify
//! it into the owner's topics, store the result. PostgreSQL holds the job's state
//! (`db::pipeline`); the queue only delivers ids (`queue`); [`worker`] runs jobs in a loop.
//!
//! A job is idempotent: it replaces the document's text and topics as a whole, and every write
//! is fenced by the attempt that claimed the document, so running it twice, or a taken-over
//! worker finishing late, leaves the same final state.

mod child;
pub mod extract;
mod moves;
pub mod ocr;
mod office;
pub mod semantic;
pub mod thumbnail;
pub mod worker;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tracing::Instrument;
use uuid::Uuid;

use crate::ai::{AiClient, TopicChoice};
use crate::config::PipelineConfig;
use crate::db::PgPool;
use crate::db::pipeline::{self as q, Claimed};
use crate::events::{Change, DocumentEvent, EventBus};
use crate::metrics::Metrics;
use crate::storage::ObjectStore;
use docuvault_domain::text::truncate_chars;
use docuvault_domain::{FileKind, ObjectKey};

/// Why an attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Trying again will not help (a damaged file, a rejected API key): the document fails now.
    #[error("{0}")]
    Permanent(String),
    /// A dependency was down or slow: the job is retried with backoff, up to the attempt limit.
    #[error("{0}")]
    Transient(String),
}

impl JobError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient(message.into())
    }

    /// A transient error whose cause is for operators only: `detail` (an error chain, an S3
    /// body, a tool's stderr) goes to the log, inside the job's span; the document shows
    /// `reason`, a sentence its owner can read.
    pub fn internal(reason: &str, detail: impl std::fmt::Display) -> Self {
        tracing::warn!(detail = %detail, reason, "attempt failed");
        Self::Transient(reason.to_owned())
    }
}

impl From<crate::Error> for JobError {
    fn from(e: crate::Error) -> Self {
        use crate::error::Dependency;
        match e {
            crate::Error::NotFound(_) => {
                Self::Permanent("the document's file is missing from storage".into())
            }
            crate::Error::Unavailable {
                dependency: Dependency::ObjectStore,
                ..
            } => Self::internal("the storage could not be reached", e.chain()),
            // The owner's own server: they can act on the reason (it names the connection and
            // what went wrong, never a credential).
            crate::Error::Unavailable {
                dependency: Dependency::CloudStorage,
                source,
            } => Self::transient(format!(
                "your cloud storage could not be reached: {source:#}"
            )),
            crate::Error::Conflict {
                code: "cloud_credentials_refused" | "cloud_storage_refused",
                message,
            } => Self::transient(message),
            crate::Error::Unavailable { .. } => {
                Self::internal("a service DocuVault needs was unavailable", e.chain())
            }
            other => Self::internal("an internal error interrupted processing", other.chain()),
        }
    }
}

/// What a successful attempt found.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    pub text: String,
    /// The text was cut at the extraction bound.
    pub truncated: bool,
    /// Pages whose text came from OCR.
    pub ocr_pages: usize,
    /// Topics assigned by the classifier, with its score when it gives one.
    pub topics: Vec<(Uuid, Option<f32>)>,
    /// The classifier's best guesses when it assigned none, best first.
    pub suggestions: Vec<(Uuid, f32)>,
    /// The document's embedding and the model that made it.
    pub embedding: Option<(String, Vec<f32>)>,
    /// Where the first page's thumbnail was stored, if one was made.
    pub thumbnail_key: Option<String>,
}

/// How long a stored thumbnail may wait for its document's result before a worker deletes it.
const THUMBNAIL_ORPHAN_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// The longest error a document shows (a provider's message can be long).
const MAX_REASON_CHARS: usize = 500;

/// What became of one delivered job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Classified,
    Failed,
    /// Handed back for a later attempt.
    Retried,
    /// Not due, already done, or held by another worker: nothing to do.
    Skipped,
    /// The attempt was overtaken (its lease expired and another worker took the document).
    Lost,
}

impl Outcome {
    /// The document's status after this outcome, if the outcome changed it.
    const fn status(self) -> Option<&'static str> {
        match self {
            Self::Classified => Some("classified"),
            Self::Failed => Some("failed"),
            Self::Retried => Some("pending"),
            Self::Skipped | Self::Lost => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Classified => "classified",
            Self::Failed => "failed",
            Self::Retried => "retried",
            Self::Skipped => "skipped",
            Self::Lost => "lost",
        }
    }
}

/// Runs inside an attempt, before anything else; only tests set it (to make an attempt panic,
/// say). Production code never does.
pub type AttemptHook = Arc<dyn Fn(&Claimed) + Send + Sync>;

/// Everything a job needs; shared by a worker's concurrent jobs.
#[derive(Clone)]
pub struct Pipeline {
    pub db: PgPool,
    /// DocuVault's own store: thumbnails, and abandoned uploads to clean up.
    pub store: Arc<dyn ObjectStore>,
    /// Where each document's bytes are (its own store or its owner's cloud).
    pub storage: crate::storage::Storage,
    pub ai: AiClient,
    pub metrics: Metrics,
    pub config: PipelineConfig,
    /// Reads images and scanned pages; its `tesseract` processes are shared by all the jobs.
    pub ocr: ocr::Ocr,
    /// The semantic classifier, used for owners whose provider is `local`; `None` when the
    /// model could not be loaded (then the lexical one is used, as the log and `/health` say).
    pub semantic: Option<semantic::Semantic>,
    /// Where status changes are told to the owner's open app tabs.
    pub events: Arc<dyn EventBus>,
    #[doc(hidden)]
    pub hook: Option<AttemptHook>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Claims and runs the job for `document_id` if it is due.
    pub async fn run_job(&self, document_id: Uuid) -> crate::Result<Outcome> {
        match self.claim(document_id).await? {
            Some(job) => self.process(job).await,
            None => Ok(Outcome::Skipped),
        }
    }

    /// Takes the document if it is due (or its worker's lease expired).
    pub async fn claim(&self, document_id: Uuid) -> crate::Result<Option<Claimed>> {
        let claimed = q::claim(&self.db, document_id, self.config.visibility).await?;
        if let Some(job) = &claimed {
            self.tell(job, "processing").await;
        }
        Ok(claimed)
    }

    async fn tell(&self, job: &Claimed, status: &str) {
        self.events
            .publish(
                job.user_id,
                DocumentEvent {
                    document_id: job.id,
                    change: Change::Updated,
                    status: Some(status.to_owned()),
                },
            )
            .await;
    }

    /// Runs a claimed job and records its result, fenced by the claim's attempt. A panic in the
    /// attempt is caught and counts as a failed attempt, like an error. Every log line inside
    /// carries the document id and the attempt.
    pub async fn process(&self, job: Claimed) -> crate::Result<Outcome> {
        let span = tracing::info_span!("job", document_id = %job.id, attempt = job.attempts);
        async {
            let started = Instant::now();
            let outcome = if job.failures >= self.config.max_attempts {
                // The earlier attempts all died with their worker (killed, out of memory, hung):
                // this document must not take down another one.
                let reason = format!(
                    "gave up after {} attempts: {}",
                    job.failures,
                    job.error.as_deref().unwrap_or("processing never finished")
                );
                tracing::warn!(reason, "document failed");
                self.fenced(
                    q::fail(&self.db, job.id, job.attempts, &reason).await?,
                    Outcome::Failed,
                )
            } else {
                let result = AssertUnwindSafe(self.attempt_with_lease(&job))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| {
                        tracing::error!(panic = panic_message(&panic), "the attempt panicked");
                        Err(JobError::transient(
                            "processing crashed on an internal error",
                        ))
                    });
                self.record(&job, result).await?
            };
            if let Some(status) = outcome.status() {
                self.tell(&job, status).await;
            }
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(outcome = outcome.as_str(), seconds = secs, "job finished");
            self.metrics.record_job(outcome.as_str(), secs).await;
            Ok(outcome)
        }
        .instrument(span)
        .await
    }

    fn fenced(&self, done: bool, outcome: Outcome) -> Outcome {
        if done { outcome } else { Outcome::Lost }
    }

    /// The attempt, with its lease renewed while it runs so that a slow but live job is not
    /// taken over.
    async fn attempt_with_lease(&self, job: &Claimed) -> Result<Processed, JobError> {
        let lease = self.config.visibility;
        let renew = async {
            let mut tick = tokio::time::interval(lease / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = q::extend_lease(&self.db, job.id, job.attempts, lease).await {
                    tracing::warn!(error = %e.chain(), "cannot renew the job's lease");
                }
            }
        };
        tokio::select! {
            result = self.attempt(job) => result,
            () = renew => Err(JobError::transient("the lease renewal stopped")),
        }
    }

    async fn attempt(&self, job: &Claimed) -> Result<Processed, JobError> {
        if let Some(hook) = &self.hook {
            hook(job);
        }
        let mut done = match self.kept(job).await? {
            Some(kept) => kept,
            None => self.extract(job).await?,
        };
        self.classify(job, &mut done).await?;
        Ok(done)
    }

    /// The text an earlier attempt extracted, when this job only classifies again.
    async fn kept(&self, job: &Claimed) -> Result<Option<Processed>, JobError> {
        if !job.text_ready {
            return Ok(None);
        }
        let Some(kept) = q::kept_text(&self.db, job.id).await? else {
            return Ok(None);
        };
        let Some(text) = kept.extracted_text else {
            return Ok(None);
        };
        tracing::debug!("classifying the text extracted before");
        Ok(Some(Processed {
            text,
            truncated: kept.text_truncated,
            ocr_pages: usize::try_from(kept.ocr_pages).unwrap_or(0),
            topics: Vec::new(),
            suggestions: Vec::new(),
            embedding: None,
            thumbnail_key: kept.thumbnail_key,
        }))
    }

    /// Fetches the document's bytes and extracts its text (and thumbnail).
    async fn extract(&self, job: &Claimed) -> Result<Processed, JobError> {
        let kind = FileKind::from_mime(&job.content_type).ok_or_else(|| {
            JobError::Permanent(format!("unsupported content type {}", job.content_type))
        })?;
        let body = self.storage.get_stream(&job.object_key).await?;
        let extracted = extract::extract(
            kind,
            body,
            &self.ocr,
            self.config.extract_timeout,
            self.config.extract_max_text_bytes,
        )
        .await?;
        tracing::debug!(
            bytes = extracted.text.len(),
            truncated = extracted.truncated,
            ocr_pages = extracted.ocr_pages,
            "text extracted"
        );
        let thumbnail_key = match extracted.thumbnail {
            Some(png) => {
                let key = match crate::storage::Location::parse(&job.object_key) {
                    crate::storage::Location::Vault(key) => {
                        ObjectKey::from_stored(key.to_owned()).thumbnail()
                    }
                    crate::storage::Location::Cloud { .. } => {
                        ObjectKey::thumbnail_for(job.user_id, job.id)
                    }
                };
                self.store_thumbnail(key, png).await
            }
            None => None,
        };
        Ok(Processed {
            text: extracted.text,
            truncated: extracted.truncated,
            ocr_pages: extracted.ocr_pages,
            topics: Vec::new(),
            suggestions: Vec::new(),
            embedding: None,
            thumbnail_key,
        })
    }

    /// Classifies the text into the owner's topics: with the semantic classifier when the
    /// owner's provider is `local` and the model is loaded, else with the owner's provider.
    async fn classify(&self, job: &Claimed, done: &mut Processed) -> Result<(), JobError> {
        let provider = self.ai.for_owner(&self.db, job.user_id).await?;
        if let (true, Some(semantic)) = (provider.is_local(), &self.semantic) {
            let verdict = semantic.classify(&self.db, job.user_id, &done.text).await?;
            done.topics = verdict
                .assigned
                .into_iter()
                .map(|(id, score)| (id, Some(score)))
                .collect();
            done.suggestions = verdict.suggestions;
            done.embedding = Some((semantic.model().to_owned(), verdict.embedding));
            return Ok(());
        }
        let topics = q::topics_of(&self.db, job.user_id).await?;
        if topics.is_empty() {
            return Ok(());
        }
        let choices: Vec<TopicChoice<'_>> = topics
            .iter()
            .map(|t| TopicChoice {
                name: &t.name,
                description: &t.description,
            })
            .collect();
        let input = truncate_chars(&done.text, self.config.classify_max_chars);
        let picked = provider.classify(input, &choices).await?;
        done.topics = picked
            .into_iter()
            .filter_map(|i| topics.get(i))
            .map(|t| (t.id, None))
            .collect();
        Ok(())
    }

    /// Stores a thumbnail beside the document's bytes; its key, or `None` if it could not be
    /// stored (the document does not need one). Put on the clean-up list first, like an
    /// upload: `finish` claims it, and if the document is gone by then a worker deletes it.
    async fn store_thumbnail(&self, key: ObjectKey, png: Vec<u8>) -> Option<String> {
        let stored = async {
            crate::db::object_cleanup::schedule(&self.db, key.as_str(), THUMBNAIL_ORPHAN_AFTER)
                .await?;
            let chunk: crate::Result<bytes::Bytes> = Ok(bytes::Bytes::from(png));
            let body = futures::StreamExt::boxed(futures::stream::iter([chunk]));
            self.store.put_stream(&key, "image/png", body).await
        };
        match stored.await {
            Ok(_) => Some(key.as_str().to_owned()),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "the thumbnail could not be stored");
                None
            }
        }
    }

    /// Writes the attempt's result; a transient error becomes a retry until the attempts run out.
    async fn record(
        &self,
        job: &Claimed,
        result: Result<Processed, JobError>,
    ) -> crate::Result<Outcome> {
        let (done, outcome) = match result {
            Ok(done) => (
                q::finish(&self.db, job.id, job.attempts, &done).await?,
                Outcome::Classified,
            ),
            Err(JobError::Permanent(reason)) => {
                let reason = truncate_chars(&reason, MAX_REASON_CHARS);
                tracing::warn!(reason, "document failed");
                (
                    q::fail(&self.db, job.id, job.attempts, reason).await?,
                    Outcome::Failed,
                )
            }
            // This failure is the last one allowed.
            Err(JobError::Transient(reason)) if job.failures + 1 >= self.config.max_attempts => {
                let reason = format!(
                    "gave up after {} attempts: {}",
                    job.failures + 1,
                    truncate_chars(&reason, MAX_REASON_CHARS)
                );
                tracing::warn!(reason, "document failed");
                (
                    q::fail(&self.db, job.id, job.attempts, &reason).await?,
                    Outcome::Failed,
                )
            }
            Err(JobError::Transient(reason)) => {
                let reason = truncate_chars(&reason, MAX_REASON_CHARS);
                let delay = backoff(self.config.retry_base, job.failures + 1, job.id);
                tracing::info!(
                    reason,
                    retry_in_ms = delay.as_millis() as u64,
                    "attempt failed; will retry"
                );
                (
                    q::retry_later(&self.db, job.id, job.attempts, reason, delay).await?,
                    Outcome::Retried,
                )
            }
        };
        Ok(self.fenced(done, outcome))
    }
}

/// The message a panic carried, if it is text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// `base · 2^(attempt-1)`, at most an hour, spread by up to ±20 % (from the document id and
/// attempt, so workers retrying many documents at once do not stampede).
pub fn backoff(base: Duration, attempt: i32, id: Uuid) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let raw = base
        .saturating_mul(1u32 << exp)
        .min(Duration::from_secs(3600));
    let spread = (id.as_u128() as u64 ^ u64::from(exp).wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 41;
    raw.mul_f64(0.8 + spread as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        let id = Uuid::new_v4();
        let base = Duration::from_secs(10);
        let first = backoff(base, 1, id);
        assert!(first >= Duration::from_secs(8) && first <= Duration::from_secs(12));
        let third = backoff(base, 3, id);
        assert!(third >= Duration::from_secs(32) && third <= Duration::from_secs(48));
        assert!(backoff(base, 40, id) <= Duration::from_secs(4320));
    }
}
