//! `GET /metrics`: Prometheus text — documents per pipeline status and every worker's job
//! counts and durations (see `docuvault_core::metrics`). Outside `/api` and the OpenAPI
//! document, like `/health`: it is for the operator's scraper.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.vault.metrics.render(&state.vault.db).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
