//! DocuVault's services: configuration, the database queries grouped by aggregate, the object
//! store and Redis behind small interfaces, health probes, and the document, topic and settings
//! services the HTTP API calls, and the processing pipeline the worker runs. No HTTP framework in here.

pub mod ai;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod ingest;
pub mod mail;
pub mod metrics;
pub mod pipeline;
pub mod queue;
pub mod redis_client;
pub mod secret;
pub mod services;
pub mod storage;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};
pub use secret::Secret;
