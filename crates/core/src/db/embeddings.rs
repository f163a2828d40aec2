//! Embeddings of documents and prototypes of topics, for the semantic local classifier
//! (migration 0013 says how a prototype's version fences its rebuilds).

use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::Result;

/// A topic of the owner with its stored prototype, if any.
#[derive(Debug, Clone, FromRow)]
pub struct TopicPrototype {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// What the prototype must be built from.
    pub version: i64,
    /// What the stored one was built from, and with which model.
    pub built_version: Option<i64>,
    pub model: Option<String>,
    pub prototype: Option<Vec<f32>>,
}

impl TopicPrototype {
    /// The stored prototype, if it is current for `model`.
    pub fn current(&self, model: &str) -> Option<&[f32]> {
        match (&self.prototype, self.built_version, self.model.as_deref()) {
            (Some(p), Some(built), Some(m)) if built == self.version && m == model => Some(p),
            _ => None,
        }
    }
}

/// The owner's topics and their prototypes, by name.
pub async fn topics_of(pool: &PgPool, owner: Uuid) -> Result<Vec<TopicPrototype>> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.name, t.description, coalesce(p.version, 0) AS version,
                p.built_version, p.model, p.prototype
           FROM topics t LEFT JOIN topic_prototypes p ON p.topic_id = t.id
          WHERE t.user_id = $1
          ORDER BY lower(t.name)",
    )
    .bind(owner)
    .fetch_all(pool)
    .await?)
}

/// An example of a topic: a document a person gave it by hand, with its embedding by the
/// model if stored, else the start of its text to embed.
#[derive(Debug, Clone, FromRow)]
pub struct Example {
    pub document_id: Uuid,
    pub embedding: Option<Vec<f32>>,
    pub text: Option<String>,
}

/// The newest `limit` examples of the owner's `topic`.
pub async fn examples_of(
    pool: &PgPool,
    owner: Uuid,
    topic: Uuid,
    model: &str,
    limit: i64,
    text_chars: i32,
) -> Result<Vec<Example>> {
    Ok(sqlx::query_as(
        "SELECT d.id AS document_id, e.embedding,
                CASE WHEN e.embedding IS NULL THEN left(d.extracted_text, $5) END AS text
           FROM document_topics dt
           JOIN documents d ON d.id = dt.document_id AND d.user_id = $1
           LEFT JOIN document_embeddings e ON e.document_id = d.id AND e.model = $3
          WHERE dt.topic_id = $2 AND dt.source = 'user'
            AND (e.embedding IS NOT NULL OR d.extracted_text IS NOT NULL)
          ORDER BY d.updated_at DESC, d.id DESC
          LIMIT $4",
    )
    .bind(owner)
    .bind(topic)
    .bind(model)
    .bind(limit)
    .bind(text_chars)
    .fetch_all(pool)
    .await?)
}

/// Stores (or replaces) a document's embedding.
pub async fn store_embedding(
    db: impl sqlx::PgExecutor<'_>,
    document: Uuid,
    model: &str,
    embedding: &[f32],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO document_embeddings (document_id, model, embedding) VALUES ($1, $2, $3)
         ON CONFLICT (document_id)
         DO UPDATE SET model = EXCLUDED.model, embedding = EXCLUDED.embedding, created_at = now()",
    )
    .bind(document)
    .bind(model)
    .bind(embedding)
    .execute(db)
    .await?;
    Ok(())
}

/// Stores a prototype built from `version`, unless the topic changed meanwhile (then it stays
/// stale and the next job builds it again). True if stored.
pub async fn store_prototype(
    pool: &PgPool,
    owner: Uuid,
    topic: Uuid,
    version: i64,
    model: &str,
    prototype: &[f32],
    examples: i32,
) -> Result<bool> {
    let stored = sqlx::query(
        "UPDATE topic_prototypes p
            SET built_version = $3, model = $4, prototype = $5, examples = $6
           FROM topics t
          WHERE p.topic_id = $2 AND t.id = p.topic_id AND t.user_id = $1 AND p.version = $3",
    )
    .bind(owner)
    .bind(topic)
    .bind(version)
    .bind(model)
    .bind(prototype)
    .bind(examples)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(stored == 1)
}
