//! The application builder: state, router, middleware, listener, graceful shutdown.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, Request, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::error_response;
use crate::routes;
use docuvault_core::services::Vault;
use docuvault_core::{Config, Error};

#[derive(Clone, Debug)]
pub struct AppState {
    pub vault: Vault,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "DocuVault API", description = "A self-hosted, privacy-first document vault."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Register, log in, refresh, log out, password reset"),
        (name = "me", description = "The signed-in user: account, sessions, password, two-factor sign-in, API tokens, mail import"),
        (name = "admin", description = "Account management and the audit log (admins only)"),
        (name = "documents", description = "Upload, list, read, download and delete documents"),
        (name = "uploads", description = "Presigned uploads: send a file straight to the object store, then complete it"),
        (name = "events", description = "Live changes to your documents (server-sent events)"),
        (name = "folders", description = "Folders inside folders to file documents in"),
        (name = "shares", description = "Share a document with another user to view; documents shared with you"),
        (name = "topics", description = "The user's own topics for classification"),
        (name = "settings", description = "AI provider settings"),
        (name = "storage", description = "Your own cloud (WebDAV, Nextcloud) as the place your documents are kept"),
        (name = "health", description = "Readiness of every dependency"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme the protected operations refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every documented route, with the OpenAPI document they make.
fn api_routes(upload_limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::documents::router().layer(DefaultBodyLimit::max(upload_limit)))
        .merge(routes::uploads::router())
        .merge(routes::events::router())
        .merge(routes::folders::router())
        .merge(routes::shares::router())
        .merge(routes::search::router())
        .merge(routes::preview::router())
        .merge(routes::topics::router())
        .merge(routes::auth::router())
        .merge(routes::sso::router())
        .merge(routes::me::router())
        .merge(routes::tokens::router())
        .merge(routes::mail::router())
        .merge(routes::cloud::router())
        .merge(routes::cloud_oauth::router())
        .merge(routes::admin::router())
        .merge(routes::settings::router())
        .merge(routes::health::router())
}

fn finish_spec(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    openapi.info.version = env!("CARGO_PKG_VERSION").to_owned();
    require_bearer(&mut openapi);
    declare_common_responses(&mut openapi);
    name_operations(&mut openapi);
    openapi
}

/// Operation ids unique across the document (handlers in different modules share names such
/// as `list`), for generated clients: `{tag}_{handler}`, e.g. `topics_list`.
fn name_operations(openapi: &mut utoipa::openapi::OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        for op in operations(item) {
            let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
            if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut())
                && !id.starts_with(&format!("{tag}_"))
            {
                *id = format!("{tag}_{id}");
            }
        }
    }
}

/// The OpenAPI document as `/api/openapi.json` serves it, without a server (for
/// `docuvault openapi`, which the web app's types are generated from).
pub fn openapi_json() -> String {
    finish_spec(api_routes(0).split_for_parts().1)
        .to_pretty_json()
        .unwrap_or_default()
}

/// The full router with its OpenAPI document served at `/api/openapi.json`.
pub fn router(state: AppState) -> Router {
    let max_upload = state.vault.max_upload_bytes;
    let upload_limit =
        usize::try_from(max_upload.saturating_add(routes::documents::MULTIPART_OVERHEAD))
            .unwrap_or(usize::MAX);
    let (api, openapi) = api_routes(upload_limit).split_for_parts();
    let spec: Arc<str> = finish_spec(openapi).to_json().unwrap_or_default().into();
    let auth = state.vault.auth.clone();
    let csp = crate::web::app_csp(state.vault.store.browser_origin().as_deref());

    let api = api
        .merge(routes::metrics::router())
        .route(
            "/api/openapi.json",
            get(move || {
                let spec = Arc::clone(&spec);
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        spec.to_string(),
                    )
                }
            }),
        )
        .fallback(move |method, uri, headers| crate::web::fallback(method, uri, headers, csp))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    crate::security::apply(api, &auth)
    .layer(CatchPanicLayer::custom(|_| {
        error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "an unexpected error occurred")
    }))
    .layer(
        TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // The path only: query strings may one day carry tokens.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }),
    )
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The operations of one path, whatever their method.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// Marks every operation but the sign-in ones, `/health` and the cloud sign-in's callback (the
/// provider's redirect: bound to the browser by its state cookie) as needing the bearer token.
fn require_bearer(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    for (path, item) in &mut openapi.paths.paths {
        if path.starts_with("/api/auth/") && path != "/api/auth/logout-all"
            || path == "/health"
            || path == "/api/cloud-connections/oauth/callback"
        {
            continue;
        }
        for op in operations(item) {
            op.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
        }
    }
}

/// Declares on every operation the answers that come from outside its handler — the bearer
/// check (401), the extractors (400 for a malformed body, path or query; 415 for a body not
/// sent as JSON) and an unavailable dependency (503) — so the document lists every status the
/// server can give (generated clients and schemathesis rely on it). An operation's own, more
/// specific declaration of the same status is kept.
fn declare_common_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in &mut openapi.paths.paths {
        let path_params = path.contains('{');
        for op in operations(item) {
            let json_body = op.request_body.as_ref().is_some_and(
                |b| matches!(b, RefOr::T(b) if b.content.contains_key("application/json")),
            );
            let query =
                op.parameters.iter().flatten().any(
                    |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query)),
                );
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description).into());
            };
            if op.security.is_some() {
                add(
                    "401",
                    "no valid access token: missing, malformed, expired or revoked",
                );
            }
            if json_body || path_params || query || op.request_body.is_some() {
                add("400", "the body, path or query cannot be read");
            }
            if json_body {
                add("415", "the body was not sent as application/json");
            }
            add(
                "503",
                "a dependency (PostgreSQL, the object store or Redis) is unavailable; retry after Retry-After",
            );
        }
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
}

/// How long start-up waits for the object store to appear (compose starts services together).
const STORE_WAIT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run on after a shutdown signal (Compose gives 30 s before SIGKILL).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

impl Application {
    /// Wires everything from `config`, makes sure the bucket exists, and binds the listener.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let vault = Vault::from_config(config, "docuvault-api")?;
        ensure_bucket(&vault).await?;
        Self::from_vault(vault, config.bind_addr).await
    }

    /// Binds a listener for an already wired [`Vault`] (tests bind port 0).
    pub async fn from_vault(vault: Vault, addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (BIND_ADDR)"))?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            router: router(AppState { vault }),
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish,
    /// and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(port = self.port, "listening");
        // Stop accepting on `shutdown`, let in-flight requests finish, but give up on a client
        // that holds a request open longer than the grace period.
        let stopping = CancellationToken::new();
        let signalled = stopping.clone();
        // The peer address feeds rate limits and the audit log.
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(self.listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            signalled.cancel();
        });
        tokio::select! {
            result = server.into_future() => result.context("server error"),
            () = async {
                stopping.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "in-flight requests did not finish in time; stopping anyway");
                Ok(())
            }
        }
    }
}

async fn ensure_bucket(vault: &Vault) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STORE_WAIT;
    loop {
        match vault.store.ensure_bucket().await {
            Ok(()) => return Ok(()),
            Err(Error::Unavailable { source, .. }) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(
                    error = format!("{source:#}"),
                    "object store not reachable yet; retrying"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(anyhow::Error::new(e).context("object store is not usable")),
        }
    }
}
