//! Anthropic's Messages API (`POST {base}/v1/messages`, `x-api-key`, `anthropic-version`).

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

use super::http::{Remote, secret_header};
use super::{Classifier, SYSTEM_PROMPT, TopicChoice, parse_answer, user_prompt};
use crate::pipeline::JobError;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_MODEL: &str = "claude-haiku-4-5";
const API_VERSION: &str = "2023-06-01";

#[derive(Debug)]
pub struct Anthropic(pub Remote);

#[async_trait::async_trait]
impl Classifier for Anthropic {
    async fn classify(
        &self,
        text: &str,
        topics: &[TopicChoice<'_>],
    ) -> Result<Vec<usize>, JobError> {
        let remote = &self.0;
        let key = remote.api_key.as_ref().ok_or_else(|| {
            JobError::Permanent(
                "the Anthropic provider needs an API key; set one in the AI settings".into(),
            )
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-api-key"),
            secret_header(key.expose())?,
        );
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        let body = json!({
            "model": remote.model,
            "max_tokens": 512,
            "temperature": 0,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": user_prompt(text, topics)}],
        });
        // The base may be given with or without its `/v1`.
        let path = if remote
            .base_url
            .path()
            .trim_end_matches('/')
            .ends_with("/v1")
        {
            "messages"
        } else {
            "v1/messages"
        };
        let answer = remote
            .post_json(&remote.endpoint(path), headers, &body)
            .await?;
        let text: String = answer
            .get("content")
            .and_then(serde_json::Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(serde_json::Value::as_str) == Some("text"))
                    .filter_map(|b| b.get("text").and_then(serde_json::Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if text.is_empty() {
            return Err(JobError::transient("the AI provider's answer has no text"));
        }
        parse_answer(&text, topics)
    }
}
