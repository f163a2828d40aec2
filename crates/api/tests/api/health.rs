//! `/health` and 503s: each dependency stopped (or hung) in turn, from the server's point of
//! view, through a switchable proxy; the server must answer fast, name the culprit, and recover
//! by itself when the dependency returns.

use std::time::{Duration, Instant};

use crate::helpers::{Mode, TestApp};

/// `/health` must answer within this even when a dependency hangs (the bound).
const HEALTH_BOUND: Duration = Duration::from_secs(2);

async fn health(app: &TestApp) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let (status, body) = app.get_json("/health").await;
    (status, body, started.elapsed())
}

async fn until_healthy(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body, _) = health(app).await;
        if status == 200 {
            assert_eq!(body["status"], "ok");
            return;
        }
        assert!(Instant::now() < deadline, "did not recover: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn health_names_each_dependency_that_is_down_and_recovers() {
    let app = TestApp::spawn_with_proxies().await;
    let (status, body, _) = health(&app).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "postgres": "ok", "object_store": "ok", "redis": "ok", "local_classifier": "lexical"})
    );

    let p = app.proxies();
    for (name, proxy) in [
        ("postgres", &p.postgres),
        ("object_store", &p.object_store),
        ("redis", &p.redis),
    ] {
        proxy.set(Mode::Down);
        let (status, body, took) = health(&app).await;
        assert_eq!(status, 503, "{name} down: {body}");
        assert_eq!(body["status"], "unavailable");
        for dep in ["postgres", "object_store", "redis"] {
            let want = if dep == name { "down" } else { "ok" };
            assert_eq!(body[dep], want, "{name} down: {body}");
        }
        assert!(took < HEALTH_BOUND, "{name} down: /health took {took:?}");
        proxy.set(Mode::Up);
        until_healthy(&app).await;
    }
}

#[tokio::test]
async fn health_answers_in_time_when_every_dependency_hangs() {
    let app = TestApp::spawn_with_proxies().await;
    let p = app.proxies();
    for proxy in [&p.postgres, &p.object_store, &p.redis] {
        proxy.set(Mode::Hang);
    }
    let (status, body, took) = health(&app).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        serde_json::json!({"status": "unavailable", "postgres": "down", "object_store": "down", "redis": "down", "local_classifier": "lexical"})
    );
    assert!(
        took < HEALTH_BOUND,
        "/health took {took:?} with hung dependencies"
    );
    for proxy in [&p.postgres, &p.object_store, &p.redis] {
        proxy.set(Mode::Up);
    }
    until_healthy(&app).await;
}

#[tokio::test]
async fn requests_answer_503_while_a_dependency_is_down_and_work_again_after() {
    let app = TestApp::spawn_with_proxies().await;
    let p = app.proxies();

    p.postgres.set(Mode::Down);
    let resp = app.get("/api/documents").await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "dependency_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("postgres")
    );
    // An upload while PostgreSQL is down stores nothing either: the object is removed again.
    let resp = app
        .upload("a.txt", None, b"while postgres is down".to_vec())
        .await;
    assert_eq!(resp.status(), 503);
    p.postgres.set(Mode::Up);
    until_healthy(&app).await;
    assert_eq!(app.count("documents").await, 0);
    assert!(
        app.bucket_keys().await.is_empty(),
        "the object of a failed upload was left behind"
    );

    p.object_store.set(Mode::Down);
    let resp = app
        .upload("b.txt", None, b"while the store is down".to_vec())
        .await;
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("object_store")
    );
    p.object_store.set(Mode::Up);
    until_healthy(&app).await;
    assert_eq!(app.count("documents").await, 0, "no row without its object");

    app.upload_ok("c.txt", b"after recovery".to_vec()).await;
    assert_eq!(app.count("documents").await, 1);
}

#[tokio::test]
async fn health_says_which_local_classifier_the_workers_use() {
    // The tests' default: no model in MODEL_DIR, so the lexical fallback (asserted above).
    let app = TestApp::spawn_with(crate::helpers::Options::semantic()).await;
    let (status, body, _) = health(&app).await;
    assert_eq!(status, 200);
    assert_eq!(body["local_classifier"], "semantic", "{body}");
}
