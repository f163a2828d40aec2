//! OpenAI-compatible chat completions (`POST {base}/chat/completions`): OpenAI itself, Ollama,
//! vLLM, llama.cpp's server. The key, if any, goes in `Authorization: Bearer`.

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::json;

use super::http::{Remote, secret_header};
use super::{Classifier, SYSTEM_PROMPT, TopicChoice, parse_answer, user_prompt};
use crate::pipeline::JobError;

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

#[derive(Debug)]
pub struct OpenAi(pub Remote);

#[async_trait::async_trait]
impl Classifier for OpenAi {
    async fn classify(
        &self,
        text: &str,
        topics: &[TopicChoice<'_>],
    ) -> Result<Vec<usize>, JobError> {
        let remote = &self.0;
        let mut headers = HeaderMap::new();
        if let Some(key) = &remote.api_key {
            headers.insert(
                AUTHORIZATION,
                secret_header(&format!("Bearer {}", key.expose()))?,
            );
        }
        let body = json!({
            "model": remote.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_prompt(text, topics)},
            ],
        });
        let answer = remote
            .post_json(&remote.endpoint("chat/completions"), headers, &body)
            .await?;
        let content = answer
            .pointer("/choices/0/message/content")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                JobError::transient("the AI provider's answer has no message content")
            })?;
        parse_answer(content, topics)
    }
}
