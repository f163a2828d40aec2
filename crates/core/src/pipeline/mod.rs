//! The processing pipeline: one job per document — fetch the bytes, extract the text, classify
//! it into the owner's topics, store the result. PostgreSQL holds the job's state
//! (`db::pipeline`); the queue only delivers ids (`queue`); [`worker`] runs jobs in a loop.
//!
//! A job is idempotent: it replaces the document's text and topics as a whole, and every write
//! is fenced by the attempt that claimed the document, so running it twice, or a taken-over
//! worker finishing late, leaves the same final state.

pub mod extract;
pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use uuid::Uuid;

use crate::ai::{AiClient, TopicChoice};
use crate::config::PipelineConfig;
use crate::db::PgPool;
use crate::db::pipeline::{self as q, Claimed};
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
}

impl From<crate::Error> for JobError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::NotFound(_) => {
                Self::Permanent("the document's file is missing from the object store".into())
            }
            other => Self::Transient(other.chain()),
        }
    }
}

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

/// Everything a job needs; shared by a worker's concurrent jobs.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub db: PgPool,
    pub store: Arc<dyn ObjectStore>,
    pub ai: AiClient,
    pub metrics: Metrics,
    pub config: PipelineConfig,
}

impl Pipeline {
    /// Runs the job for `document_id` if it is due. Every log line inside carries the document
    /// id and the attempt.
    pub async fn run_job(&self, document_id: Uuid) -> crate::Result<Outcome> {
        let Some(job) = q::claim(&self.db, document_id, self.config.visibility).await? else {
            return Ok(Outcome::Skipped);
        };
        let span = tracing::info_span!("job", document_id = %job.id, attempt = job.attempts);
        async {
            let started = Instant::now();
            let result = self.attempt_with_lease(&job).await;
            let outcome = self.record(&job, result).await?;
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(outcome = outcome.as_str(), seconds = secs, "job finished");
            self.metrics.record_job(outcome.as_str(), secs).await;
            Ok(outcome)
        }
        .instrument(span)
        .await
    }

    /// The attempt, with its lease renewed while it runs so that a slow but live job is not
    /// taken over.
    async fn attempt_with_lease(&self, job: &Claimed) -> Result<(String, Vec<Uuid>), JobError> {
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

    async fn attempt(&self, job: &Claimed) -> Result<(String, Vec<Uuid>), JobError> {
        let kind = FileKind::from_mime(&job.content_type).ok_or_else(|| {
            JobError::Permanent(format!("unsupported content type {}", job.content_type))
        })?;
        let key = ObjectKey::from_stored(job.object_key.clone());
        let body = self.store.get_stream(&key).await?;
        let text = extract::extract(kind, body, self.config.extract_timeout).await?;
        tracing::debug!(chars = text.chars().count(), "text extracted");
        let topics = q::topics_of(&self.db, job.user_id).await?;
        if topics.is_empty() {
            return Ok((text, Vec::new()));
        }
        let choices: Vec<TopicChoice<'_>> = topics
            .iter()
            .map(|t| TopicChoice {
                name: &t.name,
                description: &t.description,
            })
            .collect();
        let provider = self.ai.for_owner(&self.db, job.user_id).await?;
        let input = truncate_chars(&text, self.config.classify_max_chars);
        let picked = provider.classify(input, &choices).await?;
        let ids = picked
            .into_iter()
            .filter_map(|i| topics.get(i))
            .map(|t| t.id)
            .collect();
        Ok((text, ids))
    }

    /// Writes the attempt's result; a transient error becomes a retry until the attempts run out.
    async fn record(
        &self,
        job: &Claimed,
        result: Result<(String, Vec<Uuid>), JobError>,
    ) -> crate::Result<Outcome> {
        let (done, outcome) = match result {
            Ok((text, topic_ids)) => (
                q::finish(&self.db, job.id, job.attempts, &text, &topic_ids).await?,
                Outcome::Classified,
            ),
            Err(JobError::Permanent(reason)) => {
                tracing::warn!(reason, "document failed");
                (
                    q::fail(&self.db, job.id, job.attempts, &reason).await?,
                    Outcome::Failed,
                )
            }
            Err(JobError::Transient(reason)) if job.attempts >= self.config.max_attempts => {
                let reason = format!("gave up after {} attempts: {reason}", job.attempts);
                tracing::warn!(reason, "document failed");
                (
                    q::fail(&self.db, job.id, job.attempts, &reason).await?,
                    Outcome::Failed,
                )
            }
            Err(JobError::Transient(reason)) => {
                let delay = backoff(self.config.retry_base, job.attempts, job.id);
                tracing::info!(
                    reason,
                    retry_in_ms = delay.as_millis() as u64,
                    "attempt failed; will retry"
                );
                (
                    q::retry_later(&self.db, job.id, job.attempts, &reason, delay).await?,
                    Outcome::Retried,
                )
            }
        };
        Ok(if done { outcome } else { Outcome::Lost })
    }
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
