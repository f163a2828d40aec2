//! `GET /api/events`: a user's open stream hears about their own documents' changes — made by
//! the API and by a worker, through Redis — and nothing of anyone else's; it ends when the
//! access token expires.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::helpers::{Options, TestApp};

/// One server-sent event: its name and its data, parsed as JSON.
#[derive(Debug)]
struct Sse {
    event: String,
    data: Value,
}

/// Reads an event stream, event by event.
struct EventReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl EventReader {
    async fn open(client: &reqwest::Client, url: String) -> Self {
        let resp = client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Self {
            body: resp.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ends. Fails the
    /// test after `wait` without one.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        tokio::time::timeout(wait, async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let mut event = String::new();
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim());
                        }
                    }
                    if event.is_empty() {
                        continue; // a comment (keep-alive)
                    }
                    return Some(Sse {
                        event,
                        data: serde_json::from_str(&data).unwrap_or(Value::Null),
                    });
                }
                match self.body.next().await {
                    Some(chunk) => self.buf.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
                    None => return None,
                }
            }
        })
        .await
        .expect("an event in time")
    }

    /// The next `document` event (skipping `resync`s).
    async fn next_document(&mut self) -> Value {
        loop {
            let e = self
                .next(Duration::from_secs(20))
                .await
                .expect("stream open");
            if e.event == "document" {
                return e.data;
            }
            assert_eq!(e.event, "resync", "{e:?}");
        }
    }
}

#[tokio::test]
async fn a_stream_hears_its_owners_document_changes_and_nobody_elses() {
    let app = TestApp::spawn().await;
    let bob = app.new_user("bob").await;
    let mut alice_events = EventReader::open(&app.client, app.url("/api/events")).await;
    let mut bob_events = EventReader::open(&bob.client, app.url("/api/events")).await;
    assert_eq!(
        alice_events
            .next(Duration::from_secs(5))
            .await
            .unwrap()
            .event,
        "ready"
    );
    assert_eq!(
        bob_events.next(Duration::from_secs(5)).await.unwrap().event,
        "ready"
    );
    // Subscribed once the subscription says so (a resync: fetch what you show).
    assert_eq!(
        alice_events
            .next(Duration::from_secs(5))
            .await
            .unwrap()
            .event,
        "resync"
    );

    let doc = app
        .upload_ok("note.txt", b"Invoice 42 for the plumber".to_vec())
        .await;
    let id = doc["id"].as_str().unwrap();
    let e = alice_events.next_document().await;
    assert_eq!(
        (
            e["document_id"].as_str(),
            e["change"].as_str(),
            e["status"].as_str()
        ),
        (Some(id), Some("created"), Some("pending"))
    );

    // A worker in another "process" (its own connections) processes it: its changes arrive
    // through Redis.
    app.process_all().await;
    let e = alice_events.next_document().await;
    assert_eq!(
        (e["change"].as_str(), e["status"].as_str()),
        (Some("updated"), Some("processing"))
    );
    let e = alice_events.next_document().await;
    assert_eq!(e["status"], "classified", "{e}");

    let (status, _) = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/documents/{id}"),
            serde_json::json!({"filename": "plumber.txt"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(alice_events.next_document().await["change"], "updated");
    assert_eq!(
        app.delete(&format!("/api/documents/{id}")).await.status(),
        204
    );
    let e = alice_events.next_document().await;
    assert_eq!(
        (e["change"].as_str(), e["status"].clone()),
        (Some("deleted"), Value::Null)
    );

    // Bob's stream heard none of it: his next event is about his own upload.
    let bobs = bob.client.post(app.url("/api/documents/upload")).multipart(
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"bob's letter".to_vec()).file_name("b.txt"),
        ),
    );
    let bobs: Value = bobs.send().await.unwrap().json().await.unwrap();
    let e = bob_events.next_document().await;
    assert_eq!(e["document_id"], bobs["id"], "{e}");
}

#[tokio::test]
async fn the_stream_ends_when_the_access_token_expires() {
    let app = TestApp::spawn_with(Options {
        env: vec![("ACCESS_TOKEN_TTL_SECS", "3".to_owned())],
        ..Options::default()
    })
    .await;
    // A fresh token (alice's was issued at start-up and may be nearly spent).
    let user = app.new_user("carol").await;
    let mut events = EventReader::open(&user.client, app.url("/api/events")).await;
    let mut names = Vec::new();
    while let Some(e) = events.next(Duration::from_secs(10)).await {
        names.push(e.event);
    }
    assert_eq!(names.first().map(String::as_str), Some("ready"));
    assert_eq!(names.last().map(String::as_str), Some("reauthenticate"));
    // Without a token there is no stream at all.
    let resp = app
        .anonymous()
        .get(app.url("/api/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
