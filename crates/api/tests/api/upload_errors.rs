//! Bad uploads get the right 4xx JSON error and leave nothing behind: no row, no object.

use bytes::Bytes;
use futures::stream;

use crate::helpers::{Options, TestApp};

async fn assert_nothing_left(app: &TestApp) {
    assert_eq!(app.count("documents").await, 0, "a row was left behind");
    assert_eq!(
        app.bucket_keys().await,
        Vec::<String>::new(),
        "an object was left behind"
    );
}

async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("error body is JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error.message"
    );
    (status, code)
}

/// A multipart body sent with chunked transfer encoding (no Content-Length), so the server
/// cannot refuse it up front and must stop it while streaming.
fn chunked_multipart(filename: &str, mime: &str, content: Vec<u8>) -> (String, reqwest::Body) {
    let boundary = "dvtestboundary7MA4YWxkTrZu0gW";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from(head))];
    for c in content.chunks(64 * 1024) {
        chunks.push(Ok(Bytes::copy_from_slice(c)));
    }
    chunks.push(Ok(Bytes::from(tail)));
    (
        format!("multipart/form-data; boundary={boundary}"),
        reqwest::Body::wrap_stream(stream::iter(chunks)),
    )
}

#[tokio::test]
async fn bad_uploads_are_refused_with_json_errors_and_leave_nothing() {
    let app = TestApp::spawn_with(Options {
        max_upload_bytes: Some(1024 * 1024),
        ..Options::default()
    })
    .await;
    let zip = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".repeat(10);
    let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00".repeat(10);
    let mut big_pdf = b"%PDF-1.4\n".to_vec();
    big_pdf.resize(2 * 1024 * 1024, b'x');

    // (filename, declared type, bytes, expected status, expected code)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "empty.txt",
            Some("text/plain"),
            Vec::new(),
            400,
            "empty_file",
        ),
        (
            "archive.zip",
            Some("application/zip"),
            zip,
            415,
            "unsupported_file_type",
        ),
        ("program", None, elf, 415, "unsupported_file_type"),
        (
            "notes.txt",
            Some("application/pdf"),
            b"just text".to_vec(),
            415,
            "content_type_mismatch",
        ),
        (
            "report.pdf",
            None,
            b"just text, not a pdf".to_vec(),
            415,
            "content_type_mismatch",
        ),
        (
            "big.pdf",
            Some("application/pdf"),
            big_pdf.clone(),
            413,
            "file_too_large",
        ),
    ];
    for (name, mime, bytes, want_status, want_code) in cases {
        let got = error_of(app.upload(name, mime, bytes).await).await;
        assert_eq!(got, (want_status, want_code.to_owned()), "{name}");
    }

    // Oversized without a Content-Length: stopped while streaming.
    let (ct, body) = chunked_multipart("big.pdf", "application/pdf", big_pdf);
    let resp = app
        .client
        .post(app.url("/api/documents/upload"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (413, "file_too_large".to_owned()));

    // Malformed and incomplete requests.
    let post = |ct: Option<&'static str>, body: &'static [u8]| {
        let mut req = app.client.post(app.url("/api/documents/upload")).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let truncated =
        b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello";
    let cases: Vec<(Option<&'static str>, &'static [u8], u16, &str)> = vec![
        (None, b"hello", 400, "invalid_multipart"),
        (Some("application/json"), b"{}", 400, "invalid_multipart"),
        (
            Some("multipart/form-data"),
            b"--x--\r\n",
            400,
            "invalid_multipart",
        ),
        (
            Some("multipart/form-data; boundary=xyz"),
            truncated,
            400,
            "invalid_multipart",
        ),
        (
            Some("multipart/form-data; boundary=xyz"),
            b"--xyz--\r\n",
            400,
            "missing_file",
        ),
    ];
    for (ct, body, want_status, want_code) in cases {
        let got = error_of(post(ct, body).await.unwrap()).await;
        assert_eq!(
            got,
            (want_status, want_code.to_owned()),
            "content-type {ct:?}"
        );
    }
    // A form whose only field has another name.
    let form = reqwest::multipart::Form::new().part(
        "document",
        reqwest::multipart::Part::bytes(b"hi".to_vec()).file_name("a.txt"),
    );
    let resp = app
        .client
        .post(app.url("/api/documents/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (400, "missing_file".to_owned()));

    assert_nothing_left(&app).await;

    // And the limit is not off by one: exactly the limit is accepted.
    let mut exact = b"%PDF-1.4\n".to_vec();
    exact.resize(1024 * 1024, b'y');
    app.upload_ok("exact.pdf", exact).await;
    assert_eq!(app.count("documents").await, 1);
}

#[tokio::test]
async fn an_upload_that_fails_after_storing_removes_its_object() {
    let app = TestApp::spawn().await;
    // Make the insert fail after the bytes are stored: revoke INSERT from the app role on this
    // test's database (as its owner), the way a failing database would refuse the row.
    let owner_url = crate::helpers::with_database(
        &crate::helpers::stack_var("DATABASE_MIGRATE_URL"),
        &app.db_name,
    );
    let mut owner = sqlx::postgres::PgConnection::connect(&owner_url)
        .await
        .unwrap();
    sqlx::query("REVOKE INSERT ON documents FROM docuvault_app")
        .execute(&mut owner)
        .await
        .unwrap();
    let resp = app
        .upload("a.txt", None, b"will not be recorded".to_vec())
        .await;
    assert_eq!(resp.status(), 500);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal_error");
    assert_eq!(
        body["error"]["message"], "an unexpected error occurred",
        "no internals in the answer"
    );
    assert_nothing_left(&app).await;
}

use sqlx::Connection;
