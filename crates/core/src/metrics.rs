//! Job metrics shared by every worker process: counters and a duration histogram kept in one
//! Redis hash (`{REDIS_KEY_PREFIX}:metrics`), so `GET /metrics` on any API instance shows the
//! whole installation. Rendered in the Prometheus text format together with the documents
//! waiting and failed from PostgreSQL (cheap at any table size: `db::pipeline::status_counts`).
//! Recording is best effort: a Redis outage never fails a job.

use std::fmt::Write as _;

use crate::db::{PgPool, pipeline};
use crate::redis_client::RedisClient;

/// Upper bounds (seconds) of the job-duration histogram's buckets.
const BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];
const OUTCOMES: [&str; 4] = ["classified", "failed", "retried", "lost"];

#[derive(Debug, Clone)]
pub struct Metrics {
    redis: RedisClient,
    key: String,
}

impl Metrics {
    pub fn new(redis: RedisClient, key_prefix: &str) -> Self {
        Self {
            redis,
            key: format!("{key_prefix}:metrics"),
        }
    }

    /// Counts one finished job and its duration.
    pub async fn record_job(&self, outcome: &str, seconds: f64) {
        let mut pipe = redis::pipe();
        pipe.hincr(&self.key, format!("jobs_total:{outcome}"), 1)
            .ignore()
            .hincr(&self.key, "job_seconds_sum", seconds)
            .ignore()
            .hincr(&self.key, "job_seconds_count", 1)
            .ignore();
        for le in BUCKETS.iter().filter(|le| seconds <= **le) {
            pipe.hincr(&self.key, format!("job_seconds_bucket:{le}"), 1)
                .ignore();
        }
        let mut conn = self.redis.connection();
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::debug!(error = %e, "cannot record job metrics");
        }
    }

    /// The Prometheus exposition. Whatever cannot be read (a dependency is down) is left out
    /// and shown as `docuvault_up{dependency=...} 0`.
    pub async fn render(&self, db: &PgPool) -> String {
        let mut out = String::new();
        // Both at once: while a dependency is down, a scrape waits for one timeout, not two.
        let mut conn = self.redis.connection();
        let mut hgetall = redis::cmd("HGETALL");
        hgetall.arg(&self.key);
        let (counts, stored) = tokio::join!(
            pipeline::status_counts(db),
            hgetall.query_async::<Vec<(String, String)>>(&mut conn),
        );

        let _ = writeln!(
            out,
            "# HELP docuvault_up Whether the dependency answered this scrape."
        );
        let _ = writeln!(out, "# TYPE docuvault_up gauge");
        let _ = writeln!(
            out,
            "docuvault_up{{dependency=\"postgres\"}} {}",
            u8::from(counts.is_ok())
        );
        let _ = writeln!(
            out,
            "docuvault_up{{dependency=\"redis\"}} {}",
            u8::from(stored.is_ok())
        );

        if let Ok(counts) = counts {
            let _ = writeln!(
                out,
                "# HELP docuvault_documents Documents waiting in or failed by the pipeline."
            );
            let _ = writeln!(out, "# TYPE docuvault_documents gauge");
            for (status, n) in [
                ("pending", counts.pending),
                ("processing", counts.processing),
                ("failed", counts.failed),
            ] {
                let _ = writeln!(out, "docuvault_documents{{status=\"{status}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "# HELP docuvault_documents_estimated_total All documents, as PostgreSQL's planner estimates them (no full count on a scrape)."
            );
            let _ = writeln!(out, "# TYPE docuvault_documents_estimated_total gauge");
            let _ = writeln!(
                out,
                "docuvault_documents_estimated_total {}",
                counts.estimated_total
            );
        }
        if let Ok(stored) = stored {
            let get = |field: &str| {
                stored
                    .iter()
                    .find(|(k, _)| k == field)
                    .and_then(|(_, v)| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            let _ = writeln!(
                out,
                "# HELP docuvault_jobs_total Jobs finished by all workers, by outcome."
            );
            let _ = writeln!(out, "# TYPE docuvault_jobs_total counter");
            for outcome in OUTCOMES {
                let n = get(&format!("jobs_total:{outcome}"));
                let _ = writeln!(out, "docuvault_jobs_total{{outcome=\"{outcome}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "# HELP docuvault_job_duration_seconds Time from claim to result per job."
            );
            let _ = writeln!(out, "# TYPE docuvault_job_duration_seconds histogram");
            for le in BUCKETS {
                let n = get(&format!("job_seconds_bucket:{le}"));
                let _ = writeln!(
                    out,
                    "docuvault_job_duration_seconds_bucket{{le=\"{le}\"}} {n}"
                );
            }
            let count = get("job_seconds_count");
            let _ = writeln!(
                out,
                "docuvault_job_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "docuvault_job_duration_seconds_sum {}",
                get("job_seconds_sum")
            );
            let _ = writeln!(out, "docuvault_job_duration_seconds_count {count}");
        }
        out
    }
}
