//! `GET /metrics`: Prometheus text — documents waiting and failed, and every worker's job
//! counts and durations (see `docuvault_core::metrics`). Outside `/api` and the OpenAPI
//! document, like `/health`: it is for the operator's scraper, which must send
//! `Authorization: Bearer $METRICS_TOKEN`. Without a configured token the route does not exist
//! (404), so a fresh install shows nothing of its activity to the world.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::error::error_response;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.vault.auth.metrics_token else {
        return error_response(StatusCode::NOT_FOUND, "not_found", "no route for /metrics");
    };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(sent.as_bytes().ct_eq(expected.expose().as_bytes())) {
        let mut refused = error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the metrics token as a bearer token",
        );
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        return refused;
    }
    let body = state.vault.metrics.render(&state.vault.db).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
