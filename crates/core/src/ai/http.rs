//! What the remote providers share: their endpoint and credentials, and one JSON POST with the
//! retry rules — 429 and 5xx are retried after the `Retry-After` the server asked for (or an
//! exponential delay), a timeout or an unreachable server is a transient job error, a refused
//! key or request is permanent. The key is never logged nor put in an error.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

use crate::Secret;
use crate::pipeline::JobError;

/// The most of a provider's answer we read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Retries of one request within a job attempt (429 and 5xx only).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Requests in all, the first included.
    pub tries: u32,
    /// The first wait when the server gives no `Retry-After`; doubled each time.
    pub base_delay: Duration,
    /// The longest wait honoured; a server asking for more makes the attempt a transient error
    /// (the job is retried later instead of holding a worker).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            tries: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Remote {
    pub http: reqwest::Client,
    pub base_url: url::Url,
    pub model: String,
    pub api_key: Option<Secret<String>>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

impl Remote {
    /// `base_url` with `path` appended (the base may or may not end in a slash).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.as_str().trim_end_matches('/'), path)
    }

    /// POSTs `body` to `url` with `headers`, retrying as described above; the answer's JSON.
    pub async fn post_json(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, JobError> {
        let mut delay = self.retry.base_delay;
        for attempt in 1..=self.retry.tries {
            let sent = self
                .http
                .post(url)
                .headers(headers.clone())
                .json(body)
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) if e.is_timeout() => {
                    return Err(JobError::transient(format!(
                        "the AI provider did not answer within {} s",
                        self.timeout.as_secs()
                    )));
                }
                Err(e) => {
                    return Err(JobError::internal(
                        &format!("cannot reach the AI provider at {}", host(url)),
                        root_cause(&e),
                    ));
                }
            };
            let status = response.status();
            if status.is_success() {
                let bytes = read_limited(response).await?;
                return serde_json::from_slice(&bytes).map_err(|_| {
                    JobError::transient("the AI provider answered with something that is not JSON")
                });
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            let wait = retry_after(response.headers()).unwrap_or(delay);
            let detail = error_detail(response).await;
            if !retryable {
                return Err(refused(status, &detail));
            }
            if attempt == self.retry.tries || wait > self.retry.max_delay {
                return Err(JobError::transient(format!(
                    "the AI provider answered HTTP {status}{detail}"
                )));
            }
            tracing::info!(
                status = status.as_u16(),
                wait_ms = wait.as_millis() as u64,
                "AI provider asked to retry"
            );
            tokio::time::sleep(wait).await;
            delay = delay.saturating_mul(2);
        }
        Err(JobError::transient("the AI provider could not be asked"))
    }
}

/// A header carrying the API key: marked sensitive so it is never printed.
pub fn secret_header(value: &str) -> Result<HeaderValue, JobError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        JobError::Permanent("the AI API key holds characters HTTP cannot carry".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn refused(status: StatusCode, detail: &str) -> JobError {
    JobError::Permanent(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            format!("the AI provider refused the API key (HTTP {status}){detail}")
        }
        _ => format!("the AI provider refused the request (HTTP {status}){detail}"),
    })
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and treated as absent).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// ": <message>" from the provider's error body, short, or nothing.
async fn error_detail(response: reqwest::Response) -> String {
    let Ok(bytes) = read_limited(response).await else {
        return String::new();
    };
    let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let message = json
        .as_ref()
        .and_then(|j| j.pointer("/error/message").or_else(|| j.pointer("/error")))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .unwrap_or_default();
    let message: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

async fn read_limited(response: reqwest::Response) -> Result<Vec<u8>, JobError> {
    let mut out = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            if e.is_timeout() {
                JobError::transient("the AI provider's answer did not arrive in time")
            } else {
                JobError::internal("the AI provider's answer broke off", root_cause(&e))
            }
        })?;
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(JobError::transient("the AI provider's answer is too large"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_default()
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
