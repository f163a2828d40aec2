//! Authentication at the HTTP edge: the bearer-token extractor every protected handler takes,
//! the request's origin (address, user agent) for rate limits and the audit log, and the
//! cookies of a sign-in.
//!
//! Handlers that change state authenticate with the bearer token only. The two endpoints that
//! read the refresh cookie (refresh, logout) also need the `X-CSRF-Token` header, which a
//! cross-site page cannot set (double submit, bound to the sign-in by an HMAC).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use docuvault_core::Error;
use docuvault_core::services::accounts::{Caller, Credential, RequestMeta};

use crate::app::AppState;
use crate::error::ApiError;

pub const REFRESH_COOKIE: &str = "docuvault_refresh";
pub const CSRF_COOKIE: &str = "docuvault_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in user of the request: a sign-in's access token, or an API token whose scope
/// allows this route.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Caller);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError(Error::unauthorized(
                    "missing_token",
                    "sign in and send the access token as Authorization: Bearer <token>",
                ))
            })?;
        let caller = state.vault.authenticate(token).await?;
        // The route's template (`/api/documents/{id}`), not the path, decides.
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        check_scope(&caller, parts.method.as_str(), route)?;
        Ok(Self(caller))
    }
}

/// Refuses a request an API token's scope does not allow (`route` is the route's template).
pub fn check_scope(caller: &Caller, method: &str, route: Option<&str>) -> Result<(), ApiError> {
    match caller.credential {
        Credential::Session => Ok(()),
        Credential::ApiToken { scope, .. } if route.is_some_and(|r| scope.allows(method, r)) => {
            Ok(())
        }
        Credential::ApiToken { scope, .. } => Err(ApiError(Error::forbidden(
            "token_scope",
            format!(
                "this API token's scope ({}) does not allow this request; account security and \
                 administration need a sign-in",
                scope.as_str()
            ),
        ))),
    }
}

/// Where the request came from.
#[derive(Debug, Clone)]
pub struct Meta(pub RequestMeta);

impl FromRequestParts<AppState> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = state
            .vault
            .auth
            .trust_proxy_headers
            .then(|| forwarded_for(&parts.headers))
            .flatten();
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| docuvault_domain::text::truncate_chars(ua, 256).to_owned());
        Ok(Self(RequestMeta {
            ip: forwarded.or(peer),
            user_agent,
        }))
    }
}

/// The client address the nearest proxy saw: the last entry of `X-Forwarded-For`.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    // Only the last entry was written by our proxy; earlier ones are whatever the client sent.
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

pub fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

/// Sets the two cookies of a sign-in on `resp`: the refresh token (script cannot read it; sent
/// only to `/api/auth`) and the CSRF token (script reads it after a reload to call refresh).
/// `None` clears both.
pub fn set_session_cookies(resp: &mut Response, state: &AppState, session: Option<(&str, &str)>) {
    let secure = if state.vault.auth.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let (refresh, csrf, max_age) = match session {
        Some((refresh, csrf)) => (refresh, csrf, state.vault.auth.refresh_ttl.as_secs()),
        None => ("", "", 0),
    };
    for c in [
        format!(
            "{REFRESH_COOKIE}={refresh}; HttpOnly{secure}; SameSite=Strict; Path=/api/auth; Max-Age={max_age}"
        ),
        format!("{CSRF_COOKIE}={csrf}{secure}; SameSite=Strict; Path=/; Max-Age={max_age}"),
    ] {
        // Tokens are base64url, always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_forwarded_for_parse() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; docuvault_refresh=tok; b=2"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("docuvault_csrf=c"));
        assert_eq!(cookie(&h, REFRESH_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("c"));
        assert_eq!(cookie(&h, "missing"), None);
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.0.0.2"),
        );
        assert_eq!(forwarded_for(&h), "10.0.0.2".parse().ok());
    }
}
