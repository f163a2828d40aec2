//! Upload, download, list, read and delete through the HTTP API.

use std::collections::HashSet;

use crate::helpers::{Options, TestApp, list_keys, stack_var};

fn pdf_bytes(extra: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    // Deterministic filler that is not all one byte.
    v.extend((0..extra).map(|i| (i * 7 % 251) as u8));
    v.extend_from_slice(b"\n%%EOF\n");
    v
}

#[tokio::test]
async fn upload_then_download_returns_identical_bytes() {
    let app = TestApp::spawn().await;
    // Small text (single PUT) and a PDF larger than one 8 MiB part (multipart upload).
    let cases = [
        (
            "notes.txt",
            "Grüße aus Köln\nzażółć gęślą jaźń\n".as_bytes().to_vec(),
            "text/plain",
        ),
        (
            "scan.pdf",
            pdf_bytes(20 * 1024 * 1024 + 123),
            "application/pdf",
        ),
    ];
    for (name, bytes, mime) in cases {
        let doc = app.upload_ok(name, bytes.clone()).await;
        assert_eq!(doc["filename"], name);
        assert_eq!(doc["content_type"], mime);
        assert_eq!(doc["size_bytes"], bytes.len() as u64);
        assert_eq!(doc["status"], "pending");
        assert_eq!(doc["topics"], serde_json::json!([]));
        assert!(doc.get("extracted_text").is_none());

        let resp = app
            .get(&format!(
                "/api/documents/{}/content",
                doc["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], mime);
        assert_eq!(
            resp.headers()["content-length"],
            bytes.len().to_string().as_str()
        );
        assert!(
            resp.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        let body = resp.bytes().await.unwrap();
        assert!(
            body.as_ref() == bytes.as_slice(),
            "{name}: downloaded bytes differ"
        );
    }
    assert_eq!(app.count("documents").await, 2);
    assert_eq!(app.bucket_keys().await.len(), 2);
}

#[tokio::test]
async fn object_keys_follow_the_schema_and_never_contain_the_filename() {
    let app = TestApp::spawn().await;
    let long = format!("{}.pdf", "ä".repeat(300));
    let names = [
        "../../etc/passwd.pdf",
        "Rechnung Müller – 2024 📄.pdf",
        long.as_str(),
        "a\\b\\..\\c.pdf",
    ];
    for name in names {
        let doc = app.upload_ok(name, pdf_bytes(100)).await;
        let id = doc["id"].as_str().unwrap();
        let (key, filename): (String, String) =
            sqlx::query_as("SELECT object_key, filename FROM documents WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 3, "{key}");
        assert_eq!(
            parts[0],
            app.user.id.to_string(),
            "keys begin with the owner's id"
        );
        assert_eq!(parts[1], id);
        assert!(uuid::Uuid::parse_str(&parts[2][..36]).is_ok(), "{key}");
        assert_eq!(&parts[2][36..], ".pdf");
        // (The structure checks above already leave no room; these name the usual suspects. A bare
        // "c.pdf" is not among them: a random hex uuid may end in "c".)
        for piece in ["passwd", "etc", "..", "Rechnung", "ä", "\\"] {
            assert!(!key.contains(piece), "{piece} leaked into {key}");
        }
        assert!(
            !filename.contains('/') && !filename.contains('\\'),
            "{filename}"
        );
        assert!(filename.chars().count() <= 255);
        assert_eq!(doc["filename"], filename.as_str());
    }
    let (_, d) = app.get_json("/api/documents?limit=10").await;
    let shown: HashSet<&str> = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["filename"].as_str().unwrap())
        .collect();
    assert!(shown.contains("passwd.pdf"));
    assert!(shown.contains("Rechnung Müller – 2024 📄.pdf"));
    assert!(shown.contains("c.pdf"));
    let keys = app.bucket_keys().await;
    assert_eq!(keys.len(), 4);
    let owner = format!("{}/", app.user.id);
    assert!(keys.iter().all(|k| k.starts_with(&owner)), "{keys:?}");
}

#[tokio::test]
async fn unicode_filenames_survive_the_download_header() {
    let app = TestApp::spawn().await;
    let doc = app
        .upload_ok("Größe \"quoted\" 日本.txt", b"hello".to_vec())
        .await;
    let resp = app
        .get(&format!(
            "/api/documents/{}/content",
            doc["id"].as_str().unwrap()
        ))
        .await;
    let cd = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cd,
        "attachment; filename=\"Gr__e _quoted_ __.txt\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe%20%22quoted%22%20%E6%97%A5%E6%9C%AC.txt"
    );
}

#[tokio::test]
async fn list_is_paginated_newest_first_without_extracted_text() {
    let app = TestApp::spawn().await;
    let mut uploaded = Vec::new();
    for i in 0..7 {
        let doc = app
            .upload_ok(
                &format!("doc-{i}.txt"),
                format!("document number {i}").into_bytes(),
            )
            .await;
        uploaded.push(doc["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/documents?limit=3&cursor={c}"),
            None => "/api/documents?limit=3".to_owned(),
        };
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200);
        let items = page["items"].as_array().unwrap();
        sizes.push(items.len());
        for item in items {
            assert!(
                item.get("extracted_text").is_none(),
                "list must not carry extracted text"
            );
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    uploaded.reverse();
    assert_eq!(seen, uploaded, "newest first, each exactly once");

    app.assert_error(
        app.get_json("/api/documents?cursor=garbage").await,
        400,
        "invalid_cursor",
    );
    app.assert_error(
        app.get_json("/api/documents?limit=0").await,
        400,
        "invalid_limit",
    );
    app.assert_error(
        app.get_json("/api/documents?limit=abc").await,
        400,
        "invalid_query",
    );
}

#[tokio::test]
async fn get_shows_extracted_text_and_delete_removes_row_and_object() {
    let app = TestApp::spawn().await;
    let doc = app.upload_ok("a.txt", b"some text".to_vec()).await;
    let id = doc["id"].as_str().unwrap();
    // The pipeline will fill this in; set it the way it will, to see the API show it.
    sqlx::query("UPDATE documents SET extracted_text = 'some text' WHERE id = $1::uuid")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let (status, got) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["extracted_text"], "some text");
    assert_eq!(got["filename"], "a.txt");

    let resp = app.delete(&format!("/api/documents/{id}")).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.count("documents").await, 0);
    assert!(app.bucket_keys().await.is_empty());

    for path in [
        format!("/api/documents/{id}"),
        format!("/api/documents/{id}/content"),
    ] {
        let (status, body) = app.get_json(&path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("document_not_found")),
            "{path}"
        );
    }
    let resp = app.delete(&format!("/api/documents/{id}")).await;
    assert_eq!(resp.status(), 404);
    app.assert_error(
        app.get_json("/api/documents/not-a-uuid").await,
        400,
        "invalid_path",
    );
}

#[tokio::test]
async fn fifty_concurrent_uploads_are_all_persisted_with_distinct_keys() {
    let app = TestApp::spawn().await;
    let uploads = (0..50).map(|i| {
        let app = &app;
        async move {
            app.upload_ok(
                "same-name.txt",
                format!("concurrent upload {i}").into_bytes(),
            )
            .await
        }
    });
    let docs = futures::future::join_all(uploads).await;
    let ids: HashSet<&str> = docs.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 50);
    let keys: Vec<String> = sqlx::query_scalar("SELECT object_key FROM documents")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 50);
    let mut in_bucket = app.bucket_keys().await;
    let mut in_db = keys.clone();
    in_bucket.sort();
    in_db.sort();
    assert_eq!(
        in_bucket, in_db,
        "every row has its object and every object its row"
    );
}

#[tokio::test]
async fn the_app_key_works_on_its_bucket_and_nowhere_else() {
    // The stack's app key, limited to the `docuvault` bucket, as `make run` uses it.
    let app_key = (stack_var("MINIO_ACCESS_KEY"), stack_var("MINIO_SECRET_KEY"));
    let app = TestApp::spawn_with(Options {
        s3_credentials: Some(app_key.clone()),
        bucket: Some("docuvault".to_owned()),
        ..Options::default()
    })
    .await;
    let doc = app
        .upload_ok(
            "through-app-key.txt",
            b"bytes via the restricted key".to_vec(),
        )
        .await;
    let id = doc["id"].as_str().unwrap();
    let key: String = sqlx::query_scalar("SELECT object_key FROM documents")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(list_keys("docuvault", &app_key).await.contains(&key));
    let body = app
        .get(&format!("/api/documents/{id}/content"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"bytes via the restricted key");
    assert_eq!(
        app.delete(&format!("/api/documents/{id}")).await.status(),
        204
    );
    assert!(!list_keys("docuvault", &app_key).await.contains(&key));

    // The same key may not create (or use) any other bucket.
    let other = format!(
        "dvt-denied-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let store_cfg = docuvault_core::config::ObjectStoreConfig {
        endpoint: url::Url::parse(&stack_var("MINIO_ENDPOINT")).unwrap(),
        public_endpoint: None,
        region: "us-east-1".into(),
        bucket: other,
        access_key: app_key.0,
        secret_key: docuvault_core::Secret::new(app_key.1),
    };
    let store = docuvault_core::storage::S3Store::new(&store_cfg).unwrap();
    use docuvault_core::storage::ObjectStore;
    let err = store
        .ensure_bucket()
        .await
        .expect_err("app key must not create buckets");
    assert!(
        err.to_string()
            .contains("create it with the store's admin user")
            || err.to_string().contains("answered 403"),
        "{err}"
    );
}

#[tokio::test]
async fn presigned_urls_fetch_the_bytes_directly_and_expire() {
    let app = TestApp::spawn().await;
    let doc = app
        .upload_ok("direct.txt", b"straight from the store".to_vec())
        .await;
    let key: String = sqlx::query_scalar("SELECT object_key FROM documents WHERE id = $1::uuid")
        .bind(doc["id"].as_str().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    let store_cfg = docuvault_core::config::ObjectStoreConfig {
        endpoint: url::Url::parse(&stack_var("MINIO_ENDPOINT")).unwrap(),
        public_endpoint: None,
        region: "us-east-1".into(),
        bucket: app.bucket.clone(),
        access_key: stack_var("DOCUVAULT_TEST_S3_ROOT_ACCESS_KEY"),
        secret_key: docuvault_core::Secret::new(stack_var("DOCUVAULT_TEST_S3_ROOT_SECRET_KEY")),
    };
    use docuvault_core::storage::ObjectStore;
    let store = docuvault_core::storage::S3Store::new(&store_cfg).unwrap();
    let key = docuvault_domain::ObjectKey::from_stored(key);
    let url = store.presigned_get(
        &key,
        std::time::Duration::from_secs(60),
        Some("attachment; filename=\"direct.txt\""),
        None,
    );
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"direct.txt\""
    );
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        b"straight from the store"
    );

    let short = store.presigned_get(&key, std::time::Duration::from_secs(1), None, None);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        reqwest::get(short).await.unwrap().status(),
        403,
        "an expired URL must be refused"
    );
}
