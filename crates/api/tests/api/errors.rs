//! Wire shapes every client relies on: JSON errors everywhere, and the OpenAPI document.

use crate::helpers::TestApp;

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/api/nothing-here").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        serde_json::json!({"error": {"code": "not_found", "message": "no route for /api/nothing-here"}})
    );
    let resp = app
        .client
        .patch(app.url("/api/documents"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let resp = app.get("/health").await;
    assert!(resp.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/documents/upload", "post"),
        ("/api/documents", "get"),
        ("/api/documents/{id}", "get"),
        ("/api/documents/{id}", "delete"),
        ("/api/documents/{id}/content", "get"),
        ("/api/documents/{id}/reclassify", "post"),
        ("/api/topics", "get"),
        ("/api/topics", "post"),
        ("/api/topics/{id}", "put"),
        ("/api/topics/{id}", "delete"),
        ("/api/settings", "get"),
        ("/api/settings", "put"),
        ("/health", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "DocumentDto",
        "DocumentDetailDto",
        "TopicDto",
        "SettingsDto",
        "ErrorBody",
        "HealthDto",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    // The settings answer has no field that could carry the key.
    assert!(
        schemas["SettingsDto"]["properties"]
            .get("api_key")
            .is_none()
    );
}
