//! OneDrive and Google Drive as storage. Neither can be reached from here, so each test starts
//! `web/e2e/cloud-provider.mjs`, which speaks their wire formats: the OAuth 2 endpoints (PKCE
//! checked), Microsoft Graph upload sessions and pre-authenticated downloads, Drive v3
//! resumable uploads, 401 on an expired token and 429 with `Retry-After` on demand. The test
//! plays the browser: it follows the provider's redirect and brings the code back to
//! DocuVault's callback with the state cookie DocuVault set.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cloud::download;
use crate::helpers::{Options, TestApp, pdf, text_file};

/// The callback as the provider sees it: DocuVault's PUBLIC_URL in the tests is the default.
const CALLBACK_PREFIX: &str = "http://localhost:8080/api/cloud-connections/oauth/callback";
const ACCOUNT: &str = "ada@example.org";

struct Provider {
    base: String,
    child: Child,
    http: reqwest::Client,
}

impl Provider {
    fn start() -> Self {
        let web = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web");
        let mut child = Command::new("node")
            .arg("e2e/cloud-provider.mjs")
            .current_dir(web)
            .env("CLIENT_ID", "docuvault-test")
            .env("CLIENT_SECRET", "a client secret")
            .env("ACCOUNT", ACCOUNT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs web/e2e/cloud-provider.mjs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the provider's first line");
        assert!(line.starts_with("http://"), "{line:?}");
        Self {
            base: line.trim().to_owned(),
            child,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let b = &self.base;
        vec![
            ("ONEDRIVE_CLIENT_ID", "docuvault-test".into()),
            ("ONEDRIVE_CLIENT_SECRET", "a client secret".into()),
            ("ONEDRIVE_AUTH_URL", format!("{b}/onedrive/authorize")),
            ("ONEDRIVE_TOKEN_URL", format!("{b}/onedrive/token")),
            ("ONEDRIVE_API_URL", format!("{b}/v1.0")),
            ("GDRIVE_CLIENT_ID", "docuvault-test".into()),
            ("GDRIVE_CLIENT_SECRET", "a client secret".into()),
            ("GDRIVE_AUTH_URL", format!("{b}/google/authorize")),
            ("GDRIVE_TOKEN_URL", format!("{b}/google/token")),
            ("GDRIVE_API_URL", format!("{b}/google")),
            ("JOB_RETRY_BASE_MS", "10".into()),
            ("JOB_MAX_ATTEMPTS", "2".into()),
        ]
    }

    async fn control(&self, what: &str, body: Value) {
        let resp = self
            .http
            .post(format!("{}/_control/{what}", self.base))
            .json(&body)
            .send()
            .await
            .expect("control");
        assert!(resp.status().is_success());
    }

    async fn get(&self, what: &str) -> Value {
        self.http
            .get(format!("{}/_control/{what}", self.base))
            .send()
            .await
            .expect("control")
            .json()
            .await
            .expect("json")
    }

    /// The files in the drive of `flavor` (`onedrive`, `gdrive`): (path, sha256).
    async fn files(&self, flavor: &str) -> Vec<(String, String)> {
        let all = self.get("files").await;
        let mut out: Vec<(String, String)> = all[flavor]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_owned(),
                    f["sha256"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    }

    async fn stat(&self, name: &str) -> u64 {
        self.get("stats").await[name].as_u64().expect("stat")
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Starts a sign-in as the app's user: the authorization URL and the state cookie it set.
async fn start(app: &TestApp, body: Value) -> (u16, Value, Option<String>) {
    let resp = app
        .client
        .post(app.url("/api/cloud-connections/oauth/start"))
        .json(&body)
        .send()
        .await
        .expect("start");
    let cookie = resp
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null), cookie)
}

/// Follows the provider's consent (it redirects at once): the callback's path and query.
async fn consent(provider: &Provider, authorization_url: &str) -> String {
    let resp = provider
        .http
        .get(authorization_url)
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
    let to = resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let rest = to.strip_prefix(CALLBACK_PREFIX).expect("the callback");
    format!("/api/cloud-connections/oauth/callback{rest}")
}

/// Brings the browser back to DocuVault's callback (with `cookie`, as the browser would).
async fn callback(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path));
    if let Some(c) = cookie {
        req = req.header(reqwest::header::COOKIE, c);
    }
    req.send().await.expect("callback")
}

/// Connects `provider` by signing in; the new connection's id.
async fn connect(app: &TestApp, provider: &Provider, which: &str) -> String {
    let (status, started, cookie) = start(app, json!({"provider": which})).await;
    assert_eq!(status, 200, "{started}");
    let url = started["authorization_url"].as_str().unwrap();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let back = consent(provider, url).await;
    let resp = callback(app, &back, cookie.as_deref()).await;
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let to = resp.headers()[reqwest::header::LOCATION].to_str().unwrap();
    to.strip_prefix("/storage?connected=")
        .unwrap_or_else(|| panic!("{to}"))
        .to_owned()
}

async fn connection(app: &TestApp, id: &str) -> Value {
    let (_, list) = app.get_json("/api/cloud-connections").await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn app_with(provider: &Provider) -> TestApp {
    TestApp::spawn_with(Options {
        env: provider.env(),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn onedrive_and_google_drive_keep_documents_unchanged_through_uploads_and_moves() {
    let provider = Provider::start();
    let app = app_with(&provider).await;
    let (_, offered) = app.get_json("/api/cloud-connections/oauth/providers").await;
    assert_eq!(
        offered,
        json!([{"provider": "onedrive", "name": "OneDrive"},
               {"provider": "gdrive", "name": "Google Drive"}])
    );

    // A callback without this browser's state cookie connects nothing; a state works once.
    let (_, started, cookie) = start(&app, json!({"provider": "onedrive"})).await;
    let back = consent(&provider, started["authorization_url"].as_str().unwrap()).await;
    let resp = callback(&app, &back, None).await;
    assert_eq!(resp.status(), 400);
    let resp = callback(&app, &back, Some("docuvault_cloud_oauth=forged")).await;
    assert_eq!(resp.status(), 400);
    let resp = callback(&app, &back, cookie.as_deref()).await;
    assert_eq!(resp.status(), 303, "the state is still unused");
    let resp = callback(&app, &back, cookie.as_deref()).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cloud_oauth_state_invalid", "{body}");
    let list = app.get_json("/api/cloud-connections").await.1;
    let onedrive = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["provider"], "onedrive");
    assert_eq!(list[0]["url"], ACCOUNT, "the account signed in as");
    assert_eq!(list[0]["status"], "active");
    assert!(!list.to_string().contains("-access-"), "{list}");
    assert!(!list.to_string().contains("-refresh-"), "{list}");

    // An upload (size unknown: spooled, then three Graph fragments), a 429 on the way.
    app.send_json(Method::PUT, "/api/me/storage", json!({"default": onedrive}))
        .await;
    provider
        .control("throttle", json!({"count": 1, "match": "/graph-upload/"}))
        .await;
    let big = text_file(7, 12 * 1024 * 1024 + 123);
    let doc = app.processed("Lease 2026.txt", big.clone()).await;
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["status"], "classified", "{doc}");
    assert_eq!(
        doc["storage_connection_id"].as_str(),
        Some(onedrive.as_str())
    );
    assert_eq!(provider.stat("throttled").await, 1);
    assert_eq!(provider.stat("bearer_on_session").await, 0);
    let short = &doc_id.replace('-', "")[..8];
    assert_eq!(
        provider.files("onedrive").await,
        vec![(
            format!("Unfiled/Lease 2026 ({short}).txt"),
            hex_sha256(&big)
        )]
    );
    assert_eq!(download(&app, &doc_id).await, big);

    // Moved to Google Drive (size known: two resumable pieces), after the tokens expired.
    let gdrive = connect(&app, &provider, "gdrive").await;
    provider.control("expire", json!({})).await;
    let refreshes = provider.stat("refresh_grants").await;
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/documents/{doc_id}/move-storage"),
            json!({"to": gdrive}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    app.process_all().await;
    let (_, doc) = app.get_json(&format!("/api/documents/{doc_id}")).await;
    assert_eq!(
        doc["storage_connection_id"].as_str(),
        Some(gdrive.as_str()),
        "{doc}"
    );
    assert!(
        provider.stat("refresh_grants").await >= refreshes + 2,
        "both renewed"
    );
    assert_eq!(
        provider.files("gdrive").await,
        vec![(
            format!("DocuVault/Unfiled/Lease 2026 ({short}).txt"),
            hex_sha256(&big)
        )]
    );
    assert!(
        provider.files("onedrive").await.is_empty(),
        "the old copy is gone"
    );
    assert_eq!(download(&app, &doc_id).await, big);
    let (_, link) = app
        .get_json(&format!("/api/documents/{doc_id}/preview-link"))
        .await;
    let ranged = app
        .anonymous()
        .get(app.url(link["url"].as_str().unwrap()))
        .header("range", "bytes=0-5")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &big[..6]);

    // A small PDF kept in OneDrive: extracted and classified as any other; then all is removed.
    let small = pdf(&[Some(&["Invoice number 4711 for the garden furniture"])]);
    let doc = app.processed("Garden.pdf", small.clone()).await;
    assert_eq!(doc["status"], "classified", "{doc}");
    assert!(
        doc["extracted_text"]
            .as_str()
            .unwrap_or("")
            .contains("4711"),
        "{doc}"
    );
    let small_id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(download(&app, &small_id).await, small);
    for id in [&doc_id, &small_id] {
        assert_eq!(
            app.delete(&format!("/api/documents/{id}")).await.status(),
            204
        );
    }
    assert!(provider.files("onedrive").await.is_empty());
    assert!(provider.files("gdrive").await.is_empty());
    assert_eq!(
        provider.get("files").await["sessions"],
        0,
        "no upload left open"
    );
    for id in [&onedrive, &gdrive] {
        assert_eq!(
            app.delete(&format!("/api/cloud-connections/{id}"))
                .await
                .status(),
            204
        );
    }
}

#[tokio::test]
async fn tokens_are_renewed_before_expiry_and_a_revoked_sign_in_marks_the_connection() {
    let provider = Provider::start();
    let app = app_with(&provider).await;
    let gdrive = connect(&app, &provider, "gdrive").await;
    app.send_json(Method::PUT, "/api/me/storage", json!({"default": gdrive}))
        .await;
    let bytes = pdf(&[Some(&["Insurance policy for the house"])]);
    let doc = app.processed("Policy.pdf", bytes.clone()).await;
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["status"], "classified", "{doc}");

    // The sealed tokens are not readable in the row.
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT credentials_enc FROM cloud_connections WHERE id = $1::uuid")
            .bind(&gdrive)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("gdrive-"));

    // A token that runs out soon is renewed by the workers, before any request meets it.
    sqlx::query(
        "UPDATE cloud_connections SET token_expires_at = now() + interval '2 minutes' WHERE id = $1::uuid",
    )
    .bind(&gdrive)
    .execute(&app.db)
    .await
    .unwrap();
    let before = provider.stat("refresh_grants").await;
    app.process_all().await;
    assert_eq!(provider.stat("refresh_grants").await, before + 1);
    let later: bool = sqlx::query_scalar(
        "SELECT token_expires_at > now() + interval '30 minutes' FROM cloud_connections WHERE id = $1::uuid",
    )
    .bind(&gdrive)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(later);

    // OneDrive rotates refresh tokens: the new one is kept, so a second renewal works too.
    let onedrive = connect(&app, &provider, "onedrive").await;
    for _ in 0..2 {
        provider.control("expire", json!({})).await;
        let (status, c) = app
            .send_json(
                Method::POST,
                &format!("/api/cloud-connections/{onedrive}/test"),
                json!({}),
            )
            .await;
        assert_eq!((status, c["status"].as_str()), (200, Some("active")), "{c}");
    }

    // A stranger sees neither connection and can use neither.
    let bob = app.new_user("bob").await;
    let resp = bob
        .client
        .get(app.url("/api/cloud-connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!([]));
    let resp = bob
        .client
        .post(app.url("/api/cloud-connections/oauth/start"))
        .json(&json!({"provider": "gdrive", "connection_id": gdrive}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = bob
        .client
        .post(app.url(&format!("/api/cloud-connections/{gdrive}/test")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // The person revokes DocuVault at the provider: the connection says so, nothing is stored.
    provider.control("revoke", json!({})).await;
    let (status, body) = app
        .get_json(&format!("/api/documents/{doc_id}/download"))
        .await;
    let link = if status == 200 {
        app.anonymous()
            .get(app.url(body["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
    } else {
        panic!("{status} {body}")
    };
    assert_eq!(link.status(), 409);
    let c = connection(&app, &gdrive).await;
    assert_eq!(c["status"], "error", "{c}");
    assert!(
        c["last_error"].as_str().unwrap().contains("sign in again"),
        "{c}"
    );
    let docs_before = app.count("documents").await;
    let resp = app.upload("More.pdf", None, bytes.clone()).await;
    assert_eq!(resp.status(), 409);
    assert_eq!(app.count("documents").await, docs_before);

    // Signing in again to the same connection brings it back, documents and all.
    let (status, started, cookie) =
        start(&app, json!({"provider": "gdrive", "connection_id": gdrive})).await;
    assert_eq!(status, 200, "{started}");
    let back = consent(&provider, started["authorization_url"].as_str().unwrap()).await;
    let resp = callback(&app, &back, cookie.as_deref()).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(connection(&app, &gdrive).await["status"], "active");
    assert_eq!(download(&app, &doc_id).await, bytes);
    let list = app.get_json("/api/cloud-connections").await.1;
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "no second connection: {list}"
    );

    // Nothing the provider issued is in an answer or the audit log.
    let audit = app.audit("cloud_reconnected").await;
    assert_eq!(audit.len(), 1);
    for text in [list.to_string(), format!("{audit:?}")] {
        assert!(
            !text.contains("-access-") && !text.contains("-refresh-"),
            "{text}"
        );
    }
}
