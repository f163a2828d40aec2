//! One module of routes per resource; each returns an `OpenApiRouter` so the OpenAPI document
//! is generated from the handlers themselves.

pub mod documents;
pub mod health;
pub mod settings;
pub mod topics;
