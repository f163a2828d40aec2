//! API tokens: made from a sign-in, shown once, stored hashed, scoped on every route, revoked
//! at once, audited.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, text_file};

async fn create(app: &TestApp, name: &str, scope: &str) -> (String, String) {
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/me/tokens",
            json!({ "name": name, "scope": scope }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["id"].as_str().unwrap().to_owned(),
    )
}

fn client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Whether the answer is the scope refusal (and nothing else that happens to be a 403).
async fn refused_by_scope(resp: reqwest::Response) -> bool {
    if resp.status() != 403 {
        return false;
    }
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    body["error"]["code"] == "token_scope"
}

#[tokio::test]
async fn tokens_are_shown_once_stored_hashed_used_and_revoked() {
    let app = TestApp::spawn().await;
    let (token, id) = create(&app, "scanner", "upload").await;
    assert!(token.starts_with("dvt_") && token.len() > 40, "{token}");

    // The list shows the prefix, never the secret; the database holds only its hash.
    let (status, list) = app.get_json("/api/me/tokens").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "scanner");
    assert_eq!(list[0]["scope"], "upload");
    assert_eq!(list[0]["live"], true);
    assert!(list[0]["last_used_at"].is_null());
    assert!(token.starts_with(list[0]["prefix"].as_str().unwrap()));
    assert!(!list.to_string().contains(&token));
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!stored.contains(&token[4..]));

    // It uploads as its owner, and its use is recorded.
    let scanner = client(&token);
    let doc = app.upload_as(&scanner, "scan.txt", text_file(1, 200)).await;
    let (_, mine) = app.get_json("/api/documents").await;
    assert_eq!(mine["items"][0]["id"], doc.as_str());
    let (_, list) = app.get_json("/api/me/tokens").await;
    assert!(list[0]["last_used_at"].is_string());

    // An upload token cannot read or delete what it stored.
    let doc_path = format!("/api/documents/{doc}");
    assert!(refused_by_scope(scanner.get(app.url(&doc_path)).send().await.unwrap()).await);
    assert!(
        refused_by_scope(
            scanner
                .get(app.url(&format!("{doc_path}/download")))
                .send()
                .await
                .unwrap()
        )
        .await
    );
    assert!(refused_by_scope(scanner.delete(app.url(&doc_path)).send().await.unwrap()).await);
    assert!(
        refused_by_scope(
            scanner
                .get(app.url(&format!("{doc_path}/preview")))
                .send()
                .await
                .unwrap()
        )
        .await
    );

    // Nobody else can revoke it; its owner can, and it stops working at once.
    let bob = app.new_user("bob").await;
    let resp = bob
        .client
        .delete(app.url(&format!("/api/me/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = app.delete(&format!("/api/me/tokens/{id}")).await;
    assert_eq!(resp.status(), 204);
    let resp = scanner.get(app.url("/api/me")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let (_, list) = app.get_json("/api/me/tokens").await;
    assert_eq!(list[0]["live"], false);
    assert!(list[0]["revoked_at"].is_string());
    let resp = app.delete(&format!("/api/me/tokens/{id}")).await;
    assert_eq!(resp.status(), 404, "revoked twice");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "api_token_not_found");

    // Both changes are in the audit log, without the secret.
    let created = app.audit("api_token_created").await;
    let revoked = app.audit("api_token_revoked").await;
    assert_eq!((created.len(), revoked.len()), (1, 1));
    assert_eq!(created[0].0, Some(app.user.id));
    assert_eq!(created[0].3["scope"], "upload");
    assert_eq!(revoked[0].3["token_id"], id.as_str());
    assert!(!created[0].3.to_string().contains(&token));
}

#[tokio::test]
async fn expired_tokens_of_inactive_users_and_bad_input_are_refused() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/me/tokens",
            json!({ "name": "nightly backup", "scope": "read", "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(status, 201);
    let expires: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days} h");
    let reader = client(body["token"].as_str().unwrap());
    assert_eq!(
        reader
            .get(app.url("/api/documents"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    let resp = reader.get(app.url("/api/documents")).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    let (token, _) = create(&app, "still good", "full").await;
    let full = client(&token);
    assert_eq!(
        full.get(app.url("/api/me")).send().await.unwrap().status(),
        200
    );
    sqlx::query("UPDATE users SET is_active = false WHERE id = $1")
        .bind(app.user.id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        full.get(app.url("/api/me")).send().await.unwrap().status(),
        401
    );
    sqlx::query("UPDATE users SET is_active = true WHERE id = $1")
        .bind(app.user.id)
        .execute(&app.db)
        .await
        .unwrap();

    // A made-up token in the right shape, and bad input to create one.
    let forged = client(&format!("dvt_{}", "A".repeat(43)));
    assert_eq!(
        forged
            .get(app.url("/api/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for (input, code) in [
        (json!({ "name": "", "scope": "read" }), "invalid_token_name"),
        (
            json!({ "name": "x", "scope": "admin" }),
            "invalid_token_scope",
        ),
        (
            json!({ "name": "x", "scope": "read", "expires_in_days": 0 }),
            "invalid_token_expiry",
        ),
        (
            json!({ "name": "x", "scope": "read", "expires_in_days": 99999 }),
            "invalid_token_expiry",
        ),
    ] {
        let answer = app.send_json(Method::POST, "/api/me/tokens", input).await;
        app.assert_error(answer, 422, code);
    }
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 2, "refused requests made no token");
}

/// Every documented route, with every scope: the expected answer is written out here, apart
/// from the server's own policy, so a new route that slips into a scope shows up.
#[tokio::test]
async fn every_route_honours_every_scope() {
    let app = TestApp::spawn().await;
    let upload_routes: BTreeSet<(&str, &str)> = [
        ("POST", "/api/documents/upload"),
        ("POST", "/api/uploads"),
        ("POST", "/api/uploads/{id}/complete"),
        ("DELETE", "/api/uploads/{id}"),
        ("GET", "/api/me"),
        ("GET", "/api/me/quota"),
    ]
    .into();
    let session_only = |path: &str| {
        [
            "/api/me/tokens",
            "/api/me/mail-accounts",
            "/api/me/password",
            "/api/me/totp/",
            "/api/me/sessions",
            "/api/auth/",
            "/api/admin/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
    };

    let (_, spec) = app.get_json("/api/openapi.json").await;
    let mut routes = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_some() {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(routes.len() > 40, "{} routes", routes.len());

    let mut checked = 0;
    for scope in ["upload", "read", "full"] {
        let (token, _) = create(&app, scope, scope).await;
        let c = client(&token);
        for (method, path) in &routes {
            let allowed = !session_only(path)
                && match scope {
                    "upload" => upload_routes.contains(&(method.as_str(), path.as_str())),
                    "read" => method == "GET",
                    _ => true,
                };
            let url = app.url(
                &path
                    .replace("{id}", &Uuid::new_v4().to_string())
                    .replace("{share_id}", &Uuid::new_v4().to_string()),
            );
            let resp = c
                .request(method.parse().unwrap(), url)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let refused = refused_by_scope(resp).await;
            assert_eq!(
                refused, !allowed,
                "{scope} token, {method} {path}: answered {status}"
            );
            if allowed {
                assert_ne!(status, 401, "{scope} token, {method} {path}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * 3);
}
