//! Queries on `ai_settings`: one row per user.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, FromRow)]
pub struct AiSettingsRow {
    pub provider: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_enc: Option<Vec<u8>>,
    /// The admin who assigned them; `None` when the user chose them.
    pub assigned_by: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "provider, model, base_url, api_key_enc, assigned_by, updated_at";

pub async fn get(db: impl PgExecutor<'_>, owner: Uuid) -> Result<Option<AiSettingsRow>> {
    let sql = format!("SELECT {COLUMNS} FROM ai_settings WHERE user_id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .fetch_optional(db)
        .await?)
}

/// Removes the owner's settings: the instance default applies again.
pub async fn delete(db: impl PgExecutor<'_>, owner: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM ai_settings WHERE user_id = $1")
        .bind(owner)
        .execute(db)
        .await?;
    Ok(())
}

/// What to do with the stored API key.
#[derive(Debug)]
pub enum KeyChange {
    Keep,
    Set(Vec<u8>),
    Clear,
}

/// Inserts or replaces the owner's settings in one statement (no read-modify-write);
/// `assigned_by` is the admin who chose them, or `None` for the owner themself.
pub async fn upsert(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    provider: &str,
    model: Option<&str>,
    base_url: Option<&str>,
    key: KeyChange,
    assigned_by: Option<Uuid>,
) -> Result<AiSettingsRow> {
    let (replace_key, sealed) = match key {
        KeyChange::Keep => (false, None),
        KeyChange::Set(sealed) => (true, Some(sealed)),
        KeyChange::Clear => (true, None),
    };
    let sql = format!(
        "INSERT INTO ai_settings AS s (user_id, provider, model, base_url, api_key_enc, assigned_by)
         VALUES ($1, $2, $3, $4, $5, $7)
         ON CONFLICT ON CONSTRAINT ai_settings_user_key DO UPDATE SET
             provider = EXCLUDED.provider,
             model = EXCLUDED.model,
             base_url = EXCLUDED.base_url,
             api_key_enc = CASE WHEN $6 THEN EXCLUDED.api_key_enc ELSE s.api_key_enc END,
             assigned_by = EXCLUDED.assigned_by
         RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(provider)
        .bind(model)
        .bind(base_url)
        .bind(sealed)
        .bind(replace_key)
        .bind(assigned_by)
        .fetch_one(db)
        .await?)
}
