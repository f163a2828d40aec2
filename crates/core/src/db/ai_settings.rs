//! Queries on `ai_settings`: one row per user.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, FromRow)]
pub struct AiSettingsRow {
    pub provider: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_enc: Option<Vec<u8>>,
    pub updated_at: DateTime<Utc>,
}

pub async fn get(pool: &PgPool, owner: Uuid) -> Result<Option<AiSettingsRow>> {
    Ok(sqlx::query_as(
        "SELECT provider, model, base_url, api_key_enc, updated_at FROM ai_settings WHERE user_id = $1",
    )
        .bind(owner)
        .fetch_optional(pool)
        .await?)
}

/// What to do with the stored API key.
#[derive(Debug)]
pub enum KeyChange {
    Keep,
    Set(Vec<u8>),
    Clear,
}

/// Inserts or replaces the owner's settings in one statement (no read-modify-write).
pub async fn upsert(
    pool: &PgPool,
    owner: Uuid,
    provider: &str,
    model: Option<&str>,
    base_url: Option<&str>,
    key: KeyChange,
) -> Result<AiSettingsRow> {
    let (replace_key, sealed) = match key {
        KeyChange::Keep => (false, None),
        KeyChange::Set(sealed) => (true, Some(sealed)),
        KeyChange::Clear => (true, None),
    };
    Ok(sqlx::query_as(
        "INSERT INTO ai_settings AS s (user_id, provider, model, base_url, api_key_enc)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ON CONSTRAINT ai_settings_user_key DO UPDATE SET
             provider = EXCLUDED.provider,
             model = EXCLUDED.model,
             base_url = EXCLUDED.base_url,
             api_key_enc = CASE WHEN $6 THEN EXCLUDED.api_key_enc ELSE s.api_key_enc END
         RETURNING provider, model, base_url, api_key_enc, updated_at",
    )
    .bind(owner)
    .bind(provider)
    .bind(model)
    .bind(base_url)
    .bind(sealed)
    .bind(replace_key)
    .fetch_one(pool)
    .await?)
}
