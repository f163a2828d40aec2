//! Password reset by email, received by the stack's real SMTP server: the link works once,
//! expires, ends every session, and the request never tells whether an address has an account.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, mail_arrived, wait_for_mail};

/// A handle no other test (or earlier run) uses, since all share the SMTP server's Maildir.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn token_in(mail: &str) -> String {
    let after = mail
        .split("confirm:")
        .nth(1)
        .expect("token line in the mail");
    after.split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn reset_link_arrives_works_once_and_ends_sessions() {
    let app = TestApp::spawn().await;
    let handle = unique("reset");
    let user = app.new_user(&handle).await;
    let email = format!("{handle}@example.org");
    let (status, _) = app
        .send_json(
            Method::POST,
            "/api/auth/password-reset/request",
            json!({ "email": email.to_uppercase() }),
        )
        .await;
    assert_eq!(status, 202);
    let mail = wait_for_mail(&email).await;
    assert!(
        mail.contains("Subject: Reset your DocuVault password"),
        "{mail}"
    );
    assert!(
        mail.contains("http://localhost:8080/reset-password#token="),
        "{mail}"
    );
    let token = token_in(&mail);
    assert!(mail.contains(&format!("#token={token}")));
    // Only the hash is stored.
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM password_resets WHERE token_hash = $1")
            .bind(&token)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 0);

    // A weak new password is refused without using the link up.
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/auth/password-reset/confirm",
            json!({ "token": token, "new_password": "short" }),
        )
        .await;
    app.assert_error((status, body), 422, "weak_password");
    let new = "a fresh and long passphrase";
    let (status, _) = app
        .send_json(
            Method::POST,
            "/api/auth/password-reset/confirm",
            json!({ "token": token, "new_password": new }),
        )
        .await;
    assert_eq!(status, 204);
    // Once only.
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/auth/password-reset/confirm",
            json!({ "token": token, "new_password": "yet another passphrase" }),
        )
        .await;
    app.assert_error((status, body), 400, "invalid_reset_token");

    // Every session of the account ended; the new password works, the old does not.
    let (status, _) = app
        .with_token(Method::GET, "/api/me", Some(&user.token))
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .post_with_cookies(
            "/api/auth/refresh",
            &mut user.cookies.clone(),
            Some(&user.csrf),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(app.login(&handle, PASSWORD, None).await.0, 401);
    assert_eq!(app.login(&handle, new, None).await.0, 200);
    assert_eq!(app.audit("password_reset").await.len(), 1);
}

#[tokio::test]
async fn reset_links_expire() {
    let app = TestApp::spawn().await;
    let handle = unique("expire");
    app.new_user(&handle).await;
    let email = format!("{handle}@example.org");
    let (status, _) = app
        .send_json(
            Method::POST,
            "/api/auth/password-reset/request",
            json!({ "email": email }),
        )
        .await;
    assert_eq!(status, 202);
    let token = token_in(&wait_for_mail(&email).await);
    let expires_in: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM password_resets",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!((expires_in - 1800.0).abs() < 5.0, "{expires_in}");
    // Thirty minutes later (moved in the database rather than waited for).
    sqlx::query("UPDATE password_resets SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/auth/password-reset/confirm",
            json!({ "token": token, "new_password": "a fresh and long passphrase" }),
        )
        .await;
    app.assert_error((status, body), 400, "invalid_reset_token");
    assert_eq!(
        app.login(&handle, PASSWORD, None).await.0,
        200,
        "the password stayed"
    );
}

#[tokio::test]
async fn the_answer_does_not_tell_whether_the_address_exists() {
    let app = TestApp::spawn().await;
    let nobody = format!("{}@example.org", unique("nobody"));
    let resp = app
        .anonymous()
        .post(app.url("/api/auth/password-reset/request"))
        .json(&json!({ "email": nobody }))
        .send()
        .await
        .unwrap();
    let (status_unknown, body_unknown) = (resp.status(), resp.text().await.unwrap());
    let handle = unique("known");
    app.new_user(&handle).await;
    let resp = app
        .anonymous()
        .post(app.url("/api/auth/password-reset/request"))
        .json(&json!({ "email": format!("{handle}@example.org") }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status(), resp.text().await.unwrap()),
        (status_unknown, body_unknown)
    );
    wait_for_mail(&format!("{handle}@example.org")).await;
    assert!(!mail_arrived(&nobody, Duration::from_millis(300)).await);
    assert_eq!(app.count("password_resets").await, 1);
}
