//! Presigned uploads: reserve (quota charged), PUT straight to the store, complete (checked,
//! recorded once), and every way a reservation ends without a document (refused at completion,
//! cancelled, expired) leaving nothing behind.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, text_file};

const MIB: usize = 1024 * 1024;

async fn used(app: &TestApp) -> i64 {
    app.get_json("/api/me/quota").await.1["used_bytes"]
        .as_i64()
        .unwrap()
}

async fn reserve(app: &TestApp, filename: &str, size: usize, mime: Option<&str>) -> (u16, Value) {
    let mut body = json!({"filename": filename, "size": size});
    if let Some(m) = mime {
        body["content_type"] = json!(m);
    }
    app.send_json(Method::POST, "/api/uploads", body).await
}

/// PUTs every part of `bytes` to its URL, all at once, as a browser would (no credentials).
async fn send_parts(ticket: &Value, bytes: &[u8]) -> Vec<u16> {
    let http = reqwest::Client::new();
    join_all(ticket["parts"].as_array().unwrap().iter().map(|part| {
        let offset = usize::try_from(part["offset"].as_u64().unwrap()).unwrap();
        let size = usize::try_from(part["size"].as_u64().unwrap()).unwrap();
        let body = bytes[offset..offset + size].to_vec();
        let req = http.put(part["url"].as_str().unwrap()).body(body);
        async move { req.send().await.unwrap().status().as_u16() }
    }))
    .await
}

async fn complete(app: &TestApp, id: &str) -> (u16, Value) {
    app.send_json(
        Method::POST,
        &format!("/api/uploads/{id}/complete"),
        json!({}),
    )
    .await
}

/// Reserve, send and complete; the completion's status and body (or the reservation's, if it
/// was refused).
async fn presigned_upload(app: &TestApp, filename: &str, bytes: &[u8]) -> (u16, Value) {
    let (status, ticket) = reserve(app, filename, bytes.len(), None).await;
    if status != 201 {
        return (status, ticket);
    }
    let sent = send_parts(&ticket, bytes).await;
    assert!(sent.iter().all(|s| *s == 200), "{sent:?}");
    complete(app, ticket["id"].as_str().unwrap()).await
}

async fn object_key_of(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT object_key FROM uploads WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Nothing of a refused or abandoned upload is left: no reservation, no row, no object, no
/// clean-up entry, no quota.
async fn assert_nothing_left(app: &TestApp) {
    assert_eq!(app.count("uploads").await, 0);
    assert_eq!(app.count("documents").await, 0);
    assert_eq!(app.bucket_objects().await, vec![]);
    assert_eq!(app.count("object_cleanup").await, 0);
    assert_eq!(used(app).await, 0);
}

#[tokio::test]
async fn a_file_sent_with_one_put_becomes_a_document_once() {
    let app = TestApp::spawn().await;
    let bytes = text_file(1, 30_000);
    let (status, ticket) = reserve(&app, "lease.txt", bytes.len(), Some("text/plain")).await;
    assert_eq!(status, 201, "{ticket}");
    assert_eq!(ticket["parts"].as_array().unwrap().len(), 1);
    assert_eq!(ticket["size"], 30_000);
    // Reserved: charged before a byte is sent.
    assert_eq!(used(&app).await, 30_000);

    assert_eq!(send_parts(&ticket, &bytes).await, vec![200]);
    let id = ticket["id"].as_str().unwrap();
    let (status, doc) = complete(&app, id).await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["id"], id);
    assert_eq!(doc["filename"], "lease.txt");
    assert_eq!(doc["content_type"], "text/plain");
    assert_eq!(doc["size_bytes"], 30_000);
    assert_eq!(doc["status"], "pending");

    // Completing again answers the same document and charges nothing more.
    let (status, again) = complete(&app, id).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], id);
    assert_eq!(used(&app).await, 30_000);
    assert_eq!(app.count("documents").await, 1);
    assert_eq!(app.count("object_cleanup").await, 0);
    assert!(
        docuvault_core::db::quotas::drift(&app.db)
            .await
            .unwrap()
            .is_empty()
    );

    // It was queued: a worker processes it, and its bytes are the ones sent.
    app.process_all().await;
    let (_, doc) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(doc["status"], "classified", "{doc}");
    let content = app.get(&format!("/api/documents/{id}/content")).await;
    assert_eq!(content.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn a_large_file_is_sent_in_parts_in_any_order() {
    let app = TestApp::spawn_with(Options {
        env: vec![("PRESIGNED_PART_BYTES", (5 * MIB).to_string())],
        ..Options::default()
    })
    .await;
    let bytes = text_file(2, 11 * MIB + 123);
    let (status, ticket) = reserve(&app, "archive.txt", bytes.len(), None).await;
    assert_eq!(status, 201, "{ticket}");
    let parts = ticket["parts"].as_array().unwrap().clone();
    assert_eq!(parts.len(), 3);
    assert_eq!(ticket["part_bytes"], 5 * MIB);
    assert_eq!(parts[2]["size"], MIB + 123);
    let id = ticket["id"].as_str().unwrap();

    // The last part first, then a completion too early: nothing is lost, the client goes on.
    let last = json!({"parts": [parts[2].clone()]});
    assert_eq!(send_parts(&last, &bytes).await, vec![200]);
    let (status, body) = complete(&app, id).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "upload_incomplete");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("1 of 3 parts")
    );
    let rest = json!({"parts": [parts[0].clone(), parts[1].clone()]});
    assert_eq!(send_parts(&rest, &bytes).await, vec![200, 200]);

    let (status, doc) = complete(&app, id).await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["size_bytes"], bytes.len());
    let objects = app.bucket_objects().await;
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].1, bytes.len() as u64);
    let content = app.get(&format!("/api/documents/{id}/content")).await;
    assert!(content.bytes().await.unwrap().as_ref() == bytes.as_slice());
    assert_eq!(used(&app).await, i64::try_from(bytes.len()).unwrap());
    let (status, again) = complete(&app, id).await;
    assert_eq!((status, again["id"].clone()), (200, json!(id)));
}

#[tokio::test]
async fn the_store_refuses_a_body_of_another_size_and_completion_refuses_a_wrong_object() {
    let app = TestApp::spawn().await;
    let (status, ticket) = reserve(&app, "a.txt", 10_000, None).await;
    assert_eq!(status, 201);
    let url = ticket["parts"][0]["url"].as_str().unwrap();
    // The URL is signed for 10,000 bytes: the store takes no other size.
    let resp = reqwest::Client::new()
        .put(url)
        .body(text_file(3, 50_000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(app.bucket_objects().await, vec![]);

    // A store that checked nothing would have let it through: completion still refuses it,
    // deletes the object and gives the reservation back.
    let id = ticket["id"].as_str().unwrap();
    let key = object_key_of(&app, id).await;
    app.put_object_raw(&key, text_file(3, 50_000)).await;
    let (status, body) = complete(&app, id).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "size_mismatch");
    assert_nothing_left(&app).await;
    let (status, _) = complete(&app, id).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bytes_of_another_type_than_announced_are_refused_and_removed() {
    let app = TestApp::spawn().await;
    // Announced as a PDF, sent as text.
    let bytes = text_file(4, 5_000);
    let (status, ticket) = reserve(&app, "scan.pdf", bytes.len(), Some("application/pdf")).await;
    assert_eq!(status, 201, "{ticket}");
    assert_eq!(send_parts(&ticket, &bytes).await, vec![200]);
    let (status, body) = complete(&app, ticket["id"].as_str().unwrap()).await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"]["code"], "content_type_mismatch");
    assert_nothing_left(&app).await;

    // Bytes of no supported type at all.
    let bytes = vec![0x7fu8, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let (_, ticket) = reserve(&app, "tool.txt", bytes.len(), None).await;
    assert_eq!(send_parts(&ticket, &bytes).await, vec![200]);
    let (status, body) = complete(&app, ticket["id"].as_str().unwrap()).await;
    assert_eq!(status, 415, "{body}");
    assert_nothing_left(&app).await;
}

#[tokio::test]
async fn a_reservation_must_name_a_supported_type_and_fit() {
    let app = TestApp::spawn_with(Options {
        max_upload_bytes: Some(1_000_000),
        ..Options::default()
    })
    .await;
    app.set_quota_limit(100_000).await;
    for (body, status, code) in [
        (json!({"filename": "a.txt", "size": 0}), 400, "empty_file"),
        (
            json!({"filename": "a.txt", "size": 2_000_000}),
            413,
            "file_too_large",
        ),
        (
            json!({"filename": "a.txt", "size": 200_000}),
            413,
            "quota_exceeded",
        ),
        (
            json!({"filename": "a.bin", "size": 10}),
            415,
            "unsupported_file_type",
        ),
        (
            json!({"filename": "a.pdf", "size": 10, "content_type": "image/png"}),
            415,
            "content_type_mismatch",
        ),
        (
            json!({"filename": "a.txt", "size": -5}),
            400,
            "invalid_size",
        ),
    ] {
        let (got, answer) = app
            .send_json(Method::POST, "/api/uploads", body.clone())
            .await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], code, "{body} -> {answer}");
    }
    assert_eq!(app.count("uploads").await, 0);
    assert_eq!(used(&app).await, 0);

    // A reservation holds its room: a direct upload that does not fit beside it is refused.
    let (status, ticket) = reserve(&app, "a.txt", 70_000, None).await;
    assert_eq!(status, 201);
    assert_eq!(
        app.upload("b.txt", None, text_file(5, 40_000))
            .await
            .status(),
        413
    );
    // Cancelling gives it back.
    let id = ticket["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/uploads/{id}")).await.status(),
        204
    );
    assert_eq!(used(&app).await, 0);
    assert_eq!(
        app.delete(&format!("/api/uploads/{id}")).await.status(),
        404
    );
    app.upload_ok("b.txt", text_file(5, 40_000)).await;
}

#[tokio::test]
async fn another_user_can_neither_complete_nor_cancel_an_upload() {
    let app = TestApp::spawn().await;
    let bytes = text_file(6, 1_000);
    let (_, ticket) = reserve(&app, "mine.txt", bytes.len(), None).await;
    send_parts(&ticket, &bytes).await;
    let id = ticket["id"].as_str().unwrap();
    let bob = app.new_user("bob").await;
    for method in [Method::POST, Method::DELETE] {
        let path = if method == Method::POST {
            format!("/api/uploads/{id}/complete")
        } else {
            format!("/api/uploads/{id}")
        };
        let resp = bob
            .client
            .request(method, app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
    }
    assert_eq!(complete(&app, id).await.0, 201);
    // A completed upload is not cancelled: its document is deleted instead.
    let resp = app.delete(&format!("/api/uploads/{id}")).await;
    assert_eq!(resp.status(), 409);
}

#[tokio::test]
async fn the_sweeper_releases_abandoned_reservations_and_deletes_what_was_sent() {
    let app = TestApp::spawn_with(Options {
        env: vec![("PRESIGNED_PART_BYTES", (5 * MIB).to_string())],
        ..Options::default()
    })
    .await;
    // One sent whole but never completed, one sent in part, one never sent.
    let small = text_file(7, 20_000);
    let (_, whole) = reserve(&app, "whole.txt", small.len(), None).await;
    send_parts(&whole, &small).await;
    let large = text_file(8, 6 * MIB);
    let (_, partial) = reserve(&app, "partial.txt", large.len(), None).await;
    let first = json!({"parts": [partial["parts"][0].clone()]});
    assert_eq!(send_parts(&first, &large).await, vec![200]);
    let (_, never) = reserve(&app, "never.txt", 1_000, None).await;
    assert_eq!(
        used(&app).await,
        i64::try_from(small.len() + large.len() + 1_000).unwrap()
    );
    assert!(
        docuvault_core::db::quotas::drift(&app.db)
            .await
            .unwrap()
            .is_empty(),
        "reservations count as used"
    );

    // Not yet due: the sweeper leaves them alone.
    let worker = app.worker();
    assert_eq!(worker.release_expired_uploads().await.unwrap(), 0);
    sqlx::query("UPDATE uploads SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    // A client that comes back too late is told so, and its reservation is released.
    let (status, body) = complete(&app, whole["id"].as_str().unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "upload_expired");

    assert_eq!(worker.release_expired_uploads().await.unwrap(), 2);
    worker.clean_up_objects().await.unwrap();
    assert_nothing_left(&app).await;
    // The multipart upload was aborted: its part URLs no longer take bytes.
    let second = json!({"parts": [partial["parts"][1].clone()]});
    assert_eq!(send_parts(&second, &large).await, vec![404]);
    let (status, _) = complete(&app, never["id"].as_str().unwrap()).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn fifty_concurrent_uploads_direct_and_presigned_fill_the_quota_and_no_more() {
    let app = TestApp::spawn_with(Options::burst()).await;
    let files: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| (format!("note-{i}.txt"), text_file(i, 20_000 + i * 137)))
        .collect();
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    let limit = i64::try_from(total / 2).unwrap();
    app.set_quota_limit(limit).await;

    let app_ref = &app;
    let answers = join_all(
        files
            .iter()
            .enumerate()
            .map(|(i, (name, bytes))| async move {
                if i % 2 == 0 {
                    presigned_upload(app_ref, name, bytes).await
                } else {
                    let resp = app_ref.upload(name, None, bytes.clone()).await;
                    let status = resp.status().as_u16();
                    (status, resp.json::<Value>().await.unwrap_or(Value::Null))
                }
            }),
    )
    .await;
    let accepted: Vec<usize> = (0..50).filter(|i| answers[*i].0 == 201).collect();
    for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 413, "{body}");
        assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    }
    assert!(accepted.iter().any(|i| i % 2 == 0), "some presigned fit");
    assert!(accepted.iter().any(|i| i % 2 == 1), "some direct fit");
    assert!(accepted.len() < 50);

    let quota_used = used(&app).await;
    let objects: u64 = app.bucket_objects().await.iter().map(|(_, n)| n).sum();
    let accepted_bytes: usize = accepted.iter().map(|i| files[*i].1.len()).sum();
    assert_eq!(u64::try_from(quota_used).unwrap(), objects);
    assert_eq!(objects, accepted_bytes as u64);
    assert!(quota_used <= limit);
    assert_eq!(
        app.count("documents").await,
        i64::try_from(accepted.len()).unwrap()
    );
    assert_eq!(app.count("object_cleanup").await, 0);
}

#[tokio::test]
async fn presigned_uploads_work_with_the_bucket_limited_app_key() {
    // The stack's app key, as `make run` uses it: joining, listing and aborting parts must be
    // among what it may do.
    let app_key = (
        crate::helpers::stack_var("MINIO_ACCESS_KEY"),
        crate::helpers::stack_var("MINIO_SECRET_KEY"),
    );
    let mut opts = Options {
        s3_credentials: Some(app_key),
        bucket: Some("docuvault".to_owned()),
        ..Options::default()
    };
    opts.env
        .push(("PRESIGNED_PART_BYTES", (5 * MIB).to_string()));
    let app = TestApp::spawn_with(opts).await;
    let bytes = text_file(9, 6 * MIB);
    let (status, doc) = presigned_upload(&app, "big.txt", &bytes).await;
    assert_eq!(status, 201, "{doc}");
    let content = app
        .get(&format!(
            "/api/documents/{}/content",
            doc["id"].as_str().unwrap()
        ))
        .await;
    assert!(content.bytes().await.unwrap().as_ref() == bytes.as_slice());

    // Cancelled halfway: the multipart upload is aborted with the same key.
    let (_, ticket) = reserve(&app, "half.txt", bytes.len(), None).await;
    let first = json!({"parts": [ticket["parts"][0].clone()]});
    assert_eq!(send_parts(&first, &bytes).await, vec![200]);
    let id = ticket["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/uploads/{id}")).await.status(),
        204
    );
    assert_eq!(
        app.count("object_cleanup").await,
        0,
        "nothing left for a worker"
    );
    let second = json!({"parts": [ticket["parts"][1].clone()]});
    assert_eq!(send_parts(&second, &bytes).await, vec![404]);
}
