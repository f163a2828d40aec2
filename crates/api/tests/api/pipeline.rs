//! The processing pipeline end to end: upload through the API, a real worker (Redis Streams,
//! PostgreSQL, the S3 server, pdftotext), and the result read back through the API.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::fake_ai::{FakeAi, Reply, anthropic_answer, openai_answer};
use crate::helpers::{Mode, Options, TestApp, pdf};

async fn finance_and_health(app: &TestApp) {
    app.create_topic(
        "Finance",
        "invoices, bank statements, tax returns, payments",
    )
    .await;
    app.create_topic("Health", "medical letters, prescriptions, doctor, hospital")
        .await;
}

async fn document(app: &TestApp, id: &str) -> Value {
    let (status, d) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(status, 200, "{d}");
    d
}

/// Uploads and returns the new document's id.
async fn upload_id(app: &TestApp, name: &str, bytes: Vec<u8>) -> String {
    app.upload_ok(name, bytes).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// How many documents match `condition` (SQL), read straight from the database.
async fn documents_where(app: &TestApp, condition: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM documents WHERE {condition}"
    )))
    .fetch_one(&app.db)
    .await
    .expect("count")
}

fn topic_names(doc: &Value) -> Vec<String> {
    let mut names: Vec<String> = doc["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

async fn use_provider(app: &TestApp, provider: &str, base_url: &str, key: Option<&str>) {
    let (status, body) = app
        .send_json(
            Method::PUT,
            "/api/settings",
            json!({"provider": provider, "model": "test-model", "base_url": base_url, "api_key": key}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

const INVOICE: &str = "Invoice no. 2024-117. Amount due: 1,240.00 EUR for consulting services. \
Please transfer the payment to our bank account within 30 days. VAT and tax included.";
const PRESCRIPTION: &str = "Dr. Meyer, general practice. Prescription for ibuprofen 400 mg, \
twice daily. Please see your doctor again in two weeks; a referral to the hospital is enclosed.";
const RECIPE: &str = "Grandmother's apple pie: flour, butter, sugar, apples and cinnamon. \
Bake for forty minutes until golden.";

#[tokio::test]
async fn upload_then_worker_classifies_a_pdf_through_the_api() {
    let app = TestApp::spawn().await;
    finance_and_health(&app).await;
    let lines: Vec<&str> = INVOICE.split(". ").collect();
    let up = app
        .upload_ok(
            "invoice.pdf",
            pdf(&[
                Some(&lines),
                Some(&["Page two: bank details and payment terms."]),
            ]),
        )
        .await;
    assert_eq!(up["status"], "pending");
    let id = up["id"].as_str().expect("id");

    let stats = app.process_all().await;
    assert_eq!(stats.classified, 1, "{stats:?}");

    let doc = document(&app, id).await;
    assert_eq!(doc["status"], "classified", "{doc}");
    assert_eq!(doc["error"], Value::Null);
    assert_eq!(topic_names(&doc), ["Finance"]);
    let text = doc["extracted_text"].as_str().expect("text");
    assert!(
        text.contains("Amount due: 1,240.00 EUR") && text.contains("Page two"),
        "{text}"
    );
    // Running a job again (at-least-once delivery) changes nothing.
    assert_eq!(app.process_all().await.classified, 0);
    assert_eq!(app.count("document_topics").await, 1);
}

#[tokio::test]
async fn local_provider_sorts_documents_and_leaves_unrelated_ones_without_topics() {
    let app = TestApp::spawn().await;
    finance_and_health(&app).await;
    app.create_topic(
        "Travel",
        "flights, hotel bookings, train tickets, boarding pass",
    )
    .await;
    let cases = [
        ("invoice.txt", INVOICE, vec!["Finance"]),
        ("prescription.txt", PRESCRIPTION, vec!["Health"]),
        (
            "booking.txt",
            "Your hotel booking in Lisbon is confirmed: two nights. Boarding pass for flight TP 1234 attached; the train ticket to the airport is separate.",
            vec!["Travel"],
        ),
        (
            "hospital-bill.txt",
            "Hospital invoice: treatment by the doctor on 3 May. Amount due 85.00 EUR; payment by bank transfer.",
            vec!["Finance", "Health"],
        ),
        ("recipe.txt", RECIPE, vec![]),
    ];
    let mut ids = Vec::new();
    for (name, text, _) in &cases {
        ids.push(upload_id(&app, name, text.as_bytes().to_vec()).await);
    }
    assert_eq!(app.process_all().await.classified, cases.len());
    for ((name, _, want), id) in cases.iter().zip(&ids) {
        let doc = document(&app, id).await;
        assert_eq!(doc["status"], "classified", "{name}: {doc}");
        assert_eq!(topic_names(&doc), *want, "{name}");
    }
}

#[tokio::test]
async fn openai_compatible_provider_wire_format_retry_after_and_invented_topics() {
    let fake = FakeAi::start(|n| match n {
        0 => Reply::status(
            429,
            json!({"error": {"message": "rate limited", "type": "rate_limit"}}),
        )
        .header("retry-after", "1"),
        _ => Reply::ok(openai_answer(r#"{"topics": ["finance", "Crypto Scams"]}"#)),
    })
    .await;
    let app = TestApp::spawn().await;
    finance_and_health(&app).await;
    use_provider(
        &app,
        "openai",
        &format!("{}/v1", fake.base_url),
        Some("sk-test-123"),
    )
    .await;
    let id = upload_id(&app, "invoice.txt", INVOICE.as_bytes().to_vec()).await;

    let stats = app.process_all().await;
    assert_eq!(stats.classified, 1, "{stats:?}");
    let doc = document(&app, &id).await;
    assert_eq!(
        topic_names(&doc),
        ["Finance"],
        "the invented topic is dropped"
    );
    assert_eq!(app.count("topics").await, 2, "no topic was created");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "one 429, then the retry");
    let r = &requests[1];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.headers["authorization"], "Bearer sk-test-123");
    assert_eq!(r.body["model"], "test-model");
    assert_eq!(r.body["response_format"]["type"], "json_object");
    let messages = r.body["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user");
    let prompt = messages[1]["content"].as_str().expect("prompt");
    assert!(
        prompt.contains("- Finance: invoices") && prompt.contains("- Health: medical"),
        "{prompt}"
    );
    assert!(prompt.contains("Amount due: 1,240.00 EUR"), "{prompt}");
}

#[tokio::test]
async fn anthropic_provider_wire_format_and_text_truncation() {
    let fake =
        FakeAi::start(|_| Reply::ok(anthropic_answer("Here you go:\n{\"topics\": [\"Health\"]}")))
            .await;
    let app = TestApp::spawn_with(Options {
        env: vec![("AI_MAX_INPUT_CHARS", "40".to_owned())],
        ..Options::default()
    })
    .await;
    finance_and_health(&app).await;
    use_provider(&app, "anthropic", &fake.base_url, Some("sk-ant-test")).await;
    let id = upload_id(&app, "letter.txt", PRESCRIPTION.as_bytes().to_vec()).await;

    assert_eq!(app.process_all().await.classified, 1);
    assert_eq!(topic_names(&document(&app, &id).await), ["Health"]);

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.headers["x-api-key"], "sk-ant-test");
    assert_eq!(r.headers["anthropic-version"], "2023-06-01");
    assert!(r.headers.get("authorization").is_none());
    assert_eq!(r.body["model"], "test-model");
    assert!(r.body["max_tokens"].as_u64().is_some());
    assert!(r.body["system"].as_str().expect("system").contains("JSON"));
    let prompt = r.body["messages"][0]["content"].as_str().expect("prompt");
    // Only the first 40 characters of the text are sent.
    assert!(prompt.contains(&PRESCRIPTION[..40]), "{prompt}");
    assert!(!prompt.contains(&PRESCRIPTION[..41]), "{prompt}");
}

#[tokio::test]
async fn a_provider_that_times_out_is_retried_then_the_document_fails_with_the_reason() {
    let fake = FakeAi::start(|_| {
        Reply::ok(openai_answer(r#"{"topics": []}"#)).after(Duration::from_secs(5))
    })
    .await;
    let app = TestApp::spawn_with(Options {
        env: vec![
            ("AI_TIMEOUT_SECS", "1".to_owned()),
            ("JOB_MAX_ATTEMPTS", "2".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    finance_and_health(&app).await;
    use_provider(&app, "openai", &fake.base_url, None).await;
    let id = upload_id(&app, "invoice.txt", INVOICE.as_bytes().to_vec()).await;

    let stats = app.process_all().await;
    assert_eq!((stats.retried, stats.failed), (1, 1), "{stats:?}");
    let doc = document(&app, &id).await;
    assert_eq!(doc["status"], "failed");
    let error = doc["error"].as_str().expect("error");
    assert!(
        error.contains("gave up after 2 attempts") && error.contains("did not answer within 1 s"),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 2);
    // No key was configured, so none was sent.
    assert!(fake.requests()[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_refused_api_key_fails_at_once() {
    let fake = FakeAi::start(|_| {
        Reply::status(
            401,
            json!({"error": {"message": "Incorrect API key provided"}}),
        )
    })
    .await;
    let app = TestApp::spawn().await;
    finance_and_health(&app).await;
    use_provider(&app, "openai", &fake.base_url, Some("sk-wrong")).await;
    let id = upload_id(&app, "invoice.txt", INVOICE.as_bytes().to_vec()).await;
    let stats = app.process_all().await;
    assert_eq!((stats.failed, stats.retried), (1, 0));
    let error = document(&app, &id).await["error"]
        .as_str()
        .expect("error")
        .to_owned();
    assert!(
        error.contains("refused the API key") && error.contains("Incorrect API key"),
        "{error}"
    );
    assert!(!error.contains("sk-wrong"));
}

#[tokio::test]
async fn hostile_and_empty_files_end_with_a_reason_and_the_worker_keeps_going() {
    let app = TestApp::spawn().await;
    finance_and_health(&app).await;
    let mut corrupt = pdf(&[Some(&["Invoice"])]);
    corrupt.truncate(40);
    corrupt.extend_from_slice(b"\x00garbage\xff".repeat(1000).as_slice());
    let huge: Vec<u8> = INVOICE
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(12 * 1024 * 1024)
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("corrupt.pdf", corrupt, "failed", "damaged"),
        ("scan.pdf", pdf(&[None, None]), "failed", "no text layer"),
        (
            "blank.txt",
            b"   \n\t\n   ".to_vec(),
            "failed",
            "only white space",
        ),
        (
            "latin1.txt",
            b"Rechnung f\xfcr Gr\xfc\xdfe: invoice payment tax".to_vec(),
            "classified",
            "",
        ),
        ("huge.txt", huge, "classified", ""),
        (
            "photo.png",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            "failed",
            "OCR",
        ),
    ];
    let mut ids = Vec::new();
    for (name, bytes, _, _) in &cases {
        ids.push(upload_id(&app, name, bytes.clone()).await);
    }
    let stats = app.process_all().await;
    assert_eq!((stats.classified, stats.failed), (2, 4), "{stats:?}");
    for ((name, _, status, reason), id) in cases.iter().zip(&ids) {
        let doc = document(&app, id).await;
        assert_eq!(doc["status"], *status, "{name}: {doc}");
        if !reason.is_empty() {
            let error = doc["error"].as_str().expect("error");
            assert!(error.contains(reason), "{name}: {error}");
        }
    }
    let latin1 = document(&app, &ids[3]).await;
    assert_eq!(
        latin1["extracted_text"],
        "Rechnung für Grüße: invoice payment tax"
    );
    let huge = document(&app, &ids[4]).await;
    assert_eq!(
        huge["extracted_text"].as_str().expect("text").len(),
        8 * 1024 * 1024,
        "text is bounded"
    );
    assert_eq!(topic_names(&huge), ["Finance"]);
}

#[tokio::test]
async fn uploads_succeed_while_redis_is_down_and_the_sweeper_queues_them_later() {
    let app = TestApp::spawn_with_proxies().await;
    finance_and_health(&app).await;
    let redis = &app.proxies().redis;
    redis.set(Mode::Down);
    let mut ids = Vec::new();
    for i in 0..5 {
        let up = app
            .upload_ok(&format!("invoice-{i}.txt"), INVOICE.as_bytes().to_vec())
            .await;
        assert_eq!(up["status"], "pending");
        ids.push(up["id"].as_str().expect("id").to_owned());
    }
    let unpublished = documents_where(&app, "published_at IS NULL").await;
    assert_eq!(
        unpublished, 5,
        "failed publishes are recorded for the sweeper"
    );

    redis.set(Mode::Up);
    assert_eq!(app.process_all().await.classified, 5);
    for id in &ids {
        assert_eq!(document(&app, id).await["status"], "classified");
    }
}

#[tokio::test]
async fn jobs_whose_messages_redis_lost_are_published_again() {
    let app = TestApp::spawn().await;
    finance_and_health(&app).await;
    let id = upload_id(&app, "invoice.txt", INVOICE.as_bytes().to_vec()).await;
    // What a Redis restart without persistence does: the stream and its group are gone.
    let client = redis::Client::open(crate::helpers::stack_var("REDIS_URL")).expect("redis");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let deleted: i64 = redis::cmd("DEL")
        .arg(format!("{}:jobs", app.config.redis_key_prefix))
        .query_async(&mut conn)
        .await
        .expect("DEL");
    assert_eq!(deleted, 1, "the upload published its job");

    assert_eq!(app.process_all().await.classified, 1);
    assert_eq!(document(&app, &id).await["status"], "classified");
}

#[tokio::test]
async fn reclassify_reruns_classification_with_the_current_topics() {
    let app = TestApp::spawn().await;
    app.create_topic("Health", "medical letters, prescriptions, doctor")
        .await;
    let id = upload_id(&app, "invoice.txt", INVOICE.as_bytes().to_vec()).await;
    let path = format!("/api/documents/{id}/reclassify");

    // Still pending: not finished, so not yet re-runnable.
    app.assert_error(
        app.send_json(Method::POST, &path, json!({})).await,
        409,
        "document_busy",
    );
    app.process_all().await;
    assert_eq!(
        topic_names(&document(&app, &id).await),
        Vec::<String>::new()
    );

    app.create_topic("Finance", "invoices, payments, bank, tax")
        .await;
    let (status, doc) = app.send_json(Method::POST, &path, json!({})).await;
    assert_eq!(
        (status, doc["status"].as_str()),
        (202, Some("pending")),
        "{doc}"
    );
    assert_eq!(app.process_all().await.classified, 1);
    assert_eq!(topic_names(&document(&app, &id).await), ["Finance"]);

    let missing = format!("/api/documents/{}/reclassify", uuid::Uuid::new_v4());
    app.assert_error(
        app.send_json(Method::POST, &missing, json!({})).await,
        404,
        "document_not_found",
    );
    app.assert_error(
        app.send_json(
            Method::POST,
            "/api/documents/not-a-uuid/reclassify",
            json!({}),
        )
        .await,
        400,
        "invalid_path",
    );
}

#[tokio::test]
async fn metrics_show_documents_by_status_and_job_counts() {
    let token = "scraper-token-0123456789";
    let app = TestApp::spawn_with(Options {
        env: vec![("METRICS_TOKEN", token.to_owned())],
        ..Options::default()
    })
    .await;
    finance_and_health(&app).await;
    app.upload_ok("a.txt", INVOICE.as_bytes().to_vec()).await;
    app.upload_ok("b.txt", b"   ".to_vec()).await;
    app.process_all().await;
    let resp = app
        .anonymous()
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/plain")
    );
    let text = resp.text().await.expect("text");
    for line in [
        "docuvault_up{dependency=\"postgres\"} 1",
        "docuvault_up{dependency=\"redis\"} 1",
        "docuvault_documents{status=\"failed\"} 1",
        "docuvault_documents{status=\"pending\"} 0",
        "docuvault_documents{status=\"processing\"} 0",
        "docuvault_jobs_total{outcome=\"classified\"} 1",
        "docuvault_jobs_total{outcome=\"failed\"} 1",
        "docuvault_job_duration_seconds_count 2",
        "docuvault_job_duration_seconds_bucket{le=\"+Inf\"} 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[tokio::test]
async fn pdf_extraction_is_bounded_in_time() {
    use docuvault_core::pipeline::JobError;
    use docuvault_core::pipeline::extract::{DEFAULT_MAX_TEXT_BYTES, extract};
    use docuvault_core::pipeline::ocr::{Ocr, OcrConfig};
    use futures::StreamExt;

    let ocr = Ocr::new(
        OcrConfig {
            languages: "eng".into(),
            max_pages: 1,
        },
        1,
        Duration::from_secs(30),
    );

    let line: &[&str] =
        &["A line of text on a long page, repeated to make the file slow to read."; 40];
    let pages: Vec<Option<&[&str]>> = vec![Some(line); 1500];
    let big = bytes::Bytes::from(pdf(&pages));
    let body = || {
        futures::stream::once({
            let b = big.clone();
            async move { Ok(b) }
        })
        .boxed()
    };
    let slow = extract(
        docuvault_domain::FileKind::Pdf,
        body(),
        &ocr,
        Duration::from_millis(20),
        DEFAULT_MAX_TEXT_BYTES,
    )
    .await;
    match slow {
        Err(JobError::Permanent(reason)) => {
            assert!(reason.contains("took longer than"), "{reason}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The same file with time enough is read in full.
    let read = extract(
        docuvault_domain::FileKind::Pdf,
        body(),
        &ocr,
        Duration::from_secs(30),
        DEFAULT_MAX_TEXT_BYTES,
    )
    .await
    .expect("text");
    assert!(!read.truncated);
    assert_eq!(
        read.text.matches("repeated to make the file slow").count(),
        40 * 1500
    );

    // Over the text bound: cut there and marked, the reader killed at once instead of left
    // blocked on a full pipe until the timeout (before the fix: "took longer than" here).
    let cut = extract(
        docuvault_domain::FileKind::Pdf,
        body(),
        &ocr,
        Duration::from_secs(20),
        64 * 1024,
    )
    .await
    .expect("text over the bound is kept up to it");
    assert!(cut.truncated);
    assert!(
        cut.text.len() <= 64 * 1024 && cut.text.len() > 60 * 1024,
        "{}",
        cut.text.len()
    );
    assert!(cut.text.starts_with("A line of text"));
}

#[tokio::test]
async fn a_document_over_the_text_bound_is_classified_on_its_truncated_text() {
    let app = TestApp::spawn_with(Options {
        env: vec![
            ("EXTRACT_MAX_TEXT_BYTES", (64 * 1024).to_string()),
            ("EXTRACT_TIMEOUT_SECS", "20".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    finance_and_health(&app).await;
    let line: &[&str] = &["Invoice total due, paid by bank transfer to the account."; 40];
    let pages: Vec<Option<&[&str]>> = vec![Some(line); 600];
    let id = app.upload_ok("book.pdf", pdf(&pages)).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let small = app
        .upload_ok("short.txt", INVOICE.as_bytes().to_vec())
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(app.process_all().await.classified, 2);
    let doc = document(&app, &id).await;
    assert_eq!(doc["status"], "classified", "{doc}");
    assert_eq!(doc["text_truncated"], true, "{doc}");
    assert!(doc["error"].is_null(), "{doc}");
    let text = doc["extracted_text"].as_str().expect("text");
    assert!(
        text.len() <= 64 * 1024 && text.len() > 60 * 1024,
        "{}",
        text.len()
    );
    assert_eq!(topic_names(&doc), ["Finance"]);
    assert_eq!(document(&app, &small).await["text_truncated"], false);
}

/// The default bound (8 MiB) with a ~10 MB-of-text PDF, the size that used to leave pdftotext
/// blocked on its full pipe until the timeout ("took longer than 20s", document failed).
#[tokio::test]
async fn a_book_over_the_default_text_bound_is_cut_not_timed_out() {
    let app = TestApp::spawn_with(Options {
        env: vec![("EXTRACT_TIMEOUT_SECS", "20".to_owned())],
        ..Options::default()
    })
    .await;
    let line: &[&str] =
        &["Invoice total due, paid by bank transfer to the account, line after line."; 40];
    let pages: Vec<Option<&[&str]>> = vec![Some(line); 3600];
    let id = upload_id(&app, "book.pdf", pdf(&pages)).await;
    app.process_all().await;
    let doc = document(&app, &id).await;
    assert_eq!(doc["status"], "classified", "{}", doc["error"]);
    assert_eq!(doc["text_truncated"], true);
    let kept = doc["extracted_text"].as_str().expect("text").len();
    assert!(
        kept <= 8 * 1024 * 1024 && kept > 8 * 1024 * 1024 - 4,
        "{kept}"
    );
}

#[tokio::test]
async fn consumers_of_stopped_workers_are_pruned_unless_they_hold_messages() {
    use docuvault_core::queue::{JobQueue, RedisQueue};
    use docuvault_core::redis_client::RedisClient;

    let app = TestApp::spawn().await;
    let redis = RedisClient::connect_lazy(&app.config.redis_url).expect("redis");
    let queue = RedisQueue::with_reader(
        redis.clone(),
        RedisClient::connect_lazy(&app.config.redis_url).expect("redis"),
        &app.config.redis_key_prefix,
        Duration::from_secs(300),
    );
    // "done" read a message and acknowledged it (a worker that stopped cleanly); "holder" read
    // one and never acknowledged it (a killed worker).
    queue.publish(uuid::Uuid::new_v4()).await.expect("publish");
    let done = queue
        .next("done", Duration::from_millis(10))
        .await
        .expect("read");
    queue.ack(&done.expect("a delivery")).await.expect("ack");
    queue.publish(uuid::Uuid::new_v4()).await.expect("publish");
    let held = queue
        .next("holder", Duration::from_millis(10))
        .await
        .expect("read");
    assert!(held.is_some());

    assert_eq!(
        queue
            .prune_consumers(Duration::from_secs(3600))
            .await
            .expect("prune"),
        0,
        "both are recent"
    );
    assert_eq!(
        queue.prune_consumers(Duration::ZERO).await.expect("prune"),
        1
    );
    let mut conn = redis.connection();
    let info: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(format!("{}:jobs", app.config.redis_key_prefix))
        .arg("workers")
        .query_async(&mut conn)
        .await
        .expect("XINFO");
    let names: Vec<&str> = info.consumers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["holder"]);
}

#[tokio::test]
async fn jobs_read_while_postgres_is_down_are_processed_soon_after_it_returns() {
    let app = TestApp::spawn_with_proxies().await;
    finance_and_health(&app).await;
    for i in 0..5 {
        upload_id(
            &app,
            &format!("invoice-{i}.txt"),
            INVOICE.as_bytes().to_vec(),
        )
        .await;
    }
    let postgres = &app.proxies().postgres;
    postgres.set(Mode::Down);

    // A long-running worker reads the jobs while it cannot record anything. The default
    // visibility timeout (300 s) must not be what brings them back.
    let worker = app.worker();
    let stop = tokio_util::sync::CancellationToken::new();
    let running = {
        let stop = stop.clone();
        tokio::spawn(async move { worker.run(stop, Duration::from_secs(5)).await })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pending = documents_where(&app, "status = 'pending'").await;
    assert_eq!(
        pending, 5,
        "nothing could be claimed while PostgreSQL was down"
    );

    postgres.set(Mode::Up);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let classified = documents_where(&app, "status = 'classified'").await;
        if classified == 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {classified} of 5 classified 20 s after PostgreSQL returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    running.await.expect("worker");
}

#[tokio::test]
async fn objects_without_a_document_are_deleted_once_due() {
    let app = TestApp::spawn().await;
    let kept = upload_id(&app, "kept.txt", INVOICE.as_bytes().to_vec()).await;
    let lost = upload_id(&app, "lost.txt", RECIPE.as_bytes().to_vec()).await;
    assert_eq!(
        app.count("object_cleanup").await,
        0,
        "a recorded upload leaves no entry"
    );
    assert_eq!(app.bucket_keys().await.len(), 2);

    // The state a process leaves that dies after storing the bytes and before recording the
    // document: the object, its clean-up entry, no row. Plus a stale entry for a kept document.
    let key_of = |id: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT object_key FROM documents WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&db)
                .await
                .expect("key")
        }
    };
    let (kept_key, lost_key) = (key_of(kept.clone()).await, key_of(lost.clone()).await);
    sqlx::query("DELETE FROM documents WHERE id = $1::uuid")
        .bind(&lost)
        .execute(&app.db)
        .await
        .expect("delete row");
    for key in [&kept_key, &lost_key] {
        sqlx::query("INSERT INTO object_cleanup (object_key, due_at) VALUES ($1, now() + interval '1 hour')")
            .bind(key)
            .execute(&app.db)
            .await
            .expect("entry");
    }
    let worker = app.worker();
    assert_eq!(
        worker.clean_up_objects().await.expect("cleanup"),
        0,
        "not due yet"
    );
    sqlx::query("UPDATE object_cleanup SET due_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .expect("due");
    assert_eq!(worker.clean_up_objects().await.expect("cleanup"), 1);
    assert_eq!(
        app.bucket_keys().await,
        [kept_key],
        "only the orphan is gone"
    );
    assert_eq!(app.count("object_cleanup").await, 0);
    let (status, _) = app
        .get_json(&format!("/api/documents/{kept}/content"))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_user_cannot_point_the_worker_at_private_addresses() {
    let fake = FakeAi::start(|_| Reply::ok(openai_answer(r#"{"topics": ["Finance"]}"#))).await;
    let app = TestApp::spawn_with(Options {
        env: vec![("AI_ALLOW_PRIVATE_ENDPOINTS", "false".into())],
        ..Options::default()
    })
    .await;
    finance_and_health(&app).await;
    let private = format!("{}/v1", fake.base_url);
    for base_url in [
        private.as_str(),
        "http://169.254.169.254/latest",
        "http://localhost:11434/v1",
        "http://[::1]:8080/v1",
    ] {
        let (status, body) = app
            .send_json(
                Method::PUT,
                "/api/settings",
                json!({"provider": "openai", "base_url": base_url}),
            )
            .await;
        app.assert_error((status, body), 422, "base_url_not_allowed");
    }
    assert_eq!(app.count("ai_settings").await, 0, "nothing was saved");

    // Settings that got there anyway (saved while the guard was off, say) are refused by the
    // worker before any request is made.
    sqlx::query("INSERT INTO ai_settings (user_id, provider, base_url) VALUES ($1, 'openai', $2)")
        .bind(app.user.id)
        .bind(&private)
        .execute(&app.db)
        .await
        .unwrap();
    let id = upload_id(&app, "invoice.txt", INVOICE.as_bytes().to_vec()).await;
    app.process_all().await;
    let doc = document(&app, &id).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("only an admin may use a private AI endpoint"),
        "{doc}"
    );
    assert!(
        fake.requests().is_empty(),
        "the private endpoint was never contacted"
    );

    // An admin may use a private endpoint (their own Ollama, say).
    let admin = app.new_admin("root").await;
    let resp = admin
        .client
        .put(app.url("/api/settings"))
        .json(&json!({"provider": "openai", "model": "m", "base_url": private}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = admin
        .client
        .post(app.url("/api/topics"))
        .json(&json!({"name": "Finance", "description": "invoices"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(INVOICE.as_bytes().to_vec()).file_name("admin.txt"),
    );
    let resp = admin
        .client
        .post(app.url("/api/documents/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let stats = app.process_all().await;
    assert_eq!(stats.classified, 1, "{stats:?}");
    assert_eq!(fake.requests().len(), 1);
}
