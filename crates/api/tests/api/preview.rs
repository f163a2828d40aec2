//! Previews and thumbnails: inline, sandboxed, by byte range, reachable with a media token
//! (never the access token in a URL), for the owner and recipients only, and gone with the
//! document.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, pdf};

/// A PDF whose opening action is JavaScript: a viewer that ran it would show an alert.
fn pdf_with_javascript() -> Vec<u8> {
    let body = pdf(&[Some(&["A harmless looking invoice"])]);
    let text = String::from_utf8_lossy(&body).into_owned();
    text.replacen(
        "/Type /Catalog",
        "/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert\\('pwned'\\)) >>",
        1,
    )
    .into_bytes()
}

#[tokio::test]
async fn previews_are_inline_sandboxed_and_ranged() {
    let app = TestApp::spawn().await;
    let bytes = pdf_with_javascript();
    let doc = app.upload_ok("invoice.pdf", bytes.clone()).await;
    let id = doc["id"].as_str().unwrap().to_owned();

    let resp = app.get(&format!("/api/documents/{id}/preview")).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"invoice.pdf\"")
    );
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let ranged = |range: &'static str| {
        app.client
            .get(app.url(&format!("/api/documents/{id}/preview")))
            .header("range", range)
            .send()
    };
    let resp = ranged("bytes=10-19").await.unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(
        resp.headers()["content-range"].to_str().unwrap(),
        format!("bytes 10-19/{}", bytes.len())
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let resp = ranged("bytes=-5").await.unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 5..]
    );
    let resp = ranged("bytes=999999-").await.unwrap();
    assert_eq!(resp.status(), 416);
    assert_eq!(
        resp.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{}", bytes.len())
    );

    // Without credentials: refused; with a preview link: allowed, for that document only.
    let anon = app.anonymous();
    let resp = anon
        .get(app.url(&format!("/api/documents/{id}/preview")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, link) = app
        .get_json(&format!("/api/documents/{id}/preview-link"))
        .await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("/api/documents/{id}/preview?token=")),
        "{url}"
    );
    assert!(
        !url.contains(&app.user.token),
        "the access token stays out of URLs"
    );
    let resp = anon
        .get(app.url(url))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"%PDF");
    let other = app.upload_ok("other.txt", b"other".to_vec()).await;
    let token = url.split("token=").nth(1).unwrap();
    let resp = anon
        .get(app.url(&format!(
            "/api/documents/{}/preview?token={token}",
            other["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "a preview token is for its own document"
    );
    let resp = anon
        .get(app.url(&format!("/api/documents/{id}/preview?token={token}x")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn thumbnails_are_made_served_and_deleted_with_the_document() {
    let app = TestApp::spawn().await;
    let doc = app
        .upload_ok(
            "scan.pdf",
            pdf(&[Some(&["Page one of the contract"]), None]),
        )
        .await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let text = app.upload_ok("note.txt", b"no pages here".to_vec()).await;
    app.process_all().await;

    let (_, got) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(got["has_thumbnail"], true, "{got}");
    let (_, got) = app
        .get_json(&format!("/api/documents/{}", text["id"].as_str().unwrap()))
        .await;
    assert_eq!(got["has_thumbnail"], false);

    let (status, token) = app.get_json("/api/me/thumbnail-token").await;
    assert_eq!(status, 200);
    let token = token["token"].as_str().unwrap().to_owned();
    let anon = app.anonymous();
    let resp = anon
        .get(app.url(&format!("/api/documents/{id}/thumbnail?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // About 300 px on the longer side (the page is portrait: the height).
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!((290..=310).contains(&height), "height {height}");
    // A preview token is not a thumbnail token, and a stranger's token opens nothing of ours.
    let (_, link) = app
        .get_json(&format!("/api/documents/{id}/preview-link"))
        .await;
    let preview_token = link["url"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let resp = anon
        .get(app.url(&format!(
            "/api/documents/{id}/thumbnail?token={preview_token}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let bob = app.new_user("bob").await;
    let resp = bob
        .client
        .get(app.url("/api/me/thumbnail-token"))
        .send()
        .await
        .unwrap();
    let bobs: Value = resp.json().await.unwrap();
    let resp = anon
        .get(app.url(&format!(
            "/api/documents/{id}/thumbnail?token={}",
            bobs["token"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // Shared: Bob's own thumbnail token opens it, until the share is revoked.
    let (status, share) = app
        .send_json(
            Method::POST,
            &format!("/api/documents/{id}/shares"),
            json!({"handle": "bob"}),
        )
        .await;
    assert_eq!(status, 201);
    let thumb_as_bob = || {
        anon.get(app.url(&format!(
            "/api/documents/{id}/thumbnail?token={}",
            bobs["token"].as_str().unwrap()
        )))
        .send()
    };
    assert_eq!(thumb_as_bob().await.unwrap().status(), 200);
    let resp = bob
        .client
        .get(app.url(&format!("/api/documents/{id}/preview")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .delete(&format!(
            "/api/documents/{id}/shares/{}",
            share["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(thumb_as_bob().await.unwrap().status(), 404);

    let keys = app.bucket_keys().await;
    assert!(keys.iter().any(|k| k.ends_with(".thumb.png")), "{keys:?}");
    // The thumbnail goes with its document.
    assert_eq!(
        app.delete(&format!("/api/documents/{id}")).await.status(),
        204
    );
    app.worker().clean_up_objects().await.unwrap();
    let keys = app.bucket_keys().await;
    assert!(!keys.iter().any(|k| k.contains(&id)), "{keys:?}");
}
