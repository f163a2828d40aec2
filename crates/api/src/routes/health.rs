//! `GET /health`: every dependency probed at once and named; 503 if any is down. Answers within
//! about 1.2 s even when a dependency hangs (each probe has its own timeout).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    /// `ok`, or `unavailable` when any dependency is down.
    pub status: &'static str,
    /// `ok` or `down`.
    pub postgres: &'static str,
    pub object_store: &'static str,
    pub redis: &'static str,
    /// Which classifier the built-in `local` provider uses: `semantic` (the embedding model is
    /// installed in `MODEL_DIR`) or `lexical` (it is not: topics are matched by their words).
    pub local_classifier: &'static str,
}

/// Readiness: PostgreSQL, the object store and Redis.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses((status = 200, body = HealthDto), (status = 503, body = HealthDto))
)]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthDto>) {
    let r = state.vault.health().await;
    let (code, status) = if r.is_ok() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        code,
        Json(HealthDto {
            status,
            postgres: r.postgres.as_str(),
            object_store: r.object_store.as_str(),
            redis: r.redis.as_str(),
            local_classifier: if r.semantic_model {
                "semantic"
            } else {
                "lexical"
            },
        }),
    )
}
