//! Sign-in flows through the HTTP API: registration rules, login, refresh rotation and reuse
//! detection, CSRF, logout, sign out everywhere, forged tokens, rate limits, deactivation.

use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Cookies, Mode, Options, PASSWORD, TestApp};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn registration_validates_and_refuses_duplicates() {
    let app = TestApp::spawn().await;
    let register = |handle: &str, email: &str, password: &str| {
        app.send_json(
            Method::POST,
            "/api/auth/register",
            json!({ "handle": handle, "email": email, "password": password }),
        )
    };
    app.assert_error(
        register("bob", "bob@example.org", "short").await,
        422,
        "weak_password",
    );
    app.assert_error(
        register("bob", "bob@example.org", "password123").await,
        422,
        "weak_password",
    );
    app.assert_error(
        register("b o b", "bob@example.org", PASSWORD).await,
        422,
        "invalid_handle",
    );
    app.assert_error(
        register("bob", "not-an-email", PASSWORD).await,
        422,
        "invalid_email",
    );
    app.assert_error(
        register("ALICE", "other@example.org", PASSWORD).await,
        409,
        "handle_taken",
    );
    app.assert_error(
        register("bob", "Alice@Example.org", PASSWORD).await,
        409,
        "email_taken",
    );
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/auth/register",
            json!({ "handle": "bob" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    // Nothing of the refused attempts was stored; the password is never echoed.
    assert_eq!(app.count("users").await, 1);
    let (status, bob) = register("Bob", "Bob@Example.org", PASSWORD).await;
    assert_eq!(status, 201, "{bob}");
    assert_eq!(
        (bob["handle"].as_str(), bob["email"].as_str()),
        (Some("bob"), Some("bob@example.org"))
    );
    assert!(!bob.to_string().contains(PASSWORD));
    assert_eq!(app.count("quotas").await, 2, "every user has a quota row");
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE handle = 'bob'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
}

#[tokio::test]
async fn registration_can_be_closed() {
    let app = TestApp::spawn_with(Options {
        env: vec![("ALLOW_REGISTRATION", "false".into())],
        ..Options::default()
    })
    .await;
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/auth/register",
            json!({ "handle": "mallory", "email": "m@example.org", "password": PASSWORD }),
        )
        .await;
    app.assert_error((status, body), 403, "registration_closed");
}

#[tokio::test]
async fn wrong_login_and_wrong_password_answer_alike() {
    let app = TestApp::spawn().await;
    let (s1, unknown, _) = app.login("nobody", PASSWORD, None).await;
    let (s2, wrong, _) = app.login("alice", "not the password at all", None).await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(unknown, wrong, "no hint whether the account exists");
    assert_eq!(unknown["error"]["code"], "invalid_credentials");
    let failed = app.audit("login_failed").await;
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].0, None);
    assert_eq!(failed[1].0, Some(app.user.id));
    assert_eq!(failed[0].2.as_deref(), Some("127.0.0.1"));
    assert_eq!(failed[1].3["reason"], "wrong_password");
    // Email works as the login too, in any case.
    let (status, body, _) = app.login("ALICE@example.org", PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn login_sets_strict_cookies_and_returns_the_token_in_the_body() {
    let app = TestApp::spawn().await;
    let resp = app
        .anonymous()
        .post(app.url("/api/auth/login"))
        .json(&json!({ "login": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let refresh = cookies
        .iter()
        .find(|c| c.starts_with("docuvault_refresh="))
        .unwrap();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth"] {
        assert!(refresh.contains(attr), "{attr} missing: {refresh}");
    }
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("docuvault_csrf="))
        .unwrap();
    assert!(
        !csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict") && csrf.contains("Secure")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["handle"], "alice");
    // Only a hash of the refresh token is stored.
    let token = refresh
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("docuvault_refresh=");
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE token_hash = $1")
            .bind(token)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 0);
    let (status, me) = app
        .with_token(Method::GET, "/api/me", body["access_token"].as_str())
        .await;
    assert_eq!((status, me["handle"].as_str()), (200, Some("alice")));
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let (_, first, mut jar) = app.login("alice", PASSWORD, None).await;
    let csrf = first["csrf_token"].as_str().unwrap().to_owned();
    let stolen = jar.clone();

    let (status, second) = app
        .post_with_cookies("/api/auth/refresh", &mut jar, Some(&csrf))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(
        jar.0["docuvault_refresh"], stolen.0["docuvault_refresh"],
        "rotated"
    );
    assert_eq!(
        second["csrf_token"],
        csrf.as_str(),
        "same sign-in, same CSRF token"
    );
    let (status, _) = app
        .with_token(Method::GET, "/api/me", second["access_token"].as_str())
        .await;
    assert_eq!(status, 200);

    // The old token again: someone copied it. The whole family ends.
    let mut thief = stolen.clone();
    let (status, body) = app
        .post_with_cookies("/api/auth/refresh", &mut thief, Some(&csrf))
        .await;
    app.assert_error((status, body), 401, "refresh_token_reused");
    let (status, body) = app
        .post_with_cookies("/api/auth/refresh", &mut jar, Some(&csrf))
        .await;
    app.assert_error((status, body), 401, "invalid_refresh_token");
    let reuse = app.audit("refresh_token_reuse").await;
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0].0, Some(app.user.id));

    // Other sign-ins (the helper's own) are untouched.
    let mut own = app.user.cookies.clone();
    let (status, _) = app
        .post_with_cookies("/api/auth/refresh", &mut own, Some(&app.user.csrf))
        .await;
    assert_eq!(status, 200);

    // The next login carries a security notice, once.
    let (_, next, _) = app.login("alice", PASSWORD, None).await;
    assert!(
        next["security_notice"]
            .as_str()
            .unwrap()
            .contains("used twice"),
        "{next}"
    );
    let (_, after, _) = app.login("alice", PASSWORD, None).await;
    assert!(after.get("security_notice").is_none(), "{after}");
}

#[tokio::test]
async fn refresh_and_logout_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    let mut jar = app.user.cookies.clone();
    let (status, body) = app
        .post_with_cookies("/api/auth/refresh", &mut jar, None)
        .await;
    app.assert_error((status, body), 403, "csrf_failed");
    let (status, body) = app
        .post_with_cookies("/api/auth/refresh", &mut jar, Some("forged"))
        .await;
    app.assert_error((status, body), 403, "csrf_failed");
    // The cookie's own value does not pass either: the token is bound to the sign-in by the
    // server's key, so planting a cookie cannot forge it.
    let bob = app.new_user("bob").await;
    let (status, body) = app
        .post_with_cookies("/api/auth/refresh", &mut jar, Some(&bob.csrf))
        .await;
    app.assert_error((status, body), 403, "csrf_failed");
    let (status, body) = app
        .post_with_cookies("/api/auth/logout", &mut jar, None)
        .await;
    app.assert_error((status, body), 403, "csrf_failed");
    // Nothing was rotated or revoked by the refused calls.
    let (status, _) = app
        .post_with_cookies("/api/auth/refresh", &mut jar, Some(&app.user.csrf))
        .await;
    assert_eq!(status, 200);
    // No cookie at all: nothing to refresh.
    let (status, body) = app
        .post_with_cookies(
            "/api/auth/refresh",
            &mut Cookies::default(),
            Some(&app.user.csrf),
        )
        .await;
    app.assert_error((status, body), 401, "invalid_refresh_token");
}

#[tokio::test]
async fn logout_ends_the_sign_in_and_clears_the_cookies() {
    let app = TestApp::spawn().await;
    let (_, body, mut jar) = app.login("alice", PASSWORD, None).await;
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let before = jar.clone();
    let (status, _) = app
        .post_with_cookies("/api/auth/logout", &mut jar, Some(&csrf))
        .await;
    assert_eq!(status, 204);
    assert!(jar.0.is_empty(), "cookies cleared: {jar:?}");
    let (status, body) = app
        .post_with_cookies("/api/auth/refresh", &mut before.clone(), Some(&csrf))
        .await;
    app.assert_error((status, body), 401, "invalid_refresh_token");
    assert_eq!(app.audit("logout").await.len(), 1);
    // The helper's sign-in is another family and still works.
    let (status, _) = app
        .post_with_cookies(
            "/api/auth/refresh",
            &mut app.user.cookies.clone(),
            Some(&app.user.csrf),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_and_access_token() {
    let app = TestApp::spawn().await;
    let (_, other, mut other_jar) = app.login("alice", PASSWORD, None).await;
    let (status, sessions) = app.get_json("/api/me/sessions").await;
    assert_eq!(status, 200);
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions}");

    let (status, _) = app
        .send_json(Method::POST, "/api/auth/logout-all", json!({}))
        .await;
    assert_eq!(status, 204);
    for token in [
        app.user.token.as_str(),
        other["access_token"].as_str().unwrap(),
    ] {
        let (status, body) = app
            .with_token(Method::GET, "/api/documents", Some(token))
            .await;
        app.assert_error((status, body), 401, "invalid_token");
    }
    let (status, _) = app
        .post_with_cookies(
            "/api/auth/refresh",
            &mut other_jar,
            other["csrf_token"].as_str(),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(app.audit("logout_all").await.len(), 1);
    // Signing in again works and starts from scratch.
    let (status, fresh, _) = app.login("alice", PASSWORD, None).await;
    assert_eq!(status, 200);
    let (status, sessions) = app
        .with_token(
            Method::GET,
            "/api/me/sessions",
            fresh["access_token"].as_str(),
        )
        .await;
    assert_eq!((status, sessions.as_array().map(Vec::len)), (200, Some(1)));
}

#[tokio::test]
async fn forged_expired_and_missing_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let parts: Vec<&str> = app.user.token.split('.').collect();
    let payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let bob = app.new_user("bob").await;

    let mut forged = Vec::new();
    // alg: none, no signature.
    forged.push(format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    ));
    // The claims changed to another user, the old signature kept.
    let mut as_bob = payload.clone();
    as_bob["sub"] = json!(bob.id);
    forged.push(format!(
        "{}.{}.{}",
        parts[0],
        b64(&as_bob.to_string()),
        parts[2]
    ));
    // Signed with another key.
    let other = docuvault_core::auth::TokenKeys::new(
        &docuvault_core::crypto::Sealer::new(&docuvault_core::Secret::new("x".repeat(48))),
        Duration::from_secs(900),
    );
    forged.push(other.issue(app.user.id, 0).unwrap().0);
    // Signed with the right key but expired.
    let expired_keys = docuvault_core::auth::TokenKeys::new(
        &docuvault_core::crypto::Sealer::new(&docuvault_core::Secret::new(
            crate::helpers::stack_var("SECRET_KEY"),
        )),
        Duration::ZERO,
    );
    let expired = expired_keys.issue(app.user.id, 0).unwrap().0;
    // (The same key really signs valid tokens: with a lifetime it is accepted.)
    let valid_keys = docuvault_core::auth::TokenKeys::new(
        &docuvault_core::crypto::Sealer::new(&docuvault_core::Secret::new(
            crate::helpers::stack_var("SECRET_KEY"),
        )),
        Duration::from_secs(60),
    );
    let (status, _) = app
        .with_token(
            Method::GET,
            "/api/me",
            Some(&valid_keys.issue(app.user.id, 0).unwrap().0),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    forged.push(expired);
    forged.push("not.a.jwt".to_owned());

    for token in &forged {
        let (status, body) = app
            .with_token(Method::GET, "/api/documents", Some(token))
            .await;
        app.assert_error((status, body), 401, "invalid_token");
    }
    let resp = app
        .anonymous()
        .get(app.url("/api/documents"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "missing_token");
    // Every /api route but the auth ones and /health needs a token.
    for (method, path) in [
        (Method::GET, "/api/topics"),
        (Method::POST, "/api/topics"),
        (Method::GET, "/api/settings"),
        (Method::PUT, "/api/settings"),
        (Method::GET, "/api/me"),
        (Method::POST, "/api/auth/logout-all"),
        (Method::GET, "/api/admin/users"),
        (Method::POST, "/api/documents/upload"),
    ] {
        let (status, _) = app.with_token(method.clone(), path, None).await;
        assert_eq!(status, 401, "{method} {path}");
    }
    let (status, _) = app.with_token(Method::GET, "/health", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn brute_force_is_refused_then_allowed_after_the_window() {
    let app = TestApp::spawn_with(Options {
        env: vec![
            ("AUTH_RATE_MAX_PER_ACCOUNT", "3".into()),
            ("AUTH_RATE_WINDOW_SECS", "2".into()),
        ],
        ..Options::default()
    })
    .await;
    // Handle and email are one account: alternating them does not buy more attempts.
    for login in ["alice", "ALICE@example.org", "alice"] {
        let (status, _, _) = app.login(login, "wrong password!!", None).await;
        assert_eq!(status, 401);
    }
    // Locked: even the right password is refused until the window ends.
    let resp = app
        .anonymous()
        .post(app.url("/api/auth/login"))
        .json(&json!({ "login": "alice@example.org", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(app.audit("login_locked").await.len(), 1);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body, _) = app.login("alice", PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn concurrent_guesses_cannot_beat_the_per_account_limit() {
    let app = TestApp::spawn_with(Options {
        env: vec![
            ("AUTH_RATE_MAX_PER_ACCOUNT", "10".into()),
            ("AUTH_RATE_MAX_PER_IP", "1000".into()),
        ],
        ..Options::default()
    })
    .await;
    // 40 wrong passwords at once. Before the fix the limit was checked before any of them was
    // counted, and all 40 were tried (all 401).
    let guesses = (0..40).map(|i| {
        let client = app.anonymous();
        let url = app.url("/api/auth/login");
        async move {
            client
                .post(url)
                .json(&json!({ "login": "alice", "password": format!("wrong guess {i}!") }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let tried = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((tried, refused), (10, 30), "{statuses:?}");
    assert_eq!(app.audit("login_failed").await.len(), 10);
    assert_eq!(app.audit("login_locked").await.len(), 1);
}

#[tokio::test]
async fn a_right_password_gives_its_reserved_attempt_back() {
    let app = TestApp::spawn_with(Options {
        env: vec![("AUTH_RATE_MAX_PER_ACCOUNT", "3".into())],
        ..Options::default()
    })
    .await;
    // Two failures, then many successful logins: none of them uses up the allowance.
    for _ in 0..2 {
        assert_eq!(app.login("alice", "wrong password!!", None).await.0, 401);
    }
    for _ in 0..5 {
        let (status, body, _) = app.login("alice", PASSWORD, None).await;
        assert_eq!(status, 200, "{body}");
    }
    // Success cleared the failures: three more may be tried.
    for _ in 0..3 {
        assert_eq!(app.login("alice", "wrong password!!", None).await.0, 401);
    }
    assert_eq!(app.login("alice", PASSWORD, None).await.0, 429);
}

#[tokio::test]
async fn attempts_per_address_are_limited_across_accounts() {
    let app = TestApp::spawn_with(Options {
        // The helper's registration and login already count.
        env: vec![("AUTH_RATE_MAX_PER_IP", "4".into())],
        ..Options::default()
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let (status, _, _) = app.login(&format!("user{i}"), PASSWORD, None).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in_refresh_or_use_a_token() {
    let app = TestApp::spawn().await;
    let admin = app.new_admin("root").await;
    let resp = admin
        .client
        .patch(app.url(&format!("/api/admin/users/{}", app.user.id)))
        .json(&json!({ "is_active": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, body) = app.get_json("/api/documents").await;
    app.assert_error((status, body), 401, "invalid_token");
    let (status, body) = app
        .post_with_cookies(
            "/api/auth/refresh",
            &mut app.user.cookies.clone(),
            Some(&app.user.csrf),
        )
        .await;
    app.assert_error((status, body), 401, "invalid_refresh_token");
    let (status, body, _) = app.login("alice", PASSWORD, None).await;
    app.assert_error((status, body), 401, "invalid_credentials");

    let resp = admin
        .client
        .patch(app.url(&format!("/api/admin/users/{}", app.user.id)))
        .json(&json!({ "is_active": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, _, _) = app.login("alice", PASSWORD, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn password_change_needs_the_current_password_and_ends_sessions() {
    let app = TestApp::spawn().await;
    let new = "a brand new passphrase";
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/me/password",
            json!({ "current_password": "wrong one!!", "new_password": new }),
        )
        .await;
    app.assert_error((status, body), 403, "wrong_password");
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/me/password",
            json!({ "current_password": PASSWORD, "new_password": "123" }),
        )
        .await;
    app.assert_error((status, body), 422, "weak_password");
    let (status, _) = app
        .send_json(
            Method::POST,
            "/api/me/password",
            json!({ "current_password": PASSWORD, "new_password": new }),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.get_json("/api/me").await;
    assert_eq!(status, 401, "the old access token ended");
    assert_eq!(app.login("alice", PASSWORD, None).await.0, 401);
    assert_eq!(app.login("alice", new, None).await.0, 200);
    assert_eq!(app.audit("password_changed").await.len(), 1);
}

#[tokio::test]
async fn security_headers_and_cors() {
    let app = TestApp::spawn_with(Options {
        env: vec![
            ("CORS_ALLOWED_ORIGINS", "https://app.example.org".into()),
            ("PUBLIC_URL", "https://vault.example.org".into()),
        ],
        ..Options::default()
    })
    .await;
    let resp = app.get("/api/me").await;
    let h = resp.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(
        h["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );

    let preflight = |origin: &'static str| {
        app.anonymous()
            .request(Method::OPTIONS, app.url("/api/auth/refresh"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-csrf-token")
            .send()
    };
    let ok = preflight("https://app.example.org").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let evil = preflight("https://evil.example.com").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    // Served over http (the default test server), there is no HSTS.
    let plain = TestApp::spawn().await;
    assert!(
        plain
            .get("/health")
            .await
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test]
async fn expired_sign_in_data_is_pruned_and_live_data_kept() {
    let app = TestApp::spawn().await;
    for sql in [
        "INSERT INTO refresh_tokens (user_id, token_hash, expires_at) VALUES ($1, 'old', now() - interval '2 days')",
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ('old', $1, now() - interval '2 days')",
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ('new', $1, now() + interval '10 minutes')",
    ] {
        sqlx::query(sql)
            .bind(app.user.id)
            .execute(&app.db)
            .await
            .unwrap();
    }
    let pruned = docuvault_core::db::sessions::prune_expired(&app.db)
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    assert_eq!(app.count("password_resets").await, 1);
    // The helper's live sign-in still refreshes.
    let (status, _) = app
        .post_with_cookies(
            "/api/auth/refresh",
            &mut app.user.cookies.clone(),
            Some(&app.user.csrf),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sign_in_answers_503_at_once_when_a_dependency_is_down() {
    let app = TestApp::spawn_with_proxies().await;
    // Rate limits live in Redis: without it, login fails closed (503), and says so at once.
    app.proxies().redis.set(Mode::Down);
    let started = std::time::Instant::now();
    let (status, body, cookies) = app.login("alice", PASSWORD, None).await;
    let took = started.elapsed();
    app.assert_error((status, body), 503, "dependency_unavailable");
    assert!(cookies.0.is_empty());
    assert!(
        took < Duration::from_secs(5),
        "login took {took:?} with Redis down"
    );
    app.proxies().redis.set(Mode::Up);

    // The bearer check reads the account from PostgreSQL.
    app.proxies().postgres.set(Mode::Down);
    let started = std::time::Instant::now();
    let (status, body) = app.get_json("/api/me").await;
    let took = started.elapsed();
    app.assert_error((status, body), 503, "dependency_unavailable");
    assert!(
        took < Duration::from_secs(5),
        "/api/me took {took:?} with PostgreSQL down"
    );
    app.proxies().postgres.set(Mode::Up);

    // Both back: everything works again without a restart.
    let mut ok = false;
    for _ in 0..50 {
        if app.login("alice", PASSWORD, None).await.0 == 200
            && app.get_json("/api/me").await.0 == 200
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "did not recover");
}
