//! The semantic local classifier: a document goes to the topic whose prototype its embedding is
//! closest to (cosine similarity), if that topic is clearly ahead; otherwise it gets none and
//! the best few are kept as suggestions for its owner to confirm.
//!
//! A topic's prototype is normalize(embedding of "name: description" + mean of its examples'
//! embeddings), measured best in DEPENDENCIES.md; its examples are the newest documents a
//! person gave that topic by hand, so every correction teaches it. Prototypes are stored with
//! the version of what they were built from (migration 0013) and rebuilt by the first job that
//! finds one stale; documents already classified are not touched until their owner asks.
//!
//! The model (`docuvault_embed`) is loaded once per process and shared; embedding is pure
//! computation and runs on a blocking thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use docuvault_embed::{Embedder, cosine, normalized};
use uuid::Uuid;

use super::JobError;
use crate::db::PgPool;
use crate::db::embeddings::{self, TopicPrototype};

/// Examples blended into a prototype at most (the newest).
const MAX_EXAMPLES: i64 = 32;
/// Characters of a text embedded (the model reads the first ~500 tokens anyway).
const EMBED_CHARS: i32 = 8_000;
/// Suggestions kept for a document that got no topic.
const SUGGESTIONS: usize = 3;

/// When a topic is assigned (`CLASSIFY_MIN_SCORE`, `CLASSIFY_MIN_MARGIN`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// The best topic's similarity must reach this…
    pub min_score: f32,
    /// …and be this far ahead of the runner-up.
    pub min_margin: f32,
}

/// What the classifier made of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Topics assigned, with their similarity.
    pub assigned: Scored,
    /// The best topics when none was assigned, best first.
    pub suggestions: Scored,
    /// The document's embedding, stored beside it for learning later.
    pub embedding: Vec<f32>,
}

#[derive(Clone)]
pub struct Semantic {
    embedder: Arc<Embedder>,
    thresholds: Thresholds,
}

impl std::fmt::Debug for Semantic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semantic")
            .field("model", &self.embedder.model)
            .field("thresholds", &self.thresholds)
            .finish()
    }
}

/// Models loaded by this process, by directory: a worker made for each test run, or several
/// workers in one process, share one copy of the weights.
fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<Embedder>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Embedder>>>> = OnceLock::new();
    LOADED.get_or_init(Mutex::default)
}

impl Semantic {
    /// The model in `dir`, loaded once per process.
    pub fn load(dir: &Path, thresholds: Thresholds) -> Result<Self, docuvault_embed::Error> {
        let mut cache = loaded()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let embedder = match cache.get(dir) {
            Some(e) => Arc::clone(e),
            None => {
                let started = std::time::Instant::now();
                let e = Arc::new(Embedder::load(dir)?);
                tracing::info!(
                    model = e.model,
                    ms = started.elapsed().as_millis() as u64,
                    "embedding model loaded"
                );
                cache.insert(dir.to_owned(), Arc::clone(&e));
                e
            }
        };
        Ok(Self {
            embedder,
            thresholds,
        })
    }

    pub fn model(&self) -> &str {
        &self.embedder.model
    }

    /// The embedding of `text` (its first [`EMBED_CHARS`] characters).
    pub async fn embed(&self, text: &str) -> Result<Vec<f32>, JobError> {
        let text = docuvault_domain::text::truncate_chars(text, EMBED_CHARS as usize).to_owned();
        let embedder = Arc::clone(&self.embedder);
        tokio::task::spawn_blocking(move || embedder.embed(&text))
            .await
            .map_err(|e| JobError::internal("the classifier crashed", e))?
            .map_err(|e| JobError::internal("the classifier failed", e))
    }

    /// Classifies `text` among the owner's topics.
    pub async fn classify(
        &self,
        db: &PgPool,
        owner: Uuid,
        text: &str,
    ) -> Result<Verdict, JobError> {
        let embedding = self.embed(text).await?;
        let topics = embeddings::topics_of(db, owner).await?;
        let mut scored = Vec::with_capacity(topics.len());
        for topic in &topics {
            let score = match topic.current(self.model()) {
                Some(prototype) => cosine(&embedding, prototype),
                None => cosine(&embedding, &self.rebuild(db, owner, topic).await?),
            };
            scored.push((topic.id, score));
        }
        let (assigned, suggestions) = decide(scored, self.thresholds);
        Ok(Verdict {
            assigned,
            suggestions,
            embedding,
        })
    }

    /// Builds a topic's prototype from its name, description and examples, and stores it.
    async fn rebuild(
        &self,
        db: &PgPool,
        owner: Uuid,
        topic: &TopicPrototype,
    ) -> Result<Vec<f32>, JobError> {
        let model = self.model();
        let described = self
            .embed(&prototype_text(&topic.name, &topic.description))
            .await?;
        let examples =
            embeddings::examples_of(db, owner, topic.id, model, MAX_EXAMPLES, EMBED_CHARS).await?;
        let mut sum = vec![0f32; described.len()];
        let mut count = 0i32;
        for example in examples {
            let embedding = match (example.embedding, example.text) {
                (Some(e), _) if e.len() == sum.len() => e,
                // Set by hand before it had an embedding (or under another model): made now,
                // and kept.
                (_, Some(text)) => {
                    let e = self.embed(&text).await?;
                    embeddings::store_embedding(db, example.document_id, model, &e).await?;
                    e
                }
                _ => continue,
            };
            for (s, x) in sum.iter_mut().zip(&embedding) {
                *s += x;
            }
            count += 1;
        }
        let prototype = blend(described, &sum, count);
        let stored = embeddings::store_prototype(
            db,
            owner,
            topic.id,
            topic.version,
            model,
            &prototype,
            count,
        )
        .await?;
        tracing::debug!(topic = %topic.id, examples = count, stored, "prototype rebuilt");
        Ok(prototype)
    }
}

/// Whether `dir` holds a model's files (the worker loads it; the API only looks).
pub fn model_present(dir: &Path) -> bool {
    ["config.json", "tokenizer.json", "model.safetensors"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

/// What a topic's description is embedded as.
pub fn prototype_text(name: &str, description: &str) -> String {
    if description.trim().is_empty() {
        name.to_owned()
    } else {
        format!("{name}: {description}")
    }
}

/// normalize(description + mean of the examples), or the description alone without examples.
pub fn blend(description: Vec<f32>, example_sum: &[f32], examples: i32) -> Vec<f32> {
    if examples == 0 {
        return description;
    }
    let n = examples as f32;
    normalized(
        description
            .iter()
            .zip(example_sum)
            .map(|(d, s)| d + s / n)
            .collect(),
    )
}

/// Topics with their similarity.
pub type Scored = Vec<(Uuid, f32)>;

/// The best topic if it reaches `min_score` and is `min_margin` ahead of the runner-up;
/// otherwise none, and the best few as suggestions: (assigned, suggestions).
pub fn decide(mut scored: Scored, thresholds: Thresholds) -> (Scored, Scored) {
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    let Some(&best) = scored.first() else {
        return (Vec::new(), Vec::new());
    };
    let runner_up = scored.get(1).map_or(f32::NEG_INFINITY, |s| s.1);
    if best.1 >= thresholds.min_score && best.1 - runner_up >= thresholds.min_margin {
        (vec![best], Vec::new())
    } else {
        scored.truncate(SUGGESTIONS);
        (Vec::new(), scored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        min_score: 0.2,
        min_margin: 0.05,
    };

    #[test]
    fn a_clear_winner_is_assigned() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (assigned, suggestions) = decide(vec![(a, 0.31), (b, 0.52), (c, 0.12)], T);
        assert_eq!(assigned, vec![(b, 0.52)]);
        assert!(suggestions.is_empty());
    }

    #[test]
    fn a_close_call_or_a_weak_match_gets_suggestions() {
        let (a, b, c, d) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let (assigned, suggestions) = decide(vec![(a, 0.40), (b, 0.42), (c, 0.1), (d, 0.0)], T);
        assert!(assigned.is_empty());
        assert_eq!(suggestions, vec![(b, 0.42), (a, 0.40), (c, 0.1)]);
        let (assigned, _) = decide(vec![(a, 0.15)], T);
        assert!(assigned.is_empty(), "below the minimum score");
        let (assigned, _) = decide(vec![(a, 0.25)], T);
        assert_eq!(assigned, vec![(a, 0.25)], "a single topic needs no margin");
        assert_eq!(decide(Vec::new(), T), (Vec::new(), Vec::new()));
    }

    #[test]
    fn examples_pull_the_prototype() {
        let description = vec![1.0, 0.0];
        assert_eq!(blend(description.clone(), &[0.0, 0.0], 0), description);
        let blended = blend(description, &[0.0, 2.0], 2);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!((blended[0] - s).abs() < 1e-6 && (blended[1] - s).abs() < 1e-6);
    }
}
