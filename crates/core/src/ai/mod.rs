//! AI classification behind one small trait, one implementation per provider, chosen per owner:
//! the settings an admin assigned them (or they chose, where allowed), else the instance
//! default (`local` unless the operator configured another). Providers: `local` (built in, no
//! network), an OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, llama.cpp), or
//! Anthropic's Messages API.
//!
//! Every provider answers with indices into the topics it was given: a remote model's answer
//! is matched against the owner's topic names and anything else is dropped, so a model can
//! never invent a topic.

mod anthropic;
pub mod egress;
mod http;
mod local;
mod openai;

use std::time::Duration;

use uuid::Uuid;

use crate::crypto::{Purpose, Sealer};
use crate::db::PgPool;
use crate::db::{ai_settings, users};
use crate::pipeline::JobError;
use docuvault_domain::AiProviderKind;

pub use http::RetryPolicy;

/// A topic as offered to a classifier.
#[derive(Debug, Clone, Copy)]
pub struct TopicChoice<'a> {
    pub name: &'a str,
    pub description: &'a str,
}

#[async_trait::async_trait]
pub trait Classifier: Send + Sync {
    /// The indices (into `topics`) of the topics `text` belongs to; possibly none.
    async fn classify(
        &self,
        text: &str,
        topics: &[TopicChoice<'_>],
    ) -> Result<Vec<usize>, JobError>;

    /// The built-in `local` provider: the worker uses the semantic classifier in its place
    /// when the embedding model is loaded.
    fn is_local(&self) -> bool {
        false
    }
}

/// Builds each owner's classifier from their settings; holds the one HTTP client (connection
/// pool) all remote providers share.
#[derive(Debug, Clone)]
pub struct AiClient {
    /// For owners who may reach any address (admins, or all with `AI_ALLOW_PRIVATE_ENDPOINTS`).
    http: reqwest::Client,
    /// For everyone else: public addresses only (see [`egress`]).
    public_http: reqwest::Client,
    allow_private: bool,
    sealer: Sealer,
    retry: RetryPolicy,
    timeout: Duration,
    /// The instance default, for owners without settings.
    default: crate::config::AiConfig,
}

/// What one owner's documents are classified with, wherever it came from.
struct Choice {
    kind: AiProviderKind,
    model: Option<String>,
    base_url: Option<String>,
    api_key: Option<String>,
    /// Chosen by an admin or the operator: private endpoints are allowed.
    trusted: bool,
}

impl AiClient {
    pub fn new(
        sealer: Sealer,
        timeout: Duration,
        retry: RetryPolicy,
        allow_private: bool,
        default: crate::config::AiConfig,
    ) -> anyhow::Result<Self> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("DocuVault/", env!("CARGO_PKG_VERSION")))
                // A redirect could lead anywhere, past the checks below.
                .redirect(reqwest::redirect::Policy::none())
                // Nor may HTTP_PROXY/HTTPS_PROXY from the environment decide where a
                // user-supplied URL goes (a proxy on the LAN reaches what the guard refuses).
                .no_proxy()
        };
        Ok(Self {
            http: builder().build()?,
            public_http: builder()
                .dns_resolver(std::sync::Arc::new(egress::PublicOnly))
                .build()?,
            allow_private,
            sealer,
            retry,
            timeout,
            default,
        })
    }

    /// The classifier for the owner's documents: their settings (assigned by an admin, or
    /// chosen by themself where allowed), else the instance default.
    pub async fn for_owner(
        &self,
        db: &PgPool,
        owner: Uuid,
    ) -> Result<Box<dyn Classifier>, JobError> {
        let choice = match ai_settings::get(db, owner).await? {
            Some(row) => self.choice_of(db, owner, row).await?,
            None => Choice {
                kind: self.default.default_provider,
                model: self.default.default_model.clone(),
                base_url: self
                    .default
                    .default_base_url
                    .as_ref()
                    .map(|u| u.to_string()),
                api_key: self
                    .default
                    .default_api_key
                    .as_ref()
                    .map(|k| k.expose().clone()),
                trusted: true,
            },
        };
        let remote = |default_base: &str, default_model: &str| -> Result<http::Remote, JobError> {
            let base = choice.base_url.as_deref().unwrap_or(default_base);
            let base_url = url::Url::parse(base).map_err(|_| {
                JobError::Permanent(format!("AI settings: invalid base URL {base}"))
            })?;
            let unlimited = self.allow_private || choice.trusted;
            if !unlimited && !egress::host_allowed(&base_url) {
                return Err(JobError::Permanent(format!(
                    "AI settings: {base} is a private address; only an admin may use a private AI endpoint"
                )));
            }
            Ok(http::Remote {
                http: if unlimited {
                    self.http.clone()
                } else {
                    self.public_http.clone()
                },
                base_url,
                model: choice
                    .model
                    .clone()
                    .unwrap_or_else(|| default_model.to_owned()),
                api_key: choice.api_key.clone().map(crate::Secret::new),
                retry: self.retry,
                timeout: self.timeout,
            })
        };
        Ok(match choice.kind {
            AiProviderKind::Local => Box::new(local::Local),
            AiProviderKind::OpenAi => Box::new(openai::OpenAi(remote(
                openai::DEFAULT_BASE_URL,
                openai::DEFAULT_MODEL,
            )?)),
            AiProviderKind::Anthropic => Box::new(anthropic::Anthropic(remote(
                anthropic::DEFAULT_BASE_URL,
                anthropic::DEFAULT_MODEL,
            )?)),
        })
    }

    /// The owner's stored settings, the key unsealed. Settings an admin assigned are trusted;
    /// ones the owner chose are trusted only if the owner is an admin.
    async fn choice_of(
        &self,
        db: &PgPool,
        owner: Uuid,
        row: ai_settings::AiSettingsRow,
    ) -> Result<Choice, JobError> {
        let kind = AiProviderKind::parse(&row.provider)
            .map_err(|e| JobError::Permanent(format!("AI settings: {}", e.message)))?;
        let api_key = row
            .api_key_enc
            .map(|sealed| {
                self.sealer
                    .open(Purpose::AiApiKey, owner, &sealed)
                    .ok()
                    .and_then(|k| String::from_utf8(k).ok())
                    .ok_or_else(|| {
                        JobError::Permanent(
                            "the stored AI API key cannot be decrypted (was SECRET_KEY changed?); save it again in the settings".into(),
                        )
                    })
            })
            .transpose()?;
        // Only a remote provider needs to know whether the owner may reach private addresses.
        let trusted = row.assigned_by.is_some()
            || (kind != AiProviderKind::Local
                && users::auth_state(db, owner)
                    .await?
                    .is_some_and(|u| u.role == "admin"));
        Ok(Choice {
            kind,
            model: row.model,
            base_url: row.base_url,
            api_key,
            trusted,
        })
    }
}

const SYSTEM_PROMPT: &str = "You sort a person's documents into the topics they defined. \
Choose only from the listed topic names, spelled exactly as listed. A document may fit several \
topics or none. Answer with one JSON object and nothing else: {\"topics\": [\"<topic name>\", ...]}.";

/// The user message: the owner's topics (and only theirs), then the document's text.
fn user_prompt(text: &str, topics: &[TopicChoice<'_>]) -> String {
    let mut out = String::from("Topics:\n");
    for t in topics {
        out.push_str("- ");
        out.push_str(t.name);
        if !t.description.trim().is_empty() {
            out.push_str(": ");
            out.push_str(t.description.trim());
        }
        out.push('\n');
    }
    out.push_str("\nDocument text:\n<document>\n");
    out.push_str(text);
    out.push_str("\n</document>\n\nWhich topics does this document belong to? Answer in JSON.");
    out
}

/// Reads `{"topics": [...]}` out of a model's answer (tolerating a code fence or prose around
/// it) and keeps the names that match a listed topic, case-insensitively, each once.
fn parse_answer(answer: &str, topics: &[TopicChoice<'_>]) -> Result<Vec<usize>, JobError> {
    let start = answer.find('{');
    let end = answer.rfind('}');
    let json = match (start, end) {
        (Some(s), Some(e)) if s < e => &answer[s..=e],
        _ => return Err(invalid_answer(answer)),
    };
    #[derive(serde::Deserialize)]
    struct Answer {
        topics: Vec<serde_json::Value>,
    }
    let parsed: Answer = serde_json::from_str(json).map_err(|_| invalid_answer(answer))?;
    let mut picked = Vec::new();
    for name in parsed.topics.iter().filter_map(serde_json::Value::as_str) {
        let name = name.trim();
        let wanted = name.to_lowercase();
        match topics.iter().position(|t| t.name.to_lowercase() == wanted) {
            Some(i) if !picked.contains(&i) => picked.push(i),
            Some(_) => {}
            None => tracing::info!(answer_topic = name, "dropping a topic the model invented"),
        }
    }
    Ok(picked)
}

fn invalid_answer(answer: &str) -> JobError {
    let head = docuvault_domain::text::truncate_chars(answer, 120);
    JobError::internal(
        "the AI provider's answer is not the JSON asked for",
        format_args!("{head:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Vec<TopicChoice<'static>> {
        vec![
            TopicChoice {
                name: "Finance",
                description: "invoices",
            },
            TopicChoice {
                name: "Gesundheit",
                description: "",
            },
        ]
    }

    #[test]
    fn answers_are_matched_to_listed_topics_only() {
        let t = topics();
        assert_eq!(
            parse_answer(r#"{"topics": ["finance", "Cooking"]}"#, &t),
            Ok(vec![0])
        );
        assert_eq!(
            parse_answer(
                "```json\n{\"topics\": [\"GESUNDHEIT\", \"Finance\", \"Finance\"]}\n```",
                &t
            ),
            Ok(vec![1, 0])
        );
        assert_eq!(parse_answer(r#"{"topics": []}"#, &t), Ok(vec![]));
        assert!(matches!(
            parse_answer("I think Finance", &t),
            Err(JobError::Transient(_))
        ));
        assert!(matches!(
            parse_answer(r#"{"topic": "Finance"}"#, &t),
            Err(JobError::Transient(_))
        ));
    }

    #[test]
    fn the_prompt_lists_the_topics_and_the_text() {
        let p = user_prompt("an invoice", &topics());
        assert!(p.contains("- Finance: invoices\n- Gesundheit\n"));
        assert!(p.contains("<document>\nan invoice\n</document>"));
    }
}
