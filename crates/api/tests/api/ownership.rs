//! Every document, topic and settings endpoint, tried with another user's token: 404 (not 403,
//! so existence is not leaked) and nothing changed. An admin is just another user here: there
//! is no pathway to act as someone else.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestUser};

async fn call(
    app: &TestApp,
    who: &TestUser,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = who.client.request(method, app.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// Alice's state as seen from the database and the bucket.
async fn snapshot(app: &TestApp) -> String {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT row_to_json(x)::text FROM (
             SELECT 'd' AS t, id::text, filename AS v, status AS w, updated_at::text AS u FROM documents
             UNION ALL SELECT 't', id::text, name, color, updated_at::text FROM topics
             UNION ALL SELECT 's', user_id::text, provider, coalesce(model, ''), updated_at::text FROM ai_settings
         ) x ORDER BY 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    format!("{rows:?} {:?}", app.bucket_keys().await)
}

#[tokio::test]
async fn another_users_token_finds_nothing_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let doc = app
        .upload_ok("private.txt", b"alice's secret letter".to_vec())
        .await;
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let (status, topic) = app
        .send_json(
            Method::POST,
            "/api/topics",
            json!({ "name": "Private", "description": "mine" }),
        )
        .await;
    assert_eq!(status, 201);
    let topic_id = topic["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send_json(Method::PUT, "/api/settings", json!({ "provider": "openai", "model": "gpt-x", "base_url": "https://api.example.org/v1", "api_key": "sk-alice" }))
        .await;
    assert_eq!(status, 200);
    let before = snapshot(&app).await;

    let bob = app.new_user("bob").await;
    let admin = app.new_admin("root").await;
    for intruder in [&bob, &admin] {
        for (method, path, body) in [
            (Method::GET, format!("/api/documents/{doc_id}"), None),
            (
                Method::GET,
                format!("/api/documents/{doc_id}/content"),
                None,
            ),
            (
                Method::POST,
                format!("/api/documents/{doc_id}/reclassify"),
                None,
            ),
            (Method::DELETE, format!("/api/documents/{doc_id}"), None),
            (
                Method::PUT,
                format!("/api/topics/{topic_id}"),
                Some(json!({ "name": "Hijacked" })),
            ),
            (Method::DELETE, format!("/api/topics/{topic_id}"), None),
        ] {
            let (status, body) = call(&app, intruder, method.clone(), &path, body).await;
            assert_eq!(status, 404, "{} {method} {path}: {body}", intruder.handle);
        }
        let (_, list) = call(&app, intruder, Method::GET, "/api/documents", None).await;
        assert_eq!(list["items"], json!([]), "{}", intruder.handle);
        let (_, topics) = call(&app, intruder, Method::GET, "/api/topics", None).await;
        assert_eq!(topics, json!([]));
        let (_, settings) = call(&app, intruder, Method::GET, "/api/settings", None).await;
        assert_eq!(settings["provider"], "local", "{settings}");
        assert_eq!(settings["api_key_set"], false);
    }
    assert_eq!(snapshot(&app).await, before, "nothing of alice's changed");

    // Bob's own topic may share Alice's topic name; his settings are his own.
    let (status, _) = call(
        &app,
        &bob,
        Method::POST,
        "/api/topics",
        Some(json!({ "name": "Private" })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &app,
        &bob,
        Method::PUT,
        "/api/settings",
        Some(json!({ "provider": "local" })),
    )
    .await;
    assert_eq!(status, 200);
    let (_, mine) = app.get_json("/api/settings").await;
    assert_eq!(
        (mine["provider"].as_str(), mine["api_key_set"].as_bool()),
        (Some("openai"), Some(true))
    );
    let (status, mine) = app.get_json(&format!("/api/documents/{doc_id}")).await;
    assert_eq!(
        (status, mine["filename"].as_str()),
        (200, Some("private.txt"))
    );
}

#[tokio::test]
async fn no_impersonation_route_exists() {
    let app = TestApp::spawn().await;
    let (_, spec) = app.get_json("/api/openapi.json").await;
    let paths: Vec<&String> = spec["paths"].as_object().unwrap().keys().collect();
    for p in &paths {
        assert!(
            !p.contains("imperson") && !p.contains("sudo") && !p.contains("login-as"),
            "{p}"
        );
        if p.starts_with("/api/admin") {
            assert!(
                [
                    "/api/admin/users",
                    "/api/admin/users/{id}",
                    // Which AI provider classifies the user's documents: settings, not content.
                    "/api/admin/users/{id}/ai",
                    "/api/admin/audit-log"
                ]
                .contains(&p.as_str()),
                "unexpected admin route {p}"
            );
        }
    }
    // The document says which operations need the bearer token.
    assert_eq!(
        spec["paths"]["/api/documents"]["get"]["security"],
        json!([{ "bearer": [] }])
    );
    assert_eq!(
        spec["paths"]["/api/auth/logout-all"]["post"]["security"],
        json!([{ "bearer": [] }])
    );
    assert!(
        spec["paths"]["/api/auth/login"]["post"]
            .get("security")
            .is_none()
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Admin answers carry no token for the user they are about.
    let admin = app.new_admin("root").await;
    let (status, users) = call(&app, &admin, Method::GET, "/api/admin/users", None).await;
    assert_eq!(status, 200);
    let text = users.to_string();
    assert!(
        !text.contains("token") && !text.contains("password"),
        "{text}"
    );
}
