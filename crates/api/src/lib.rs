//! DocuVault's HTTP API: the axum router, extractors that answer bad input with JSON errors,
//! the error mapping, and one module of routes per resource. The [`Application`] builder binds
//! its own listener (port 0 in tests) and runs until a shutdown future resolves.

mod app;
mod auth;
pub mod error;
mod extract;
mod routes;
mod security;
mod web;

pub use app::{AppState, Application, openapi_json, router};
