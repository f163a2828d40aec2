//! Black-box API tests against a real PostgreSQL, S3 server and Redis (see `helpers`). All in
//! one test binary; every test has its own database and bucket, so they run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod ai_assignment;
mod auth;
mod classifier;
mod documents;
mod editing;
mod errors;
mod events;
mod fake_ai;
mod folders;
mod hardening;
mod health;
mod helpers;
mod mail;
mod migrations;
mod notifications;
mod ocr;
mod office;
mod ownership;
mod password_reset;
mod pipeline;
mod preview;
mod quota;
mod roles;
mod scans;
mod search;
mod settings;
mod sharing;
mod sso;
mod tokens;
mod topics;
mod totp;
mod upload_errors;
mod uploads;
