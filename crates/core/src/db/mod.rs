//! PostgreSQL: the runtime pool (role `docuvault_app`), the embedded migrations (applied only
//! with `DATABASE_MIGRATE_URL`, role `docuvault_migrate`), and the queries grouped by aggregate.
//! Queries are plain SQL with bound parameters; the API tests exercise every one of them against
//! a real database.

pub mod activity;
pub mod ai_settings;
pub mod api_tokens;
pub mod audit;
pub mod cloud_connections;
pub mod documents;
pub mod embeddings;
pub mod folders;
pub mod identities;
pub mod mail_accounts;
pub mod object_cleanup;
pub mod password_resets;
pub mod pipeline;
pub mod quotas;
pub mod search;
pub mod sessions;
pub mod shares;
pub mod storage_moves;
pub mod topics;
pub mod uploads;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use sqlx::PgPool;

use crate::Secret;
use crate::config::DatabaseConfig;

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

fn connect_options(
    url: &Secret<String>,
    application_name: &str,
) -> anyhow::Result<PgConnectOptions> {
    // sqlx's parse errors do not echo the URL, so the password stays out of the message.
    Ok(PgConnectOptions::from_str(url.expose())
        .context("invalid PostgreSQL URL")?
        .application_name(application_name)
        // A runaway query must not hold a connection forever.
        .options([("statement_timeout", "30s")]))
}

/// The runtime pool. Lazy: the process starts while PostgreSQL is down, and a request that cannot
/// get a connection within `acquire_timeout` answers 503 instead of hanging.
pub fn connect_lazy(config: &DatabaseConfig, application_name: &str) -> anyhow::Result<PgPool> {
    let options = connect_options(&config.url, application_name)?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(Duration::from_secs(300))
        .connect_lazy_with(options))
}

/// Applies every pending migration. Safe to run again: applied ones are skipped, and a changed
/// applied migration is refused (checksums).
pub async fn migrate(url: &Secret<String>) -> anyhow::Result<()> {
    let options = connect_options(url, "docuvault-migrate")?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("cannot connect with DATABASE_MIGRATE_URL")?;
    MIGRATOR.run(&pool).await.context("migration failed")?;
    pool.close().await;
    Ok(())
}

/// A trivial query: proves a connection can be had and PostgreSQL answers.
pub async fn ping(pool: &PgPool) -> crate::Result<()> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
