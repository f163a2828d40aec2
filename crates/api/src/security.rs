//! Browser-facing protections on every response: a strict Content-Security-Policy (the API
//! serves JSON and documents, never scripts to run), no sniffing, no framing, no referrer, no
//! caching of private answers, HSTS when DocuVault is served over https, and CORS only for the
//! configured origins (never `*`).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use docuvault_core::config::AuthConfig;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

const CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox";

/// Wraps `router` in the headers and CORS above.
pub fn apply(router: Router, auth: &AuthConfig) -> Router {
    let hsts = (auth.public_url.scheme() == "https")
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    let origins: Vec<HeaderValue> = auth
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(crate::auth::CSRF_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(600));
    let set = |name: HeaderName, value: Option<HeaderValue>| {
        SetResponseHeaderLayer::if_not_present(name, value)
    };
    let fixed = |name, value| set(name, Some(HeaderValue::from_static(value)));
    router
        .layer(cors)
        .layer(set(header::STRICT_TRANSPORT_SECURITY, hsts))
        .layer(fixed(header::CACHE_CONTROL, "no-store"))
        .layer(fixed(header::X_FRAME_OPTIONS, "DENY"))
        .layer(fixed(header::REFERRER_POLICY, "no-referrer"))
        .layer(fixed(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(fixed(header::CONTENT_SECURITY_POLICY, CSP))
}
