//! Mail ingest against the stack's real IMAP server (Dovecot): mail is put in a mailbox with
//! curl's IMAP APPEND, the account is connected through the API (plain on loopback, and TLS and
//! STARTTLS trusting the stack's CA through MAIL_CA_FILE), and the workers' look imports each
//! attachment once.

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Options, TestApp, stack_var};

fn options(private: bool) -> Options {
    let mut env = vec![("MAIL_CA_FILE", stack_var("DOCUVAULT_TEST_IMAP_CA"))];
    if private {
        env.push(("MAIL_ALLOW_PRIVATE_ENDPOINTS", "true".to_owned()));
    }
    Options {
        env,
        ..Options::default()
    }
}

/// A mailbox of its own on the stack's server (any user name works with the stack's password).
fn mailbox_user() -> String {
    format!("dvt-{}", &Uuid::new_v4().simple().to_string()[..12])
}

fn imap(user: &str, args: &[&str], path: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--user"])
        .arg(format!(
            "{user}:{}",
            stack_var("DOCUVAULT_TEST_IMAP_PASSWORD")
        ))
        .args(args)
        .arg(format!(
            "imap://127.0.0.1:{}/{path}",
            stack_var("DOCUVAULT_TEST_IMAP_PORT")
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn append(user: &str, message: &str) {
    let file = std::env::temp_dir().join(format!("dvt-mail-{}.eml", Uuid::new_v4()));
    std::fs::write(&file, message.replace('\n', "\r\n")).unwrap();
    imap(user, &["-T", file.to_str().unwrap()], "INBOX");
    std::fs::remove_file(file).ok();
}

fn mail(subject: &str, attachments: &[(&str, &str, &[u8])]) -> String {
    use base64::Engine;
    let mut out = format!(
        "From: Landlord <landlord@example.org>\nTo: alice@example.org\nSubject: {subject}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"sep\"\n\n--sep\nContent-Type: text/plain\n\nPlease find it attached.\n"
    );
    for (name, mime, bytes) in attachments {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        out.push_str(&format!(
            "--sep\nContent-Type: {mime}; name=\"{name}\"\nContent-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{encoded}\n"
        ));
    }
    out.push_str("--sep--\n");
    out
}

async fn connect(
    app: &TestApp,
    user: &str,
    security: &str,
    port_var: &str,
    host: &str,
) -> (u16, Value) {
    app.send_json(
        Method::POST,
        "/api/me/mail-accounts",
        json!({
            "host": host,
            "port": stack_var(port_var).parse::<u16>().unwrap(),
            "security": security,
            "username": user,
            "password": stack_var("DOCUVAULT_TEST_IMAP_PASSWORD"),
        }),
    )
    .await
}

async fn look(app: &TestApp) -> usize {
    let vault =
        docuvault_core::services::Vault::from_config(&app.config, "docuvault-test-mail").unwrap();
    docuvault_core::ingest::mail::check_due(&vault)
        .await
        .unwrap()
}

#[tokio::test]
async fn attachments_of_new_mail_become_documents_once() {
    let app = TestApp::spawn_with(options(true)).await;
    let user = mailbox_user();
    append(
        &user,
        &mail(
            "Rent increase",
            &[(
                "rent-letter.txt",
                "text/plain",
                b"The monthly rent for flat 4 rises to 900 EUR from June.",
            )],
        ),
    );
    append(&user, &mail("Just saying hello", &[]));
    append(
        &user,
        &mail(
            "Heating bill",
            &[
                (
                    "heating.rtf",
                    "application/rtf",
                    br"{\rtf1\ansi Heating oil bill 1850 litres\par}",
                ),
                ("calendar.ics", "text/calendar", b"\x00\x01binary"),
            ],
        ),
    );

    // The password is tried before anything is kept, and never answered.
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/me/mail-accounts",
            json!({"host": "127.0.0.1", "port": stack_var("DOCUVAULT_TEST_IMAP_PORT").parse::<u16>().unwrap(),
                   "security": "none", "username": user, "password": "wrong"}),
        )
        .await;
    app.assert_error((status, body), 422, "mail_login_failed");
    let (status, account) =
        connect(&app, &user, "none", "DOCUVAULT_TEST_IMAP_PORT", "127.0.0.1").await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["status"], "active");
    let password = stack_var("DOCUVAULT_TEST_IMAP_PASSWORD");
    assert!(!account.to_string().contains(&password));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT password_enc FROM mail_accounts")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        !stored
            .windows(password.len())
            .any(|w| w == password.as_bytes())
    );

    assert_eq!(look(&app).await, 1);
    app.process_all().await;
    let (_, page) = app.get_json("/api/documents").await;
    let mut names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["filename"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["heating.rtf", "rent-letter.txt"]);
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item["status"], "classified", "{item}");
    }
    let (_, list) = app.get_json("/api/me/mail-accounts").await;
    assert_eq!(list[0]["imported"], 2);
    assert!(list[0]["last_checked_at"].is_string());
    assert!(!list.to_string().contains(&password));

    // Every message is marked on the server; asked to look again, nothing new is imported.
    let marked = imap(
        &user,
        &["-X", "UID SEARCH KEYWORD $DocuVaultImported"],
        "INBOX",
    );
    assert_eq!(marked.split_whitespace().count(), 2 + 3, "{marked}");
    let id = list[0]["id"].as_str().unwrap();
    let resp = app
        .client
        .post(app.url(&format!("/api/me/mail-accounts/{id}/check")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(look(&app).await, 1);
    assert_eq!(app.count("documents").await, 2);

    // The same attachment in a new mail is not stored twice.
    append(
        &user,
        &mail(
            "Fwd: Rent increase",
            &[(
                "rent-letter.txt",
                "text/plain",
                b"The monthly rent for flat 4 rises to 900 EUR from June.",
            )],
        ),
    );
    app.client
        .post(app.url(&format!("/api/me/mail-accounts/{id}/check")))
        .send()
        .await
        .unwrap();
    assert_eq!(look(&app).await, 1);
    assert_eq!(app.count("documents").await, 2);

    // A stranger neither sees nor removes it; its owner removes it.
    let bob = app.new_user("bob").await;
    let resp = bob
        .client
        .get(app.url("/api/me/mail-accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!([]));
    let resp = bob
        .client
        .delete(app.url(&format!("/api/me/mail-accounts/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        app.delete(&format!("/api/me/mail-accounts/{id}"))
            .await
            .status(),
        204
    );
    assert_eq!(app.count("mail_accounts").await, 0);
    assert_eq!(app.count("documents").await, 2, "imported documents stay");
}

#[tokio::test]
async fn tls_and_starttls_with_the_operators_ca_and_refusals() {
    let app = TestApp::spawn_with(options(true)).await;
    let user = mailbox_user();
    append(&user, &mail("Hello", &[]));
    let (status, body) =
        connect(&app, &user, "tls", "DOCUVAULT_TEST_IMAPS_PORT", "localhost").await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = connect(
        &app,
        &user,
        "starttls",
        "DOCUVAULT_TEST_IMAP_PORT",
        "localhost",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = app
        .send_json(
            Method::POST,
            "/api/me/mail-accounts",
            json!({"host": "localhost", "port": stack_var("DOCUVAULT_TEST_IMAPS_PORT").parse::<u16>().unwrap(),
                   "security": "tls", "username": user, "password": stack_var("DOCUVAULT_TEST_IMAP_PASSWORD"),
                   "folder": "No such folder"}),
        )
        .await;
    assert_eq!(body["error"]["code"], "mail_login_failed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no folder")
    );
    assert_eq!(app.count("mail_accounts").await, 2);

    // Without the operator's consent, a private address is refused before any connection.
    let strict = TestApp::spawn_with(options(false)).await;
    let (status, body) = connect(
        &strict,
        &user,
        "tls",
        "DOCUVAULT_TEST_IMAPS_PORT",
        "localhost",
    )
    .await;
    strict.assert_error((status, body.clone()), 422, "mail_login_failed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("private address"),
        "{body}"
    );
    assert_eq!(strict.count("mail_accounts").await, 0);
}
