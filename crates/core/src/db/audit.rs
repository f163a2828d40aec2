//! The security audit log: who (actor) did what (event_type) to whom (user_id), from where, with
//! `metadata`. Written in the same transaction as the change it records where there is one.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub event_type: &'a str,
    /// The account the event is about.
    pub user_id: Option<Uuid>,
    /// Who did it (the user themself, an admin, or nobody for anonymous attempts).
    pub actor_id: Option<Uuid>,
    pub ip: Option<IpAddr>,
    pub metadata: serde_json::Value,
}

pub async fn record(db: impl PgExecutor<'_>, e: &AuditEvent<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (event_type, user_id, actor_id, ip_address, metadata)
         VALUES ($1, $2, $3, $4::inet, $5)",
    )
    .bind(e.event_type)
    .bind(e.user_id)
    .bind(e.actor_id)
    .bind(e.ip.map(|ip| ip.to_string()))
    .bind(&e.metadata)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub event_type: String,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub ip_address: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// Newest first; `before` is the last id of the previous page.
pub async fn list(
    pool: &PgPool,
    user: Option<Uuid>,
    event_type: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(
        "SELECT id, event_type, user_id, actor_id, host(ip_address) AS ip_address, metadata, created_at
           FROM audit_log
          WHERE ($1::uuid IS NULL OR user_id = $1)
            AND ($2::text IS NULL OR event_type = $2)
            AND ($3::bigint IS NULL OR id < $3)
          ORDER BY id DESC
          LIMIT $4",
    )
    .bind(user)
    .bind(event_type)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
