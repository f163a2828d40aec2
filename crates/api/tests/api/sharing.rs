//! Sharing: a recipient may read (details, content, download link) and never change; a
//! stranger finds nothing; handles are checked and their lookups rate-limited; revoking and
//! deleting take effect at once; the owner sees the document's history.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

async fn call(app: &TestApp, who: &TestUser, method: Method, path: &str) -> (u16, Value) {
    call_with(app, who, method, path, None).await
}

async fn call_with(
    app: &TestApp,
    who: &TestUser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = who.client.request(method, app.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn share(app: &TestApp, doc: &str, handle: &str) -> (u16, Value) {
    app.send_json(
        Method::POST,
        &format!("/api/documents/{doc}/shares"),
        json!({ "handle": handle }),
    )
    .await
}

fn kinds(activity: &Value) -> Vec<(String, Option<String>)> {
    activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_owned(),
                a["actor"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_recipient_may_read_and_never_change() {
    let app = TestApp::spawn().await;
    let (status, folder) = app
        .send_json(Method::POST, "/api/folders", json!({"name": "Private"}))
        .await;
    assert_eq!(status, 201);
    let doc = app
        .upload_ok(
            "lease.txt",
            b"the lease of the flat, signed in May".to_vec(),
        )
        .await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{id}"),
            json!({"folder_id": folder["id"]}),
        )
        .await;
    assert_eq!(status, 200);
    app.process_all().await;
    let bob = app.new_user("bob").await;
    let carol = app.new_user("carol").await;

    let (status, first) = share(&app, &id, "Bob").await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        (first["handle"].as_str(), first["permission"].as_str()),
        (Some("bob"), Some("view"))
    );
    let (status, again) = share(&app, &id, "bob").await;
    assert_eq!(
        (status, &again["id"]),
        (200, &first["id"]),
        "sharing twice is one share"
    );
    let share_id = first["id"].as_str().unwrap().to_owned();

    // Bob reads: the details (owner's handle, no folder of Alice's), the bytes, a download link.
    let (status, seen) = call(&app, &bob, Method::GET, &format!("/api/documents/{id}")).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["shared_by"], "alice");
    assert_eq!(seen["folder_id"], Value::Null);
    assert_eq!(
        seen["extracted_text"],
        "the lease of the flat, signed in May"
    );
    let bytes = bob
        .client
        .get(app.url(&format!("/api/documents/{id}/content")))
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.status(), 200);
    assert_eq!(
        bytes.bytes().await.unwrap().as_ref(),
        b"the lease of the flat, signed in May"
    );
    let (status, link) = call(
        &app,
        &bob,
        Method::GET,
        &format!("/api/documents/{id}/download"),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let (status, mine) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!((status, &mine["shared_by"]), (200, &Value::Null));

    // ...and changes nothing, reshares nothing, sees no shares or history: all 404.
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/api/documents/{id}"),
            Some(json!({"filename": "mine.txt"})),
        ),
        (
            Method::PATCH,
            format!("/api/documents/{id}"),
            Some(json!({"topic_ids": []})),
        ),
        (
            Method::PATCH,
            format!("/api/documents/{id}"),
            Some(json!({"folder_id": null})),
        ),
        (Method::DELETE, format!("/api/documents/{id}"), None),
        (
            Method::POST,
            format!("/api/documents/{id}/reclassify"),
            None,
        ),
        (
            Method::POST,
            format!("/api/documents/{id}/shares"),
            Some(json!({"handle": "carol"})),
        ),
        (Method::GET, format!("/api/documents/{id}/shares"), None),
        (
            Method::DELETE,
            format!("/api/documents/{id}/shares/{share_id}"),
            None,
        ),
        (Method::GET, format!("/api/documents/{id}/activity"), None),
    ] {
        let (status, body) = call_with(&app, &bob, method.clone(), &path, body).await;
        assert_eq!(status, 404, "bob {method} {path}: {body}");
    }
    // A stranger finds nothing at all.
    for path in ["", "/content", "/download", "/shares", "/activity"] {
        let (status, _) = call(
            &app,
            &carol,
            Method::GET,
            &format!("/api/documents/{id}{path}"),
        )
        .await;
        assert_eq!(status, 404, "carol GET {path}");
    }
    let (_, carols) = call(&app, &carol, Method::GET, "/api/shared-with-me").await;
    assert_eq!(carols["items"], json!([]));

    let (_, bobs) = call(&app, &bob, Method::GET, "/api/shared-with-me").await;
    let items = bobs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{bobs}");
    assert_eq!(
        (
            items[0]["id"].as_str(),
            items[0]["shared_by"].as_str(),
            items[0]["share_id"].as_str()
        ),
        (Some(id.as_str()), Some("alice"), Some(share_id.as_str()))
    );
    // Bob's own list is his own documents only.
    let (_, own) = call(&app, &bob, Method::GET, "/api/documents").await;
    assert_eq!(own["items"], json!([]));
    let (_, shares) = app.get_json(&format!("/api/documents/{id}/shares")).await;
    assert_eq!(shares.as_array().map(Vec::len), Some(1), "{shares}");

    // The history: Bob's view and download are there, once each, and nothing is Alice's to
    // lose: the audit log has the share.
    let (status, history) = app.get_json(&format!("/api/documents/{id}/activity")).await;
    assert_eq!(status, 200, "{history}");
    let seen = kinds(&history);
    for want in [
        ("uploaded", Some("alice")),
        ("moved", Some("alice")),
        ("classified", None),
        ("shared", Some("alice")),
        ("viewed", Some("bob")),
        ("downloaded", Some("bob")),
    ] {
        let n = seen
            .iter()
            .filter(|(k, a)| k == want.0 && a.as_deref() == want.1)
            .count();
        assert_eq!(n, 1, "{want:?} in {seen:?}");
    }
    assert_eq!(seen.last().map(|k| k.0.as_str()), Some("uploaded"));
    let audit = app.audit("document_shared").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].3["recipient_id"], json!(bob.id));

    // Revoked: at once, everywhere.
    let resp = app
        .delete(&format!("/api/documents/{id}/shares/{share_id}"))
        .await;
    assert_eq!(resp.status(), 204);
    for path in ["", "/content", "/download"] {
        let (status, _) = call(
            &app,
            &bob,
            Method::GET,
            &format!("/api/documents/{id}{path}"),
        )
        .await;
        assert_eq!(status, 404, "bob GET {path} after the revoke");
    }
    let (_, bobs) = call(&app, &bob, Method::GET, "/api/shared-with-me").await;
    assert_eq!(bobs["items"], json!([]));
    assert_eq!(app.audit("share_revoked").await.len(), 1);
    let resp = app
        .delete(&format!("/api/documents/{id}/shares/{share_id}"))
        .await;
    assert_eq!(resp.status(), 404);

    // Deleting the document takes its shares with it.
    assert_eq!(share(&app, &id, "carol").await.0, 201);
    assert_eq!(
        app.delete(&format!("/api/documents/{id}")).await.status(),
        204
    );
    let (_, carols) = call(&app, &carol, Method::GET, "/api/shared-with-me").await;
    assert_eq!(carols["items"], json!([]));
    assert_eq!(app.count("shares").await, 0);
    assert_eq!(app.count("document_activity").await, 0);
}

#[tokio::test]
async fn handles_are_checked_and_their_lookups_limited() {
    let app = TestApp::spawn().await;
    let doc = app.upload_ok("a.txt", b"text".to_vec()).await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let bob = app.new_user("bob").await;

    app.assert_error(
        share(&app, &id, "alice").await,
        422,
        "cannot_share_with_self",
    );
    app.assert_error(share(&app, &id, "nobody").await, 422, "unknown_handle");
    // Someone else's document: not found, whatever the handle.
    let (status, _) = call_with(
        &app,
        &bob,
        Method::POST,
        &format!("/api/documents/{id}/shares"),
        Some(json!({"handle": "alice"})),
    )
    .await;
    assert_eq!(status, 404);
    // A disabled account is not someone to share with.
    let admin = app.new_admin("root").await;
    let carol = app.new_user("carol").await;
    let (status, _) = call_with(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/admin/users/{}", carol.id),
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(status, 200);
    app.assert_error(share(&app, &id, "carol").await, 422, "unknown_handle");

    // Found handles do not count; unknown ones run out (20 per 15 minutes, 2 used above).
    assert_eq!(share(&app, &id, "bob").await.0, 201);
    for n in 0..18 {
        let (status, body) = share(&app, &id, &format!("ghost{n}")).await;
        assert_eq!(status, 422, "{n}: {body}");
    }
    app.assert_error(share(&app, &id, "ghost-x").await, 429, "rate_limited");
    assert_eq!(app.count("shares").await, 1);
}

#[tokio::test]
async fn the_history_is_the_owners_and_records_edits() {
    let app = TestApp::spawn().await;
    let doc = app
        .upload_ok("note.txt", b"remember the milk".to_vec())
        .await;
    let id = doc["id"].as_str().unwrap().to_owned();
    app.process_all().await;
    let (status, _) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{id}"),
            json!({"filename": "shopping.txt", "topic_ids": []}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, history) = app
        .get_json(&format!("/api/documents/{id}/activity?limit=2"))
        .await;
    assert_eq!(status, 200);
    let first: Vec<String> = kinds(&history).into_iter().map(|k| k.0).collect();
    assert_eq!(first, ["topics_set", "renamed"], "newest first");
    assert_eq!(
        history["items"][1]["detail"],
        json!({"from": "note.txt", "to": "shopping.txt"})
    );
    let before = history["next_before"].as_i64().unwrap();
    let (_, rest) = app
        .get_json(&format!("/api/documents/{id}/activity?before={before}"))
        .await;
    let rest: Vec<String> = kinds(&rest).into_iter().map(|k| k.0).collect();
    assert_eq!(rest, ["classified", "uploaded"]);
}
