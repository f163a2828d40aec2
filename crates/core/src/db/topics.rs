//! Queries on `topics`, scoped by owner like every other query.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use crate::Result;
use crate::error::{Error, violated_constraint};
use docuvault_domain::{TopicColor, TopicDescription, TopicName};

#[derive(Debug, Clone, FromRow)]
pub struct TopicRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub color: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, description, color, created_at, updated_at";

#[derive(Debug)]
pub struct TopicFields {
    pub name: TopicName,
    pub description: TopicDescription,
    pub color: TopicColor,
}

fn map_unique(e: sqlx::Error, name: &TopicName) -> Error {
    if violated_constraint(&e) == Some("topics_user_name_key") {
        return Error::Conflict {
            code: "topic_name_taken",
            message: format!("a topic named {:?} already exists", name.as_str()),
        };
    }
    e.into()
}

pub async fn list(pool: &PgPool, owner: Uuid) -> Result<Vec<TopicRow>> {
    let sql = format!("SELECT {COLUMNS} FROM topics WHERE user_id = $1 ORDER BY lower(name), id");
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .fetch_all(pool)
        .await?)
}

pub async fn create(pool: &PgPool, owner: Uuid, t: &TopicFields) -> Result<TopicRow> {
    let sql = format!(
        "INSERT INTO topics (user_id, name, description, color) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    );
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(t.name.as_str())
        .bind(t.description.as_str())
        .bind(t.color.as_str())
        .fetch_one(pool)
        .await
        .map_err(|e| map_unique(e, &t.name))
}

/// Replaces a topic's fields; `None` if the owner has no such topic.
pub async fn update(
    pool: &PgPool,
    owner: Uuid,
    id: Uuid,
    t: &TopicFields,
) -> Result<Option<TopicRow>> {
    let sql = format!(
        "UPDATE topics SET name = $3, description = $4, color = $5
         WHERE user_id = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .bind(t.name.as_str())
        .bind(t.description.as_str())
        .bind(t.color.as_str())
        .fetch_optional(pool)
        .await
        .map_err(|e| map_unique(e, &t.name))
}

/// Deletes a topic (and, by cascade, its attachments to documents); `false` if there was none.
pub async fn delete(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM topics WHERE user_id = $1 AND id = $2")
        .bind(owner)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
