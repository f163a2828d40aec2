//! One module of routes per resource; each returns an `OpenApiRouter` so the OpenAPI document
//! is generated from the handlers themselves (`/metrics` is plain text for scrapers, outside it).

pub mod admin;
pub mod auth;
pub mod cloud;
pub mod cloud_oauth;
pub mod documents;
pub mod events;
pub mod folders;
pub mod health;
pub mod listing;
pub mod mail;
pub mod me;
pub mod metrics;
pub mod preview;
pub mod search;
pub mod settings;
pub mod shares;
pub mod sso;
pub mod tokens;
pub mod topics;
pub mod uploads;
