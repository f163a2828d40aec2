//! Browser-facing protections on every response: a strict Content-Security-Policy (the API
//! serves JSON and documents, never scripts to run), no sniffing, no framing, no referrer, no
//! caching of private answers, HSTS when DocuVault is served over https, and CORS only for the
//! configured origins (never `*`).

use axum::http::{HeaderName, HeaderValue, Method, header};
use docuvault_core::config::AuthConfig;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

const CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox";

type Header = SetResponseHeaderLayer<Option<HeaderValue>>;
type Layers = Stack<
    CorsLayer,
    Stack<
        Header,
        Stack<Header, Stack<Header, Stack<Header, Stack<Header, Stack<Header, Identity>>>>>,
    >,
>;

fn set(name: HeaderName, value: Option<HeaderValue>) -> Header {
    SetResponseHeaderLayer::if_not_present(name, value)
}

pub fn layers(auth: &AuthConfig) -> ServiceBuilder<Layers> {
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
    ServiceBuilder::new()
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            Some(HeaderValue::from_static(CSP)),
        ))
        .layer(set(
            header::X_CONTENT_TYPE_OPTIONS,
            Some(HeaderValue::from_static("nosniff")),
        ))
        .layer(set(
            header::REFERRER_POLICY,
            Some(HeaderValue::from_static("no-referrer")),
        ))
        .layer(set(
            header::X_FRAME_OPTIONS,
            Some(HeaderValue::from_static("DENY")),
        ))
        .layer(set(
            header::CACHE_CONTROL,
            Some(HeaderValue::from_static("no-store")),
        ))
        .layer(set(header::STRICT_TRANSPORT_SECURITY, hsts))
        .layer(cors)
}
