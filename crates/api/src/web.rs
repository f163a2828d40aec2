//! The web app: the built single-page app (`web/dist`, made by `make web`), embedded in the
//! binary by release builds and read from disk by debug builds, served for every path outside
//! `/api`, `/health` and `/metrics`.
//!
//! Hashed assets (`/assets/…`) are cached for a year (`immutable`), everything else revalidated
//! (`no-cache`); the build's `.br` and `.gz` twins are served to clients that accept them. An
//! app route (a path without a file extension, like the reset link sent in emails) gets
//! `index.html`, while unknown `/api/*` paths keep their JSON 404. The app's CSP allows its own
//! scripts only (no inline script, no `eval`), and connections to the API and to the object
//! store (presigned uploads).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::error_response;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist/"]
#[allow_missing = true]
struct Assets;

/// Answers what no API route matched.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap, csp: HeaderValue) -> Response {
    let path = uri.path();
    // The interactive API documentation (Swagger UI over /api/openapi.json).
    if method == Method::GET || method == Method::HEAD {
        let docs = match path {
            "/api/docs" | "/api/docs/" => Some("index.html"),
            _ => path.strip_prefix("/api/docs/"),
        };
        if let Some(file) = docs
            && let Some(resp) = asset(&format!("api-docs/{file}"), &headers, &csp)
        {
            return resp;
        }
    }
    let api =
        path == "/api" || path.starts_with("/api/") || path == "/health" || path == "/metrics";
    if api || !(method == Method::GET || method == Method::HEAD) {
        return error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {path}"),
        );
    }
    let file = path.trim_start_matches('/');
    let file = if file.is_empty() { "index.html" } else { file };
    if let Some(resp) = asset(file, &headers, &csp) {
        return resp;
    }
    // An app route: the app reads the path itself. A missing file is a 404.
    let last = file.rsplit('/').next().unwrap_or("");
    if !last.contains('.')
        && let Some(resp) = asset("index.html", &headers, &csp)
    {
        return resp;
    }
    if Assets::get("index.html").is_none() {
        return error_response(
            StatusCode::NOT_FOUND,
            "web_app_not_built",
            "the web app is not built into this server: run `make web` (make run does), then start it again",
        );
    }
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no file {path}"),
    )
}

fn asset(file: &str, headers: &HeaderMap, csp: &HeaderValue) -> Option<Response> {
    // Only names inside the app's folder (debug builds read the folder from disk).
    if file.split('/').any(|seg| seg == ".." || seg.is_empty()) || file.contains('\\') {
        return None;
    }
    let content = Assets::get(file)?;
    let accepts = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (body, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(name, _)| accepts.split(',').any(|a| a.trim().starts_with(name)))
        .find_map(|(name, ext)| Assets::get(&format!("{file}{ext}")).map(|c| (c.data, Some(name))))
        .unwrap_or((content.data, None));
    let mut resp = Body::from(body.into_owned()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mime_of(file)),
    );
    if let Some(encoding) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if file.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    Some(resp)
}

/// The app's Content-Security-Policy: its own scripts and styles only; images also from
/// `data:`/`blob:` (QR codes, previews); connections to the API and to `store_origin`.
pub fn app_csp(store_origin: Option<&str>) -> HeaderValue {
    let connect = match store_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src {connect}; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; \
         form-action 'self'"
    );
    HeaderValue::from_str(&csp).unwrap_or_else(|_| {
        HeaderValue::from_static("default-src 'self'; script-src 'self'; object-src 'none'")
    })
}

fn mime_of(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csp_allows_no_inline_script_and_names_the_store() {
        let csp = app_csp(Some("https://s3.example.org"));
        let csp = csp.to_str().unwrap_or_default();
        assert!(csp.contains("script-src 'self';"));
        assert!(!csp.contains("unsafe"));
        assert!(csp.contains("connect-src 'self' https://s3.example.org;"));
    }
}
