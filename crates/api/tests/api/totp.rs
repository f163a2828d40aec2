//! Two-factor sign-in: enrolment (inactive until a first valid code), login with a code, replay
//! refused, recovery codes single-use, turning it off, and an admin's reset.

use docuvault_core::auth::totp;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

fn base32_decode(s: &str) -> Vec<u8> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// Enrols alice and returns her secret and recovery codes.
async fn enrol(app: &TestApp) -> (Vec<u8>, Vec<String>) {
    let (status, e) = app
        .send_json(Method::POST, "/api/me/totp/enroll", json!({}))
        .await;
    assert_eq!(status, 200, "{e}");
    let uri = e["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/DocuVault:alice?secret="),
        "{uri}"
    );
    assert!(e["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let secret = base32_decode(e["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);

    // Not active yet: login still needs only the password.
    let (status, body, _) = app.login("alice", PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
    // A wrong first code does not turn it on.
    let wrong = if totp::code_at(&secret, totp::now_unix()).unwrap() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/me/totp/verify",
            json!({ "code": wrong }),
        )
        .await;
    app.assert_error((status, body), 400, "invalid_totp_code");

    let code = totp::code_at(&secret, totp::now_unix()).unwrap();
    let (status, v) = app
        .send_json(Method::POST, "/api/me/totp/verify", json!({ "code": code }))
        .await;
    assert_eq!(status, 200, "{v}");
    let codes: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

#[tokio::test]
async fn totp_login_replay_and_recovery_codes() {
    let app = TestApp::spawn().await;
    let (secret, codes) = enrol(&app).await;
    // Stored sealed, not as the raw or base32 secret.
    let stored: String = sqlx::query_scalar("SELECT totp_secret FROM users WHERE handle = 'alice'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!stored.contains(&totp::base32(&secret)));
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT unnest(recovery_codes) FROM users WHERE handle = 'alice'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        hashes.iter().all(|h| !codes.contains(h)),
        "only hashes are stored"
    );

    // The password alone now asks for a code.
    let (status, body, cookies) = app.login("alice", PASSWORD, None).await;
    assert_eq!((status, body), (200, json!({ "totp_required": true })));
    assert!(cookies.0.is_empty(), "no session without the code");
    // The wrong password with a code is still just wrong.
    let next = totp::code_at(&secret, totp::now_unix() + 30).unwrap();
    assert_eq!(
        app.login("alice", "wrong password!!", Some(&next)).await.0,
        401
    );

    // The next step's code (inside the ±1 window) signs in once; the same code again does not.
    let (status, body, _) = app.login("alice", PASSWORD, Some(&next)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = app.login("alice", PASSWORD, Some(&next)).await;
    app.assert_error((status, body), 401, "invalid_totp_code");
    // A code from two steps away is outside the window.
    let far = totp::code_at(&secret, totp::now_unix() + 120).unwrap();
    assert_eq!(app.login("alice", PASSWORD, Some(&far)).await.0, 401);

    // A recovery code works once, in any case.
    let (status, body, _) = app
        .login("alice", PASSWORD, Some(&codes[0].to_lowercase()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["recovery_codes_left"], 9);
    assert_eq!(app.login("alice", PASSWORD, Some(&codes[0])).await.0, 401);
    assert_eq!(app.audit("recovery_code_used").await.len(), 1);
    assert_eq!(app.audit("totp_enabled").await.len(), 1);
    // Enrolling again while on is refused.
    let (status, body) = app
        .send_json(Method::POST, "/api/me/totp/enroll", json!({}))
        .await;
    app.assert_error((status, body), 409, "totp_already_enabled");
}

#[tokio::test]
async fn turning_totp_off_needs_password_and_code() {
    let app = TestApp::spawn().await;
    let (_secret, codes) = enrol(&app).await;
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/me/totp/disable",
            json!({ "password": "wrong password!!", "code": codes[1] }),
        )
        .await;
    app.assert_error((status, body), 403, "wrong_password");
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/me/totp/disable",
            json!({ "password": PASSWORD, "code": "123456" }),
        )
        .await;
    app.assert_error((status, body), 403, "invalid_totp_code");
    let (status, _) = app
        .send_json(
            Method::POST,
            "/api/me/totp/disable",
            json!({ "password": PASSWORD, "code": codes[1] }),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.login("alice", PASSWORD, None).await.0, 200);
    assert_eq!(app.audit("totp_disabled").await.len(), 1);
}

#[tokio::test]
async fn an_admin_can_reset_a_users_totp() {
    let app = TestApp::spawn().await;
    enrol(&app).await;
    let admin = app.new_admin("root").await;
    let resp = admin
        .client
        .patch(app.url(&format!("/api/admin/users/{}", app.user.id)))
        .json(&json!({ "reset_totp": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["totp_enabled"], false);
    let (status, body, _) = app.login("alice", PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
    let reset = app.audit("totp_reset_by_admin").await;
    assert_eq!((reset.len(), reset[0].1), (1, Some(admin.id)));
}
