//! Topics CRUD and its validation.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn topics_crud_with_validation() {
    let app = TestApp::spawn().await;
    let (status, finance) = app
        .send_json(Method::POST, "/api/topics", json!({"name": "  Finance ", "description": "invoices, bank statements, tax", "color": "#1E90FF"}))
        .await;
    assert_eq!(status, 201, "{finance}");
    assert_eq!(finance["name"], "Finance");
    assert_eq!(finance["color"], "#1e90ff");
    let (status, health) = app
        .send_json(Method::POST, "/api/topics", json!({"name": "Health"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(health["color"], "#6366f1");
    assert_eq!(health["description"], "");

    // Names are unique per owner, case-insensitively.
    let (status, body) = app
        .send_json(Method::POST, "/api/topics", json!({"name": "finance"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("topic_name_taken"))
    );

    let invalid = [
        (json!({"name": "X", "color": "red"}), 422, "invalid_color"),
        (
            json!({"name": "X", "color": "#12345"}),
            422,
            "invalid_color",
        ),
        (json!({"name": "   "}), 422, "invalid_topic_name"),
        (json!({"name": "x".repeat(65)}), 422, "invalid_topic_name"),
        (
            json!({"name": "X", "description": "d".repeat(2001)}),
            422,
            "invalid_topic_description",
        ),
        (
            json!({"colour": "#ffffff", "name": "X"}),
            400,
            "invalid_json",
        ),
        (json!({"description": "no name"}), 400, "invalid_json"),
        (json!(["not", "an", "object"]), 400, "invalid_json"),
    ];
    for (body, want_status, want_code) in invalid {
        let (status, got) = app
            .send_json(Method::POST, "/api/topics", body.clone())
            .await;
        assert_eq!(
            (status, got["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{body}"
        );
    }
    let resp = app
        .client
        .post(app.url("/api/topics"))
        .body("{\"name\":\"X\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415, "JSON without a JSON content type");

    let id = finance["id"].as_str().unwrap();
    let (status, updated) = app
        .send_json(
            Method::PUT,
            &format!("/api/topics/{id}"),
            json!({"name": "Money", "description": "all things money", "color": "#00aa00"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (updated["name"].as_str(), updated["color"].as_str()),
        (Some("Money"), Some("#00aa00"))
    );
    let (status, body) = app
        .send_json(
            Method::PUT,
            &format!("/api/topics/{id}"),
            json!({"name": "HEALTH"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("topic_name_taken"))
    );
    let missing = uuid::Uuid::new_v4();
    let (status, body) = app
        .send_json(
            Method::PUT,
            &format!("/api/topics/{missing}"),
            json!({"name": "Y"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("topic_not_found"))
    );

    let (_, list) = app.get_json("/api/topics").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Health", "Money"]);

    assert_eq!(app.delete(&format!("/api/topics/{id}")).await.status(), 204);
    assert_eq!(app.delete(&format!("/api/topics/{id}")).await.status(), 404);
    assert_eq!(app.count("topics").await, 1);
}

#[tokio::test]
async fn deleting_a_topic_detaches_it_from_documents() {
    let app = TestApp::spawn().await;
    let doc = app.upload_ok("a.txt", b"tax return".to_vec()).await;
    let (_, topic) = app
        .send_json(Method::POST, "/api/topics", json!({"name": "Tax"}))
        .await;
    // The classifier will attach topics like this.
    sqlx::query("INSERT INTO document_topics (document_id, topic_id) VALUES ($1::uuid, $2::uuid)")
        .bind(doc["id"].as_str().unwrap())
        .bind(topic["id"].as_str().unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    let (_, got) = app
        .get_json(&format!("/api/documents/{}", doc["id"].as_str().unwrap()))
        .await;
    assert_eq!(got["topics"][0]["name"], "Tax");
    let (_, page) = app.get_json("/api/documents").await;
    assert_eq!(page["items"][0]["topics"][0]["id"], topic["id"]);

    app.delete(&format!("/api/topics/{}", topic["id"].as_str().unwrap()))
        .await;
    let (_, got) = app
        .get_json(&format!("/api/documents/{}", doc["id"].as_str().unwrap()))
        .await;
    assert_eq!(got["topics"], json!([]));
}
