//! Regression tests for the review of the worker, delete path and `/metrics` (issue 11): job
//! fencing, poison jobs, orphan clean-up order, crash-safe delete, the reasons documents show,
//! and the protected metrics scrape. Each failed on the code before its fix.

use std::sync::Arc;
use std::time::Duration;

use docuvault_core::db::pipeline as q;
use docuvault_core::pipeline::Processed;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{Mode, Options, TestApp};

const INVOICE: &[u8] = b"Invoice no. 7. Amount due: 120 EUR, payable by bank transfer.";

async fn upload(app: &TestApp, name: &str) -> Uuid {
    let doc = app.upload_ok(name, INVOICE.to_vec()).await;
    doc["id"].as_str().expect("id").parse().expect("uuid")
}

async fn row(app: &TestApp, id: Uuid) -> (String, i32, i32, Option<String>) {
    sqlx::query_as("SELECT status, attempts, failures, error FROM documents WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .expect("row")
}

async fn document(app: &TestApp, id: Uuid) -> Value {
    let (status, doc) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(status, 200, "{doc}");
    doc
}

fn done() -> Processed {
    Processed {
        text: "text".into(),
        truncated: false,
        ocr_pages: 0,
        topics: Vec::new(),
        suggestions: Vec::new(),
        embedding: None,
        thumbnail_key: None,
    }
}

#[tokio::test]
async fn every_job_transition_is_fenced_by_its_attempt_and_attempts_only_grow() {
    let app = TestApp::spawn().await;
    let id = upload(&app, "a.txt").await;
    let db = &app.db;

    // Worker A claims with a lease that runs out at once; worker B takes the document over.
    let a = q::claim(db, id, Duration::ZERO).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = q::claim(db, id, Duration::from_secs(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.attempts, b.attempts, b.failures), (1, 2, 1));

    // A stops gracefully and gives back what it believes it holds: B's job stays B's (before
    // the fix, the give-back matched on the status alone and made it pending under B).
    assert_eq!(q::release(db, &[(id, a.attempts)]).await.unwrap(), 0);
    assert_eq!(row(&app, id).await.0, "processing");
    assert!(!q::finish(db, id, a.attempts, &done()).await.unwrap());
    assert!(!q::fail(db, id, a.attempts, "late").await.unwrap());
    assert!(q::finish(db, id, b.attempts, &done()).await.unwrap());

    // Reclassifying does not reset the attempt number (before: back to 0, so attempt 1 and 2
    // could match again), and B's stale number no longer matches the new claim.
    let (_, reclassified) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/documents/{id}/reclassify"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(reclassified["status"], "pending", "{reclassified}");
    let c = q::claim(db, id, Duration::from_secs(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.attempts, c.failures), (3, 0));
    assert!(
        !q::retry_later(db, id, b.attempts, "stale", Duration::ZERO)
            .await
            .unwrap()
    );
    assert!(!q::finish(db, id, a.attempts, &done()).await.unwrap());

    // A graceful give-back by the holder makes it due again without counting a failure.
    assert_eq!(q::release(db, &[(id, c.attempts)]).await.unwrap(), 1);
    let (status, attempts, failures, _) = row(&app, id).await;
    assert_eq!((status.as_str(), attempts, failures), ("pending", 3, 0));
}

#[tokio::test]
async fn a_document_whose_processing_panics_fails_after_the_attempt_limit() {
    let app = TestApp::spawn_with(Options {
        env: vec![("JOB_MAX_ATTEMPTS", "3".to_owned())],
        ..Options::default()
    })
    .await;
    let poison = upload(&app, "poison.txt").await;
    let fine = upload(&app, "fine.txt").await;
    let worker = app.worker().with_hook(Arc::new(move |job| {
        assert!(job.id != poison, "injected panic for the poison document");
    }));
    let stats = tokio::time::timeout(Duration::from_secs(60), worker.run_until_idle())
        .await
        .expect("idle within 60 s (before the fix: the panic escaped the worker)")
        .expect("run");
    assert_eq!((stats.classified, stats.failed, stats.retried), (1, 1, 2));
    let (status, attempts, failures, error) = row(&app, poison).await;
    assert_eq!((status.as_str(), attempts, failures), ("failed", 3, 2));
    assert_eq!(
        error.as_deref(),
        Some("gave up after 3 attempts: processing crashed on an internal error")
    );
    assert_eq!(row(&app, fine).await.0, "classified");
}

#[tokio::test]
async fn a_taken_over_job_counts_against_the_limit() {
    let app = TestApp::spawn_with(Options {
        env: vec![("JOB_MAX_ATTEMPTS", "2".to_owned())],
        ..Options::default()
    })
    .await;
    let id = upload(&app, "a.txt").await;
    // Two workers die holding it (their leases run out); the third taker gives up on it.
    for _ in 0..2 {
        q::claim(&app.db, id, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = app.process_all().await;
    assert_eq!((stats.classified, stats.failed), (0, 1));
    let doc = document(&app, id).await;
    assert_eq!(doc["status"], "failed");
    assert_eq!(
        doc["error"],
        "gave up after 2 attempts: the worker processing it stopped before finishing (it crashed, was killed or hung)"
    );
}

#[tokio::test]
async fn an_orphans_entry_outlives_a_failed_object_delete() {
    let app = TestApp::spawn_with_proxies().await;
    let id = upload(&app, "orphan.txt").await;
    let key: String =
        sqlx::query_scalar("DELETE FROM documents WHERE id = $1 RETURNING object_key")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    sqlx::query("INSERT INTO object_cleanup (object_key, due_at) VALUES ($1, now())")
        .bind(&key)
        .execute(&app.db)
        .await
        .unwrap();
    let worker = app.worker();

    app.proxies().object_store.set(Mode::Down);
    assert!(worker.clean_up_objects().await.is_err());
    // Before the fix the entry was deleted first: the object was then nobody's to delete.
    let entries: Vec<String> = sqlx::query_scalar("SELECT object_key FROM object_cleanup")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(entries, std::slice::from_ref(&key));

    app.proxies().object_store.set(Mode::Up);
    sqlx::query("UPDATE object_cleanup SET due_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(worker.clean_up_objects().await.unwrap(), 1);
    assert!(app.bucket_keys().await.is_empty());
    assert_eq!(app.count("object_cleanup").await, 0);
}

#[tokio::test]
async fn delete_commits_without_the_store_and_the_object_follows() {
    let app = TestApp::spawn_with_proxies().await;
    let id = upload(&app, "gone.txt").await;
    let keys = app.bucket_keys().await;
    assert_eq!(keys.len(), 1);

    // The store is down: the row goes at once (no transaction waits on S3, nothing answers
    // 503), and the object is scheduled in the same transaction.
    app.proxies().object_store.set(Mode::Down);
    assert_eq!(
        app.delete(&format!("/api/documents/{id}")).await.status(),
        204
    );
    assert_eq!(app.count("documents").await, 0);
    let scheduled: Vec<String> =
        sqlx::query_scalar("SELECT object_key FROM object_cleanup WHERE due_at <= now()")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(scheduled, keys);
    assert_eq!(app.get_json(&format!("/api/documents/{id}")).await.0, 404);

    app.proxies().object_store.set(Mode::Up);
    assert_eq!(
        app.bucket_keys().await,
        keys,
        "still there until a worker runs"
    );
    assert_eq!(app.worker().clean_up_objects().await.unwrap(), 1);
    assert!(app.bucket_keys().await.is_empty());
    assert_eq!(app.count("object_cleanup").await, 0);

    // With the store up, the object goes with the request and no entry is left.
    let id = upload(&app, "now.txt").await;
    assert_eq!(
        app.delete(&format!("/api/documents/{id}")).await.status(),
        204
    );
    assert!(app.bucket_keys().await.is_empty());
    assert_eq!(app.count("object_cleanup").await, 0);
}

#[tokio::test]
async fn documents_show_a_sentence_not_backend_internals() {
    let app = TestApp::spawn_with(Options {
        proxies: true,
        env: vec![("JOB_MAX_ATTEMPTS", "1".to_owned())],
        ..Options::default()
    })
    .await;
    let id = upload(&app, "a.txt").await;
    app.proxies().object_store.set(Mode::Down);
    let stats = app.process_all().await;
    app.proxies().object_store.set(Mode::Up);
    assert_eq!(stats.failed, 1);
    let error = document(&app, id).await["error"]
        .as_str()
        .expect("error")
        .to_owned();
    assert_eq!(
        error,
        "gave up after 1 attempts: the storage could not be reached"
    );
    // Before: "object_store: … error sending request for url (http://127.0.0.1:…)".
    for internal in ["127.0.0.1", "http", "object_store", "error sending"] {
        assert!(!error.contains(internal), "{error}");
    }
}

#[tokio::test]
async fn metrics_need_the_configured_token_and_are_absent_without_one() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/metrics").await;
    app.assert_error((status, body), 404, "not_found");

    let token = "scrape-me-0123456789abcdef";
    let app = TestApp::spawn_with(Options {
        env: vec![("METRICS_TOKEN", token.to_owned())],
        ..Options::default()
    })
    .await;
    let scrape = |auth: Option<String>| {
        let mut req = app.anonymous().get(app.url("/metrics"));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send()
    };
    for wrong in [
        None,
        Some("Bearer nope".to_owned()),
        Some(format!("Bearer {token}x")),
        Some(format!("Basic {token}")),
        // A user's access token is not the scraper's.
        Some(format!("Bearer {}", app.user.token)),
    ] {
        let resp = scrape(wrong.clone()).await.unwrap();
        assert_eq!(resp.status(), 401, "{wrong:?}");
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer realm=\"metrics\""
        );
    }
    let resp = scrape(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("docuvault_documents_estimated_total "),
        "{text}"
    );
}
