//! The built-in provider's fallback: the lexical scorer in `docuvault_domain::classify`, used
//! when the worker has no embedding model (see `pipeline::semantic`). No network, no key; a
//! document can get zero topics.

use super::{Classifier, TopicChoice};
use crate::pipeline::JobError;
use docuvault_domain::classify::{DEFAULT_THRESHOLD, TopicText, classify};

#[derive(Debug, Clone, Copy)]
pub struct Local;

#[async_trait::async_trait]
impl Classifier for Local {
    async fn classify(
        &self,
        text: &str,
        topics: &[TopicChoice<'_>],
    ) -> Result<Vec<usize>, JobError> {
        let topics: Vec<TopicText<'_>> = topics
            .iter()
            .map(|t| TopicText {
                name: t.name,
                description: t.description,
            })
            .collect();
        Ok(classify(text, &topics, DEFAULT_THRESHOLD)
            .into_iter()
            .map(|m| m.index)
            .collect())
    }

    fn is_local(&self) -> bool {
        true
    }
}
