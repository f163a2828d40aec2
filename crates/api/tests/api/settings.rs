//! AI settings: validated, and the API key is write-only.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn settings_default_to_local_and_never_echo_the_key() {
    let app = TestApp::spawn().await;
    let (status, s) = app.get_json("/api/settings").await;
    assert_eq!(status, 200);
    assert_eq!(s["provider"], "local");
    assert_eq!(s["api_key_set"], false);

    let key = "sk-test-0123456789-very-secret";
    let resp = app
        .client
        .put(app.url("/api/settings"))
        .json(&json!({"provider": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:11434/v1", "api_key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(key), "PUT echoed the key: {text}");
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (s["provider"].as_str(), s["model"].as_str()),
        (Some("openai"), Some("gpt-4o-mini"))
    );
    assert_eq!(s["base_url"], "http://127.0.0.1:11434/v1");
    assert_eq!(s["api_key_set"], true);

    let text = app.get("/api/settings").await.text().await.unwrap();
    assert!(
        !text.contains(key) && !text.contains("api_key\""),
        "GET exposes the key: {text}"
    );

    // Stored sealed, not in the clear.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT api_key_enc FROM ai_settings")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!stored.windows(key.len()).any(|w| w == key.as_bytes()));
    let sealer = docuvault_core::crypto::Sealer::new(&docuvault_core::Secret::new(
        crate::helpers::stack_var("SECRET_KEY"),
    ));
    let opened = sealer
        .open(
            docuvault_core::crypto::Purpose::AiApiKey,
            app.user.id,
            &stored,
        )
        .unwrap();
    assert_eq!(opened, key.as_bytes());

    // Omitting the key keeps it; null removes it.
    let (_, s) = app
        .send_json(
            Method::PUT,
            "/api/settings",
            json!({"provider": "anthropic", "model": "claude-x"}),
        )
        .await;
    assert_eq!(
        (s["provider"].as_str(), s["api_key_set"].as_bool()),
        (Some("anthropic"), Some(true))
    );
    let (_, s) = app
        .send_json(
            Method::PUT,
            "/api/settings",
            json!({"provider": "local", "api_key": null}),
        )
        .await;
    assert_eq!(
        (
            s["provider"].as_str(),
            s["api_key_set"].as_bool(),
            s["model"].as_str()
        ),
        (Some("local"), Some(false), None)
    );
    assert_eq!(
        app.count("ai_settings").await,
        1,
        "one row, updated in place"
    );

    let bad = [
        (json!({"provider": "gpt"}), 422, "invalid_provider"),
        (
            json!({"provider": "openai", "base_url": "ftp://x"}),
            422,
            "invalid_base_url",
        ),
        (
            json!({"provider": "openai", "base_url": "http://user:pw@host"}),
            422,
            "invalid_base_url",
        ),
        (
            json!({"provider": "openai", "apiKey": "x"}),
            400,
            "invalid_json",
        ),
    ];
    for (body, want_status, want_code) in bad {
        let (status, got) = app
            .send_json(Method::PUT, "/api/settings", body.clone())
            .await;
        assert_eq!(
            (status, got["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{body}"
        );
    }
}
