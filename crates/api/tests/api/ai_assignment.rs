//! The AI provider that classifies a user's documents is the admin's decision: assigned per
//! user (two local servers speaking OpenAI's and Anthropic's wire formats stand in for the
//! paid providers), the instance default otherwise, and a user may choose their own only where
//! an admin allowed it. Every change is audited, never with the key.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fake_ai::{FakeAi, Reply, anthropic_answer, openai_answer};
use crate::helpers::{Options, TestApp, TestUser};

/// No self-service and private endpoints only for admins: production's
/// defaults.
async fn locked_app(extra: Vec<(&'static str, String)>) -> TestApp {
    let mut env = vec![
        ("AI_SELF_SERVICE_DEFAULT", "false".to_owned()),
        ("AI_ALLOW_PRIVATE_ENDPOINTS", "false".to_owned()),
    ];
    env.extend(extra);
    TestApp::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await
}

async fn assign(app: &TestApp, admin: &TestUser, user: uuid::Uuid, body: Value) -> (u16, Value) {
    let resp = admin
        .client
        .put(app.url(&format!("/api/admin/users/{user}/ai")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn finance(client: &reqwest::Client, app: &TestApp) {
    let resp = client
        .post(app.url("/api/topics"))
        .json(&json!({"name": "Finance", "description": "invoices, bank statements"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

async fn upload(client: &reqwest::Client, app: &TestApp, text: &str) -> String {
    app.upload_as(client, "a.txt", text.as_bytes().to_vec())
        .await
}

#[tokio::test]
async fn users_change_their_provider_only_where_an_admin_allowed_it() {
    let app = locked_app(Vec::new()).await;
    let (status, settings) = app.get_json("/api/settings").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            settings["provider"].as_str(),
            settings["source"].as_str(),
            settings["self_service"].as_bool()
        ),
        (Some("local"), Some("default"), Some(false))
    );
    let choose = json!({"provider": "openai", "model": "gpt-x", "base_url": "https://api.example.org/v1", "api_key": "sk-secret-1"});
    let refused = app
        .send_json(Method::PUT, "/api/settings", choose.clone())
        .await;
    app.assert_error(refused, 403, "ai_settings_locked");
    assert_eq!(app.count("ai_settings").await, 0);

    let admin = app.new_admin("root").await;
    let (status, view) = assign(
        &app,
        &admin,
        app.user.id,
        json!({"provider": "default", "self_service": true}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["self_service"], true);
    let (status, mine) = app.send_json(Method::PUT, "/api/settings", choose).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(
        (mine["provider"].as_str(), mine["source"].as_str()),
        (Some("openai"), Some("user"))
    );

    // Taken back: the user's choice stays in effect until the admin assigns another, but the
    // user cannot change it any more.
    assign(
        &app,
        &admin,
        app.user.id,
        json!({"provider": "local", "self_service": false}),
    )
    .await;
    let (_, now) = app.get_json("/api/settings").await;
    assert_eq!(
        (now["provider"].as_str(), now["source"].as_str()),
        (Some("local"), Some("admin"))
    );
    let again = app
        .send_json(Method::PUT, "/api/settings", json!({"provider": "openai"}))
        .await;
    app.assert_error(again, 403, "ai_settings_locked");

    // The instance default takes no settings of its own.
    let (status, refused) = assign(
        &app,
        &admin,
        app.user.id,
        json!({"provider": "default", "model": "x"}),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("invalid_assignment"))
    );

    // Not for users: the admin route.
    let (status, _) = app
        .get_json(&format!("/api/admin/users/{}/ai", admin.id))
        .await;
    assert_eq!(status, 403);

    // Audited with the actor, never with the key.
    let assigned = app.audit("ai_assigned").await;
    assert_eq!(assigned.len(), 2);
    let changed = app.audit("ai_settings_changed").await;
    assert_eq!(changed.len(), 1);
    let all = format!("{assigned:?}{changed:?}");
    assert!(!all.contains("sk-secret-1"), "{all}");
    assert!(all.contains("replaced"), "{all}");
}

#[tokio::test]
async fn each_users_documents_go_to_the_provider_their_admin_assigned() {
    let openai = FakeAi::start(|_| Reply::ok(openai_answer(r#"{"topics": ["Finance"]}"#))).await;
    let anthropic =
        FakeAi::start(|_| Reply::ok(anthropic_answer(r#"{"topics": ["Finance"]}"#))).await;
    // Private endpoints are refused to users; an admin's assignment may use one.
    let app = locked_app(Vec::new()).await;
    let admin = app.new_admin("root").await;
    let bob = app.new_user("bob").await;
    let (status, view) = assign(
        &app,
        &admin,
        app.user.id,
        json!({"provider": "openai", "model": "model-a", "base_url": format!("{}/v1", openai.base_url), "api_key": "sk-alice"}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["source"].as_str(), view["api_key_set"].as_bool()),
        (Some("admin"), Some(true))
    );
    assign(
        &app,
        &admin,
        bob.id,
        json!({"provider": "anthropic", "model": "model-b", "base_url": anthropic.base_url, "api_key": "sk-bob"}),
    )
    .await;

    finance(&app.client, &app).await;
    finance(&bob.client, &app).await;
    let alices = upload(
        &app.client,
        &app,
        "Alice's invoice: 120 EUR due by bank transfer.",
    )
    .await;
    let bobs = upload(&bob.client, &app, "Bob's bank statement for March.").await;
    assert_eq!(app.process_all().await.classified, 2);

    let to_openai = openai.requests();
    let to_anthropic = anthropic.requests();
    assert_eq!((to_openai.len(), to_anthropic.len()), (1, 1));
    let sent_a = to_openai[0].body.to_string();
    let sent_b = to_anthropic[0].body.to_string();
    assert!(
        sent_a.contains("Alice's invoice") && !sent_a.contains("Bob's"),
        "{sent_a}"
    );
    assert!(
        sent_b.contains("Bob's bank statement") && !sent_b.contains("Alice's"),
        "{sent_b}"
    );
    assert_eq!(to_openai[0].headers["authorization"], "Bearer sk-alice");
    assert_eq!(to_anthropic[0].headers["x-api-key"], "sk-bob");
    assert_eq!(to_openai[0].body["model"], "model-a");
    assert_eq!(to_anthropic[0].body["model"], "model-b");
    for (client, id) in [(&app.client, &alices), (&bob.client, &bobs)] {
        let doc: Value = client
            .get(app.url(&format!("/api/documents/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["status"], "classified", "{doc}");
        assert_eq!(doc["topics"][0]["name"], "Finance");
    }
}

#[tokio::test]
async fn without_an_assignment_the_instance_default_classifies() {
    let openai = FakeAi::start(|_| Reply::ok(openai_answer(r#"{"topics": ["Finance"]}"#))).await;
    let app = locked_app(vec![
        ("AI_DEFAULT_PROVIDER", "openai".to_owned()),
        ("AI_DEFAULT_MODEL", "house-model".to_owned()),
        ("AI_DEFAULT_BASE_URL", format!("{}/v1", openai.base_url)),
    ])
    .await;
    let (_, settings) = app.get_json("/api/settings").await;
    assert_eq!(
        (
            settings["provider"].as_str(),
            settings["model"].as_str(),
            settings["source"].as_str()
        ),
        (Some("openai"), Some("house-model"), Some("default"))
    );
    finance(&app.client, &app).await;
    upload(&app.client, &app, "An invoice.").await;
    assert_eq!(app.process_all().await.classified, 1);
    let sent = openai.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["model"], "house-model");
    assert!(sent[0].headers.get("authorization").is_none());
}
