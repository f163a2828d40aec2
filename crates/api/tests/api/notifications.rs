//! Notifications by email, each a user's setting, delivered to the stack's SMTP server: a
//! document shared with them, a document of theirs that failed, a sign-in token used twice.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, TestUser, mail_arrived, wait_for_mail};

/// A handle no other test uses: the stack's mailbox is shared by every test.
fn handle(prefix: &str) -> String {
    format!("{prefix}{}", &Uuid::new_v4().simple().to_string()[..10])
}

async fn settings(user: &TestUser, app: &TestApp, body: Option<Value>) -> Value {
    let req = match &body {
        Some(b) => user.client.put(app.url("/api/me/notifications")).json(b),
        None => user.client.get(app.url("/api/me/notifications")),
    };
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn shares_and_failures_are_emailed_to_those_who_asked() {
    let app = TestApp::spawn().await;
    let owner = app.new_user(&handle("own")).await;
    let keen = app.new_user(&handle("keen")).await;
    let quiet = app.new_user(&handle("quiet")).await;

    let defaults = settings(&keen, &app, None).await;
    assert_eq!(
        defaults,
        json!({"document_failed": false, "document_shared": false, "suspicious_sign_in": true})
    );
    settings(
        &keen,
        &app,
        Some(
            json!({"document_failed": false, "document_shared": true, "suspicious_sign_in": true}),
        ),
    )
    .await;

    let doc = app
        .upload_as(
            &owner.client,
            "lease.txt",
            b"The lease of flat 4 runs until 2030.".to_vec(),
        )
        .await;
    for recipient in [&keen, &quiet] {
        let resp = owner
            .client
            .post(app.url(&format!("/api/documents/{doc}/shares")))
            .json(&json!({ "handle": recipient.handle }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let mail = wait_for_mail(&format!("{}@example.org", keen.handle)).await;
    assert!(
        mail.contains(&format!("{} shared \"lease.txt\" with you", owner.handle)),
        "{mail}"
    );
    assert!(mail.contains(&format!("/documents/{doc}")), "{mail}");
    assert!(
        !mail_arrived(
            &format!("{}@example.org", quiet.handle),
            Duration::from_secs(1)
        )
        .await,
        "no mail for who did not ask"
    );

    // A failed document, for an owner who asked; none for one who did not.
    settings(
        &owner,
        &app,
        Some(
            json!({"document_failed": true, "document_shared": false, "suspicious_sign_in": true}),
        ),
    )
    .await;
    app.upload_as(&owner.client, "blank.txt", b"   \n\t  ".to_vec())
        .await;
    app.upload_as(&quiet.client, "blank.txt", b"   \n\t  ".to_vec())
        .await;
    app.process_all().await;
    let mail = wait_for_mail(&format!("{}@example.org", owner.handle)).await;
    assert!(mail.contains("could not process \"blank.txt\""), "{mail}");
    assert!(mail.contains("no text to classify"), "{mail}");
    assert!(
        !mail_arrived(
            &format!("{}@example.org", quiet.handle),
            Duration::from_secs(1)
        )
        .await
    );
}

#[tokio::test]
async fn a_copied_sign_in_token_is_emailed_unless_turned_off() {
    let app = TestApp::spawn().await;
    for (name, wants) in [(handle("wary"), true), (handle("calm"), false)] {
        let user = app.new_user(&name).await;
        if !wants {
            settings(
                &user,
                &app,
                Some(json!({"document_failed": false, "document_shared": false, "suspicious_sign_in": false})),
            )
            .await;
        }
        let (_, first, mut jar) = app.login(&name, PASSWORD, None).await;
        let csrf = first["csrf_token"].as_str().unwrap().to_owned();
        let mut stolen = jar.clone();
        let (status, _) = app
            .post_with_cookies("/api/auth/refresh", &mut jar, Some(&csrf))
            .await;
        assert_eq!(status, 200);
        let answer = app
            .post_with_cookies("/api/auth/refresh", &mut stolen, Some(&csrf))
            .await;
        app.assert_error(answer, 401, "refresh_token_reused");
        let to = format!("{name}@example.org");
        if wants {
            let mail = wait_for_mail(&to).await;
            assert!(mail.contains("was used twice"), "{mail}");
            assert!(mail.contains("/account"), "{mail}");
        } else {
            assert!(!mail_arrived(&to, Duration::from_secs(1)).await);
        }
    }
    // All three are required.
    let answer = app
        .send_json(
            Method::PUT,
            "/api/me/notifications",
            json!({"document_failed": true}),
        )
        .await;
    app.assert_error(answer, 400, "invalid_json");
}
