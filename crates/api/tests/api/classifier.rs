//! The semantic local classifier through the real worker and the real model (`MODEL_DIR`):
//! documents sorted by meaning (no words in common with the topics), scores and sources in
//! the API, an unclear document left with suggestions, corrections that teach it (and change
//! nothing already classified until the owner asks), and never a topic that is not the owner's.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

async fn upload(app: &TestApp, name: &str, text: &str) -> String {
    app.upload_ok(name, text.as_bytes().to_vec()).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn document(app: &TestApp, id: &str) -> Value {
    let (status, d) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(status, 200, "{d}");
    d
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn documents_are_sorted_by_meaning_with_a_score() {
    let app = TestApp::spawn_with(Options::semantic()).await;
    app.create_topic(
        "Finance",
        "bills, invoices, bank statements, taxes, payments",
    )
    .await;
    app.create_topic(
        "Health",
        "doctor visits, prescriptions, hospital, health insurance",
    )
    .await;
    app.create_topic("Travel", "flights, hotels, trips, boarding passes")
        .await;
    let cases = [
        (
            "power.txt",
            "Electricity for March: 84 EUR will be debited from your account on 1 May.",
            "Finance",
        ),
        (
            "dr.txt",
            "Dr. Meyer recommends antibiotics twice daily for seven days; come back if the fever stays.",
            "Health",
        ),
        (
            "lisbon.txt",
            "LH 400 to Lisbon leaves at 09:40 from gate B12. Your seat is 14C.",
            "Travel",
        ),
    ];
    let mut ids = Vec::new();
    for (name, text, _) in cases {
        ids.push(upload(&app, name, text).await);
    }
    app.process_all().await;
    for ((name, _, topic), id) in cases.iter().zip(&ids) {
        let doc = document(&app, id).await;
        assert_eq!(doc["status"], "classified", "{name}: {doc}");
        assert_eq!(names(&doc["topics"]), [*topic], "{name}: {doc}");
        let assigned = &doc["topics"][0];
        assert_eq!(assigned["source"], "ai");
        let score = assigned["score"].as_f64().unwrap();
        assert!(score > 0.0 && score <= 1.0, "{score}");
        assert_eq!(doc["suggestions"], json!([]));
    }
    // The embeddings are kept for learning later.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM document_embeddings")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 3);
}

#[tokio::test]
async fn an_unclear_document_gets_suggestions_and_one_click_confirms_them() {
    let app = TestApp::spawn_with(Options::semantic()).await;
    let car = app
        .create_topic("Car", "the car: insurance, repairs, fuel, registration")
        .await;
    app.create_topic(
        "Vehicle",
        "the vehicle: insurance, repairs, fuel, registration",
    )
    .await;
    let id = upload(
        &app,
        "garage.txt",
        "Garage invoice: brake pads replaced and oil changed, 230 EUR.",
    )
    .await;
    app.process_all().await;
    let doc = document(&app, &id).await;
    assert_eq!(doc["topics"], json!([]), "too close to call: {doc}");
    let suggested = names(&doc["suggestions"]);
    assert_eq!(suggested.len(), 2, "{doc}");
    assert!(suggested.contains(&"Car") && suggested.contains(&"Vehicle"));
    assert!(
        doc["suggestions"][0]["score"].as_f64().unwrap()
            >= doc["suggestions"][1]["score"].as_f64().unwrap()
    );

    let (status, doc) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{id}"),
            json!({"topic_ids": [car]}),
        )
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(names(&doc["topics"]), ["Car"]);
    assert_eq!(doc["topics"][0]["source"], "user");
    assert_eq!(doc["topics"][0]["score"], Value::Null);
    assert_eq!(doc["suggestions"], json!([]));
}

#[tokio::test]
async fn a_correction_teaches_later_documents_and_changes_earlier_ones_only_when_asked() {
    let app = TestApp::spawn_with(Options::semantic()).await;
    app.create_topic(
        "Finance",
        "bills, invoices, bank statements, taxes, payments",
    )
    .await;
    // A project the model cannot know from its name alone.
    let project = app.create_topic("Tarnwick", "").await;
    let before = upload(
        &app,
        "parts-1.txt",
        "Invoice 4471 from Hollis Robotics: servo motors and carbon frame for the drone prototype, 1,920 EUR.",
    )
    .await;
    app.process_all().await;
    let doc = document(&app, &before).await;
    assert_eq!(names(&doc["topics"]), ["Finance"], "{doc}");

    // The owner files a similar document under the project by hand…
    let example = upload(
        &app,
        "parts-2.txt",
        "Hollis Robotics invoice 4502: replacement rotor blades and a flight controller for the drone prototype.",
    )
    .await;
    app.process_all().await;
    let (status, body) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{example}"),
            json!({"topic_ids": [project]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // …and the next one goes there by itself.
    let after = upload(
        &app,
        "parts-3.txt",
        "Invoice 4539 from Hollis Robotics: battery packs and a camera gimbal for the drone prototype, 860 EUR.",
    )
    .await;
    app.process_all().await;
    let doc = document(&app, &after).await;
    assert_eq!(names(&doc["topics"]), ["Tarnwick"], "{doc}");
    assert_eq!(doc["topics"][0]["source"], "ai");

    // The document classified before the correction stays as it was…
    assert_eq!(names(&document(&app, &before).await["topics"]), ["Finance"]);
    // …until the owner asks for every unconfirmed document to be classified again; the one
    // set by hand keeps its topic.
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/documents/reclassify-unconfirmed",
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["queued"], 2, "{body}");
    app.process_all().await;
    assert_eq!(
        names(&document(&app, &before).await["topics"]),
        ["Tarnwick"]
    );
    let kept = document(&app, &example).await;
    assert_eq!(names(&kept["topics"]), ["Tarnwick"]);
    assert_eq!(kept["topics"][0]["source"], "user");
}

#[tokio::test]
async fn only_the_owners_topics_are_ever_assigned() {
    let app = TestApp::spawn_with(Options::semantic()).await;
    let bob = app.new_user("bob").await;
    let resp = bob
        .client
        .post(app.url("/api/topics"))
        .json(&json!({"name": "Finance", "description": "bills, invoices, bank statements, payments"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let recipes = app
        .create_topic("Recipes", "cooking, baking, ingredients")
        .await;
    let id = upload(
        &app,
        "bill.txt",
        "Invoice 88: please pay 120 EUR by bank transfer within 14 days.",
    )
    .await;
    app.process_all().await;
    let doc = document(&app, &id).await;
    for t in doc["topics"]
        .as_array()
        .unwrap()
        .iter()
        .chain(doc["suggestions"].as_array().unwrap())
    {
        assert_eq!(t["id"], recipes.as_str(), "only alice's topic: {doc}");
    }
    let foreign: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM document_topics dt JOIN topics t ON t.id = dt.topic_id
           JOIN documents d ON d.id = dt.document_id WHERE t.user_id <> d.user_id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(foreign, 0);
}
