//! The per-user quota (charged atomically with the document's row, released with its delete)
//! and presigned downloads.

use futures::future::join_all;
use serde_json::Value;

use crate::helpers::{Options, TestApp, stack_var, text_file};

/// `used_bytes`, the sum of the document rows' sizes and the sum of the bucket's objects.
async fn accounts(app: &TestApp) -> (i64, i64, u64) {
    let used: i64 = sqlx::query_scalar("SELECT used_bytes FROM quotas WHERE user_id = $1")
        .bind(app.user.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let rows: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(size_bytes), 0)::bigint FROM documents")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let objects = app.bucket_objects().await.iter().map(|(_, n)| n).sum();
    (used, rows, objects)
}

/// Uploads `files` at once; the statuses and error codes.
async fn upload_all(app: &TestApp, files: &[(String, Vec<u8>)]) -> Vec<(u16, Value)> {
    join_all(files.iter().map(|(name, bytes)| async move {
        let resp = app.upload(name, None, bytes.clone()).await;
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }))
    .await
}

#[tokio::test]
async fn fifty_concurrent_uploads_fill_the_quota_and_no_more() {
    let app = TestApp::spawn_with(Options::burst()).await;
    let files: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| (format!("note-{i}.txt"), text_file(i, 20_000 + i * 137)))
        .collect();
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    let limit = i64::try_from(total / 2).unwrap();
    app.set_quota_limit(limit).await;

    let answers = upload_all(&app, &files).await;
    let accepted = answers.iter().filter(|(s, _)| *s == 201).count();
    for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 413, "{body}");
        assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("of {limit} bytes used")),
            "{message}"
        );
    }
    assert!(accepted > 0 && accepted < 50, "{accepted} accepted");

    let (used, rows, objects) = accounts(&app).await;
    assert_eq!(used, rows, "the quota is exactly what the rows add up to");
    assert_eq!(
        u64::try_from(used).unwrap(),
        objects,
        "and what the bucket holds"
    );
    assert!(used <= limit);
    // Nothing of a refused upload stays behind.
    assert_eq!(
        app.count("documents").await,
        i64::try_from(accepted).unwrap()
    );
    assert_eq!(app.bucket_objects().await.len(), accepted);
    assert_eq!(app.count("object_cleanup").await, 0);
    // The smallest refused file did not fit in what was left.
    let smallest_refused = answers
        .iter()
        .zip(&files)
        .filter(|((s, _), _)| *s == 413)
        .map(|(_, (_, b))| b.len())
        .min()
        .unwrap();
    assert!(used + i64::try_from(smallest_refused).unwrap() > limit);

    let (status, quota) = app.get_json("/api/me/quota").await;
    assert_eq!(status, 200);
    assert_eq!(quota["used_bytes"], used);
    assert_eq!(quota["limit_bytes"], limit);
}

#[tokio::test]
async fn deletes_interleaved_with_uploads_keep_the_quota_exact() {
    let app = TestApp::spawn_with(Options::burst()).await;
    app.set_quota_limit(600_000).await;
    let mut first = Vec::new();
    for i in 0..20 {
        let doc = app
            .upload_ok(&format!("old-{i}.txt"), text_file(i, 25_000))
            .await;
        first.push(doc["id"].as_str().unwrap().to_owned());
    }
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| (format!("new-{i}.txt"), text_file(100 + i, 15_000 + i * 97)))
        .collect();
    let app_ref = &app;
    let deletes = join_all(first.iter().map(|id| async move {
        app_ref
            .delete(&format!("/api/documents/{id}"))
            .await
            .status()
    }));
    let (deleted, answers) = tokio::join!(deletes, upload_all(&app, &files));
    assert!(deleted.iter().all(|s| *s == 204), "{deleted:?}");
    assert!(answers.iter().all(|(s, _)| *s == 201 || *s == 413));
    assert!(answers.iter().any(|(s, _)| *s == 201));

    // The deleted documents' objects are gone with the request (the store is up).
    let (used, rows, objects) = accounts(&app).await;
    assert_eq!(used, rows);
    assert_eq!(u64::try_from(used).unwrap(), objects);
    assert!(used <= 600_000);
}

#[tokio::test]
async fn an_upload_announced_larger_than_the_free_quota_is_refused_before_it_is_stored() {
    let app = TestApp::spawn().await;
    app.set_quota_limit(100_000).await;
    app.upload_ok("kept.txt", text_file(1, 60_000)).await;
    let resp = app.upload("big.txt", None, text_file(2, 200_000)).await;
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("storage quota exceeded: 60000 of 100000 bytes used"),
        "{message}"
    );
    // One that is announced small enough but does not fit once counted is refused at the
    // charge, and its stored bytes are deleted.
    let resp = app.upload("edge.txt", None, text_file(3, 45_000)).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(app.count("documents").await, 1);
    assert_eq!(app.bucket_objects().await.len(), 1);
    assert_eq!(app.count("object_cleanup").await, 0);
    let (used, rows, _) = accounts(&app).await;
    assert_eq!((used, rows), (60_000, 60_000));
}

#[tokio::test]
async fn deleting_gives_the_space_back() {
    let app = TestApp::spawn().await;
    app.set_quota_limit(50_000).await;
    let doc = app.upload_ok("a.txt", text_file(1, 40_000)).await;
    assert_eq!(
        app.upload("b.txt", None, text_file(2, 20_000))
            .await
            .status(),
        413
    );
    let id = doc["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/documents/{id}")).await.status(),
        204
    );
    assert_eq!(app.get_json("/api/me/quota").await.1["used_bytes"], 0);
    app.upload_ok("b.txt", text_file(2, 20_000)).await;
    assert_eq!(app.get_json("/api/me/quota").await.1["used_bytes"], 20_000);
}

#[tokio::test]
async fn new_accounts_get_the_configured_default_quota() {
    let app = TestApp::spawn_with(Options {
        env: vec![("QUOTA_DEFAULT_BYTES", "5000000".to_owned())],
        ..Options::default()
    })
    .await;
    assert_eq!(
        app.get_json("/api/me/quota").await.1,
        serde_json::json!({"used_bytes": 0, "limit_bytes": 5_000_000})
    );
}

#[tokio::test]
async fn a_download_link_fetches_the_bytes_straight_from_the_store() {
    let app = TestApp::spawn().await;
    let bytes = "Rechnung für März: 120 EUR".as_bytes().to_vec();
    let doc = app.upload_ok("Rechnung März.txt", bytes.clone()).await;
    let id = doc["id"].as_str().unwrap();
    let before = chrono::Utc::now();
    let (status, link) = app.get_json(&format!("/api/documents/{id}/download")).await;
    assert_eq!(status, 200, "{link}");
    let expires: chrono::DateTime<chrono::Utc> =
        link["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - before;
    assert!(ttl <= chrono::Duration::seconds(301) && ttl >= chrono::Duration::seconds(295));
    let url = link["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=300"), "{url}");

    // A plain client without credentials, as a browser would follow it.
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"Rechnung M_rz.txt\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.txt"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // Another user cannot get a link to it.
    let bob = app.new_user("bob").await;
    let resp = bob
        .client
        .get(app.url(&format!("/api/documents/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // A link that was altered (another key) is refused by the store.
    let forged = url.replace(id, &uuid::Uuid::new_v4().to_string());
    assert_eq!(reqwest::get(forged).await.unwrap().status(), 403);
}

#[tokio::test]
async fn download_links_use_the_public_endpoint_browsers_reach() {
    // The store as browsers would reach it under another name (here: localhost instead of
    // 127.0.0.1); the signature covers the host, so the URL must be signed for that one.
    let internal = url::Url::parse(&stack_var("MINIO_ENDPOINT")).unwrap();
    let public = format!("http://localhost:{}", internal.port().unwrap());
    let app = TestApp::spawn_with(Options {
        env: vec![("S3_PUBLIC_ENDPOINT", public.clone())],
        ..Options::default()
    })
    .await;
    let doc = app.upload_ok("a.txt", b"public bytes".to_vec()).await;
    let (_, link) = app
        .get_json(&format!(
            "/api/documents/{}/download",
            doc["id"].as_str().unwrap()
        ))
        .await;
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{public}/")), "{url}");
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"public bytes");
}
