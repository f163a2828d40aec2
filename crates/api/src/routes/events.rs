//! `GET /api/events`: a server-sent event stream of changes to the caller's own documents
//! (created, status changed, edited, deleted), from whichever API or worker process made them
//! (see `docuvault_core::events`).
//!
//! Authenticated like every other call, with the `Authorization` header (the app reads the
//! stream with `fetch`, so the token never goes into a URL that proxies log). The stream ends
//! when that token expires, with a `reauthenticate` event: the client reconnects with a fresh
//! one. Events are hints: after `ready` and on `resync` the client fetches what it shows.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ErrorBody;
use docuvault_core::events::Event as Change;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// How long a client waits before reconnecting after the stream drops.
const RECONNECT_AFTER: Duration = Duration::from_secs(3);
/// A comment this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Changes to your documents as they happen (`text/event-stream`). Events: `ready` (once, at
/// the start), `document` (`{"document_id", "change": "created"|"updated"|"deleted",
/// "status"}`), `resync` (some events may have been missed: fetch again), and
/// `reauthenticate` (the access token expired; the stream ends — reconnect with a new one).
#[utoipa::path(
    get, path = "/api/events", tag = "events",
    responses(
        (status = 200, description = "the event stream", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody),
    )
)]
async fn events(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let left = caller.token_expires_at - chrono::Utc::now().timestamp();
    let expiry = tokio::time::sleep(Duration::from_secs(u64::try_from(left).unwrap_or(0)));
    let ready = Event::default()
        .event("ready")
        .retry(RECONNECT_AFTER)
        .data("{}");
    let changes = state.vault.events.subscribe(caller.id).map(|change| {
        Ok(match change {
            Change::Document(e) => Event::default()
                .event("document")
                .json_data(e)
                .unwrap_or_else(|_| Event::default().event("resync").data("{}")),
            Change::Resync => Event::default().event("resync").data("{}"),
        })
    });
    let body = stream::once(async { Ok(ready) })
        .chain(changes)
        .take_until(expiry)
        .chain(stream::once(async {
            Ok(Event::default().event("reauthenticate").data("{}"))
        }));
    Sse::new(body).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
