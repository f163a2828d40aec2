//! What a person changes by hand: a document's name and topics (`PATCH /api/documents/{id}`;
//! topics set by hand survive classification until the person reclassifies), and one of their
//! sign-ins ended (`DELETE /api/me/sessions/{id}`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};

fn topic_names(doc: &Value) -> Vec<&str> {
    doc["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

async fn patch(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.send_json(Method::PATCH, &format!("/api/documents/{id}"), body)
        .await
}

#[tokio::test]
async fn a_document_is_renamed_within_its_type() {
    let app = TestApp::spawn().await;
    let doc = app.upload_ok("scan 1.txt", b"the lease".to_vec()).await;
    let id = doc["id"].as_str().unwrap();

    let (status, renamed) = patch(&app, id, json!({"filename": "  Lease 2026.txt "})).await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["filename"], "Lease 2026.txt");
    assert_eq!(renamed["extracted_text"], Value::Null);
    let (_, listed) = app.get_json("/api/documents").await;
    assert_eq!(listed["items"][0]["filename"], "Lease 2026.txt");
    // The download carries the new name.
    let resp = app.get(&format!("/api/documents/{id}/content")).await;
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("Lease%202026.txt")
    );

    for name in ["   ", "lease.pdf"] {
        let (status, body) = patch(&app, id, json!({ "filename": name })).await;
        assert_eq!(status, 422, "{name:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_filename");
    }
    // A name without a known extension is fine; nothing else changes.
    let (status, body) = patch(&app, id, json!({"filename": "lease"})).await;
    assert_eq!((status, body["filename"].as_str()), (200, Some("lease")));
    assert_eq!(body["topics_by_hand"], false);

    let bob = app.new_user("bob").await;
    let resp = bob
        .client
        .patch(app.url(&format!("/api/documents/{id}")))
        .json(&json!({"filename": "mine.txt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        patch(&app, &uuid::Uuid::new_v4().to_string(), json!({}))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn topics_set_by_hand_stand_until_the_owner_reclassifies() {
    let app = TestApp::spawn().await;
    let finance = app
        .create_topic("Finance", "invoices, bank statements, payments, tax")
        .await;
    let health = app
        .create_topic("Health", "doctor, hospital, prescriptions")
        .await;
    let doc = app
        .upload_ok(
            "invoice.txt",
            b"Invoice 2026-114: payment due, bank transfer, tax included".to_vec(),
        )
        .await;
    let id = doc["id"].as_str().unwrap();

    // Set by hand before the worker gets to it: classification keeps the person's choice.
    let (status, edited) = patch(&app, id, json!({"topic_ids": [health, health]})).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(topic_names(&edited), vec!["Health"]);
    assert_eq!(edited["topics_by_hand"], true);
    app.process_all().await;
    let (_, done) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(done["status"], "classified");
    assert_eq!(topic_names(&done), vec!["Health"], "{done}");
    assert!(done["extracted_text"].as_str().unwrap().contains("Invoice"));

    // Asking for classification again hands the topics back to the classifier.
    let resp = app
        .client
        .post(app.url(&format!("/api/documents/{id}/reclassify")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    app.process_all().await;
    let (_, again) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(topic_names(&again), vec!["Finance"], "{again}");
    assert_eq!(again["topics_by_hand"], false);

    // None at all is a choice too.
    let (status, none) = patch(&app, id, json!({"topic_ids": []})).await;
    assert_eq!((status, topic_names(&none).len()), (200, 0));

    // Only the owner's topics.
    let bob = app.new_user("bob").await;
    let (_, bobs) = {
        let resp = bob
            .client
            .post(app.url("/api/topics"))
            .json(&json!({"name": "Bob's"}))
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };
    for ids in [
        json!([bobs["id"].clone()]),
        json!([uuid::Uuid::new_v4().to_string()]),
        json!([finance, uuid::Uuid::new_v4().to_string()]),
    ] {
        let (status, body) = patch(&app, id, json!({ "topic_ids": ids })).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "unknown_topic");
    }
    let (_, unchanged) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(topic_names(&unchanged).len(), 0);
}

#[tokio::test]
async fn ending_one_sign_in_leaves_the_others() {
    let app = TestApp::spawn().await;
    let (_, phone, mut phone_jar) = app.login("alice", PASSWORD, None).await;
    let (_, laptop, mut laptop_jar) = app.login("alice", PASSWORD, None).await;
    let (_, sessions) = app.get_json("/api/me/sessions").await;
    let ids: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.len() >= 3,
        "the harness's sign-in and two more: {sessions}"
    );
    // The most recent is the laptop's.
    let laptop_id = ids[0].to_owned();

    let bob = app.new_user("bob").await;
    let resp = bob
        .client
        .delete(app.url(&format!("/api/me/sessions/{laptop_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "not bob's to end");

    let resp = app.delete(&format!("/api/me/sessions/{laptop_id}")).await;
    assert_eq!(resp.status(), 204);
    let (status, _) = app
        .post_with_cookies(
            "/api/auth/refresh",
            &mut laptop_jar,
            laptop["csrf_token"].as_str(),
        )
        .await;
    assert_eq!(status, 401, "the ended sign-in cannot refresh");
    let (status, _) = app
        .post_with_cookies(
            "/api/auth/refresh",
            &mut phone_jar,
            phone["csrf_token"].as_str(),
        )
        .await;
    assert_eq!(status, 200, "the others go on");
    let (_, after) = app.get_json("/api/me/sessions").await;
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != laptop_id.as_str())
    );
    assert_eq!(
        app.delete(&format!("/api/me/sessions/{laptop_id}"))
            .await
            .status(),
        404
    );
    assert_eq!(app.audit("session_ended").await.len(), 1);
}
