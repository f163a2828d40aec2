//! The test harness: a real DocuVault server on port 0 against a fresh PostgreSQL database (made
//! by the superuser, migrated as `docuvault_migrate`, used as `docuvault_app`), its own bucket on
//! the local S3 server, and the stack's Redis. Everything is torn down on drop, even on panic.
//!
//! The stack comes from `scripts/stack.sh up` (run by `make test`); its variables are read from
//! the environment or, failing that, from `.stack/docuvault.env`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docuvault_api::Application;
use docuvault_core::Config;
use docuvault_core::services::Vault;
use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use url::Url;
use uuid::Uuid;

pub fn stack_var(name: &str) -> String {
    static LOADED: std::sync::Once = std::sync::Once::new();
    LOADED.call_once(|| {
        if std::env::var("DOCUVAULT_TEST_PG_ADMIN_URL").is_err() {
            let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.stack/docuvault.env");
            let _ = dotenvy::from_path(file);
        }
    });
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: the tests need the local stack; run `make test` (or scripts/stack.sh up)")
    })
}

pub fn with_database(url: &str, db: &str) -> String {
    let mut u = Url::parse(url).expect("stack URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// Knobs a test may turn before the server starts.
#[derive(Default, Clone)]
pub struct Options {
    pub max_upload_bytes: Option<u64>,
    /// Put a switchable proxy between the server and each dependency.
    pub proxies: bool,
    /// Use these S3 credentials instead of the root key (and this bucket, if given).
    pub s3_credentials: Option<(String, String)>,
    pub bucket: Option<String>,
    /// Further configuration variables (pipeline knobs), overriding the defaults.
    pub env: Vec<(&'static str, String)>,
}

impl Options {
    /// With the embedding model the stack installed (`MODEL_DIR`): the `local` provider
    /// classifies by meaning. Without it (the default here) it matches words, which most
    /// pipeline tests were written for.
    pub fn semantic() -> Self {
        Self {
            env: vec![("MODEL_DIR", stack_var("MODEL_DIR"))],
            ..Self::default()
        }
    }

    /// For tests of what a burst of concurrent requests leaves behind (not of how the server
    /// sheds load): the production pool size and a patient acquire, so that a slow shared
    /// machine answers 503 to none of them.
    pub fn burst() -> Self {
        Self {
            env: vec![
                ("DATABASE_MAX_CONNECTIONS", "10".to_owned()),
                ("DATABASE_ACQUIRE_TIMEOUT_MS", "10000".to_owned()),
            ],
            ..Self::default()
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// Sends alice's access token with every request.
    pub client: reqwest::Client,
    /// The user every test starts with (`alice`), signed in.
    pub user: TestUser,
    /// Connected as `docuvault_app`, like the server.
    pub db: PgPool,
    pub db_name: String,
    pub bucket: String,
    pub proxies: Option<Proxies>,
    /// The server's configuration, for building workers against the same stack.
    pub config: Config,
    s3: (String, String),
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub struct Proxies {
    pub postgres: Proxy,
    pub object_store: Proxy,
    pub redis: Proxy,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// A server whose dependencies are reached through switchable proxies ([`Self::proxies`]).
    pub async fn spawn_with_proxies() -> Self {
        Self::spawn_with(Options {
            proxies: true,
            ..Options::default()
        })
        .await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        // `RUST_LOG=debug cargo test ... -- --nocapture` shows the server's log beside the test's.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
            .with_test_writer()
            .try_init();
        let id = Uuid::new_v4().simple().to_string();
        let db_name = format!("dvt_{id}");
        let bucket = opts
            .bucket
            .clone()
            .unwrap_or_else(|| format!("dvt-{}", &id[..20]));

        // A database of our own, owned by the migrate role, migrated the way production is.
        let mut admin = PgConnection::connect(&stack_var("DOCUVAULT_TEST_PG_ADMIN_URL"))
            .await
            .expect("admin connection");
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE {db_name} OWNER docuvault_migrate"
        )))
        .execute(&mut admin)
        .await
        .expect("create test database");
        admin.close().await.ok();
        let migrate_url = with_database(&stack_var("DATABASE_MIGRATE_URL"), &db_name);
        docuvault_core::db::migrate(&docuvault_core::Secret::new(migrate_url))
            .await
            .expect("migrate");

        let mut pg_url =
            Url::parse(&with_database(&stack_var("DATABASE_URL"), &db_name)).expect("url");
        let mut s3_endpoint = Url::parse(&stack_var("MINIO_ENDPOINT")).expect("endpoint");
        let mut redis_url = Url::parse(&stack_var("REDIS_URL")).expect("redis url");
        let proxies = if opts.proxies {
            let p = Proxies {
                postgres: Proxy::start(target_of(&pg_url)).await,
                object_store: Proxy::start(target_of(&s3_endpoint)).await,
                redis: Proxy::start(target_of(&redis_url)).await,
            };
            pg_url.set_port(Some(p.postgres.port)).ok();
            s3_endpoint.set_port(Some(p.object_store.port)).ok();
            redis_url.set_port(Some(p.redis.port)).ok();
            Some(p)
        } else {
            None
        };
        let s3 = opts.s3_credentials.clone().unwrap_or_else(|| {
            (
                stack_var("DOCUVAULT_TEST_S3_ROOT_ACCESS_KEY"),
                stack_var("DOCUVAULT_TEST_S3_ROOT_SECRET_KEY"),
            )
        });

        let mut env: HashMap<&str, String> = HashMap::from([
            // Each test has its own queue stream and metrics in the shared Redis.
            ("REDIS_KEY_PREFIX", format!("dvt-{id}")),
            // The fake AI providers listen on loopback, as Ollama does on a family server; the
            // guard against private endpoints has its own test with this off.
            ("AI_ALLOW_PRIVATE_ENDPOINTS", "true".to_owned()),
            // Most tests let alice choose her own provider; the admin-only default has its own
            // tests (ai_assignment.rs).
            ("AI_SELF_SERVICE_DEFAULT", "true".to_owned()),
            // Tests do not wait out production's retry delays.
            ("JOB_RETRY_BASE_MS", "50".to_owned()),
            ("DATABASE_URL", pg_url.to_string()),
            ("DATABASE_MAX_CONNECTIONS", "5".to_owned()),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000".to_owned()),
            ("MINIO_ENDPOINT", s3_endpoint.to_string()),
            ("MINIO_BUCKET", bucket.clone()),
            ("MINIO_ACCESS_KEY", s3.0.clone()),
            ("MINIO_SECRET_KEY", s3.1.clone()),
            ("REDIS_URL", redis_url.to_string()),
            ("SECRET_KEY", stack_var("SECRET_KEY")),
            // The stack's SMTP server; tests read what it received from its Maildir.
            ("SMTP_HOST", stack_var("SMTP_HOST")),
            ("SMTP_PORT", stack_var("SMTP_PORT")),
            ("SMTP_TLS", "none".to_owned()),
            ("SMTP_FROM", "DocuVault <docuvault@localhost>".to_owned()),
            ("BIND_ADDR", "127.0.0.1:0".to_owned()),
            (
                "MAX_UPLOAD_BYTES",
                opts.max_upload_bytes
                    .unwrap_or(100 * 1024 * 1024)
                    .to_string(),
            ),
        ]);
        env.extend(opts.env.iter().cloned());
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
        let vault = Vault::from_config(&config, "docuvault-test").expect("vault");
        vault.store.ensure_bucket().await.expect("test bucket");
        // Alice is made the way an operator makes accounts, so tests with registration closed
        // have her too; other users register through the API.
        let alice = vault
            .create_user(
                "alice",
                "alice@example.org",
                PASSWORD,
                docuvault_domain::Role::User,
            )
            .await
            .expect("create alice");
        let password_login = config.auth.password_login;
        let app = Application::from_vault(vault, config.bind_addr)
            .await
            .expect("bind");
        let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let server = tokio::spawn(async move {
            app.run_until_stopped(async move { token.cancelled().await })
                .await
                .expect("server");
        });

        let db = PgPoolOptions::new()
            .max_connections(2)
            .connect(&with_database(&stack_var("DATABASE_URL"), &db_name))
            .await
            .expect("app-role pool");
        // With passwords turned off (single sign-on only), the test signs alice in itself.
        let user = if password_login {
            TestUser::login(addr, "alice").await
        } else {
            TestUser::signed_out(alice.id, "alice")
        };
        Self {
            addr,
            client: user.client.clone(),
            user,
            db,
            db_name,
            bucket,
            proxies,
            config,
            s3,
            shutdown,
            server: Some(server),
        }
    }

    /// A worker for this test's server, with its own connections, as `docuvault worker` makes.
    pub fn worker(&self) -> docuvault_core::pipeline::worker::Worker {
        docuvault_core::pipeline::worker::Worker::from_config(&self.config, "docuvault-test-worker")
            .expect("worker")
    }

    /// Runs a worker until no document is waiting.
    pub async fn process_all(&self) -> docuvault_core::pipeline::worker::RunStats {
        tokio::time::timeout(Duration::from_secs(60), self.worker().run_until_idle())
            .await
            .expect("the worker became idle within 60 s")
            .expect("worker run")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn upload(
        &self,
        filename: &str,
        mime: Option<&str>,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let mut part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned());
        if let Some(m) = mime {
            part = part.mime_str(m).expect("mime");
        }
        let form = reqwest::multipart::Form::new().part("file", part);
        self.client
            .post(self.url("/api/documents/upload"))
            .multipart(form)
            .send()
            .await
            .expect("upload request")
    }

    /// Uploads as the user `client` signs in as; the new document's id, asserting 201.
    pub async fn upload_as(
        &self,
        client: &reqwest::Client,
        filename: &str,
        bytes: Vec<u8>,
    ) -> String {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned());
        let resp = client
            .post(self.url("/api/documents/upload"))
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .expect("upload request");
        assert_eq!(resp.status(), 201, "upload of {filename}");
        let doc: serde_json::Value = resp.json().await.expect("json");
        doc["id"].as_str().expect("id").to_owned()
    }

    /// Uploads, runs the worker until nothing waits, and returns the document's JSON.
    pub async fn processed(&self, filename: &str, bytes: Vec<u8>) -> serde_json::Value {
        let id = self.upload_ok(filename, bytes).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        self.process_all().await;
        self.get_json(&format!("/api/documents/{id}")).await.1
    }

    /// Uploads and returns the created document's JSON, asserting 201.
    pub async fn upload_ok(&self, filename: &str, bytes: Vec<u8>) -> serde_json::Value {
        let resp = self.upload(filename, None, bytes).await;
        assert_eq!(
            resp.status(),
            201,
            "upload of {filename}: {:?}",
            resp.text().await
        );
        resp.json().await.expect("json")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Registers and signs in another user.
    pub async fn new_user(&self, handle: &str) -> TestUser {
        TestUser::register(self.addr, handle).await
    }

    /// Creates an admin the way an operator does (`docuvault user create --admin`) and signs in.
    pub async fn new_admin(&self, handle: &str) -> TestUser {
        let vault = Vault::from_config(&self.config, "docuvault-test-admin").expect("vault");
        vault
            .create_user(
                handle,
                &format!("{handle}@example.org"),
                PASSWORD,
                docuvault_domain::Role::Admin,
            )
            .await
            .expect("create admin");
        TestUser::login(self.addr, handle).await
    }

    /// POSTs to a cookie-authenticated endpoint (`/api/auth/refresh`, `/api/auth/logout`) with
    /// the given cookies and, if any, CSRF header; the jar takes what the answer sets.
    pub async fn post_with_cookies(
        &self,
        path: &str,
        cookies: &mut Cookies,
        csrf: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .anonymous()
            .post(self.url(path))
            .header(reqwest::header::COOKIE, cookies.header());
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        let resp = req.send().await.expect("request");
        cookies.store(&resp);
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Logs in without a client of its own; the answer and the cookies it set.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        totp: Option<&str>,
    ) -> (u16, serde_json::Value, Cookies) {
        let resp = self
            .anonymous()
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({ "login": login, "password": password, "totp_code": totp }))
            .send()
            .await
            .expect("login");
        let mut cookies = Cookies::default();
        cookies.store(&resp);
        let status = resp.status().as_u16();
        (
            status,
            resp.json().await.unwrap_or(serde_json::Value::Null),
            cookies,
        )
    }

    /// A request with the given bearer token (or none).
    pub async fn with_token(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.anonymous().request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The audit events of `event_type`, oldest first, read straight from the database.
    pub async fn audit(
        &self,
        event_type: &str,
    ) -> Vec<(
        Option<Uuid>,
        Option<Uuid>,
        Option<String>,
        serde_json::Value,
    )> {
        sqlx::query_as(
            "SELECT user_id, actor_id, host(ip_address), coalesce(metadata, 'null') FROM audit_log
              WHERE event_type = $1 ORDER BY id",
        )
        .bind(event_type)
        .fetch_all(&self.db)
        .await
        .expect("audit")
    }

    /// A client that sends no credentials.
    pub fn anonymous(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    }

    /// The proxies of a server made by [`Self::spawn_with_proxies`].
    pub fn proxies(&self) -> &Proxies {
        self.proxies.as_ref().expect("spawned with proxies")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE")
    }

    /// Asserts a `(status, body)` answer is the error `code` with `status`.
    #[track_caller]
    pub fn assert_error(
        &self,
        (status, body): (u16, serde_json::Value),
        want_status: u16,
        code: &str,
    ) {
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (want_status, Some(code)),
            "{body}"
        );
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.db)
            .await
            .expect("count")
    }

    /// Every key in this test's bucket, read straight from the S3 server.
    pub async fn bucket_keys(&self) -> Vec<String> {
        list_keys(&self.bucket, &self.s3).await
    }

    /// Every object in this test's bucket with its size.
    pub async fn bucket_objects(&self) -> Vec<(String, u64)> {
        list_objects(&self.bucket, &self.s3).await
    }

    /// Creates a topic of the signed-in user; its id.
    pub async fn create_topic(&self, name: &str, description: &str) -> String {
        let (status, t) = self
            .send_json(
                reqwest::Method::POST,
                "/api/topics",
                serde_json::json!({"name": name, "description": description}),
            )
            .await;
        assert_eq!(status, 201, "{t}");
        t["id"].as_str().expect("id").to_owned()
    }

    /// Sets the signed-in user's storage limit straight in the database.
    pub async fn set_quota_limit(&self, bytes: i64) {
        sqlx::query("UPDATE quotas SET limit_bytes = $1 WHERE user_id = $2")
            .bind(bytes)
            .bind(self.user.id)
            .execute(&self.db)
            .await
            .expect("set quota");
    }

    /// Stores `bytes` under `key` with the store's own credentials, bypassing DocuVault (as a
    /// store that checked nothing would let a client do).
    pub async fn put_object_raw(&self, key: &str, bytes: Vec<u8>) {
        let endpoint = Url::parse(&stack_var("MINIO_ENDPOINT")).expect("endpoint");
        let bucket = Bucket::new(endpoint, UrlStyle::Path, self.bucket.clone(), "us-east-1")
            .expect("bucket");
        let creds = Credentials::new(self.s3.0.clone(), self.s3.1.clone());
        let url = bucket
            .put_object(Some(&creds), key)
            .sign(Duration::from_secs(60));
        reqwest::Client::new()
            .put(url)
            .body(bytes)
            .send()
            .await
            .expect("PUT")
            .error_for_status()
            .expect("PUT status");
    }
}

/// The filenames of a page of documents (`{"items": [...]}`), in order.
pub fn filenames(page: &serde_json::Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("a page of items")
        .iter()
        .map(|d| d["filename"].as_str().expect("a filename").to_owned())
        .collect()
}

/// A text file of exactly `len` bytes, different for each `seed`.
pub fn text_file(seed: usize, len: usize) -> Vec<u8> {
    let line = format!("Letter {seed}: the lease of the flat, the invoice for the office. ");
    line.bytes().cycle().take(len).collect()
}

/// Waits (up to 10 s) for the message the stack's SMTP server received for `to`, and returns
/// it with quoted-printable soft line breaks and `=3D` undone.
pub async fn wait_for_mail(to: &str) -> String {
    let dir = std::path::PathBuf::from(stack_var("DOCUVAULT_TEST_MAILDIR")).join("new");
    let needle = format!("X-RcptTo: {to}");
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path())
                    && text.contains(&needle)
                {
                    return text
                        .replace("=\r\n", "")
                        .replace("=\n", "")
                        .replace("=3D", "=");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail for {to} in {}", dir.display());
}

/// Whether any message for `to` arrived (after giving the server `wait` to deliver).
pub async fn mail_arrived(to: &str, wait: Duration) -> bool {
    tokio::time::sleep(wait).await;
    let dir = std::path::PathBuf::from(stack_var("DOCUVAULT_TEST_MAILDIR")).join("new");
    let needle = format!("X-RcptTo: {to}");
    std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&needle)))
        })
        .unwrap_or(false)
}

/// The password every test user has.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in user: their id, access token, a client that sends it, and the cookies of the
/// sign-in (kept by hand: the cookies are `Secure` and the test server speaks plain http).
pub struct TestUser {
    pub id: Uuid,
    pub handle: String,
    pub token: String,
    pub client: reqwest::Client,
    pub cookies: Cookies,
    pub csrf: String,
}

impl TestUser {
    pub async fn register(addr: SocketAddr, handle: &str) -> Self {
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/api/auth/register"))
            .json(&serde_json::json!({
                "handle": handle, "email": format!("{handle}@example.org"), "password": PASSWORD
            }))
            .send()
            .await
            .expect("register");
        assert_eq!(
            resp.status(),
            201,
            "register {handle}: {:?}",
            resp.text().await
        );
        Self::login(addr, handle).await
    }

    pub async fn login(addr: SocketAddr, handle: &str) -> Self {
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/api/auth/login"))
            .json(&serde_json::json!({ "login": handle, "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 200, "login {handle}");
        let mut cookies = Cookies::default();
        cookies.store(&resp);
        let body: serde_json::Value = resp.json().await.expect("login json");
        Self::from_sign_in(handle, &body, cookies)
    }

    /// A user with no sign-in (its client sends no token).
    pub fn signed_out(id: Uuid, handle: &str) -> Self {
        Self {
            id,
            handle: handle.to_owned(),
            token: String::new(),
            client: reqwest::Client::new(),
            cookies: Cookies::default(),
            csrf: String::new(),
        }
    }

    pub fn from_sign_in(handle: &str, body: &serde_json::Value, cookies: Cookies) -> Self {
        let token = body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        Self {
            id: body["user"]["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("user id"),
            handle: handle.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .default_headers(headers)
                .build()
                .expect("client"),
            token,
            cookies,
            csrf: body["csrf_token"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

/// A small cookie jar: name → value, updated from `Set-Cookie` (Max-Age=0 removes).
#[derive(Debug, Clone, Default)]
pub struct Cookies(pub HashMap<String, String>);

impl Cookies {
    pub fn store(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            let v = v.to_str().expect("ascii cookie");
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attrs.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub async fn list_keys(bucket: &str, creds: &(String, String)) -> Vec<String> {
    list_objects(bucket, creds)
        .await
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

/// Every object in `bucket` with its size, read straight from the S3 server.
pub async fn list_objects(bucket: &str, creds: &(String, String)) -> Vec<(String, u64)> {
    let endpoint = Url::parse(&stack_var("MINIO_ENDPOINT")).expect("endpoint");
    let bucket =
        Bucket::new(endpoint, UrlStyle::Path, bucket.to_owned(), "us-east-1").expect("bucket");
    let creds = Credentials::new(creds.0.clone(), creds.1.clone());
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut action = ListObjectsV2::new(&bucket, Some(&creds));
        if let Some(t) = &token {
            action.with_continuation_token(t.clone());
        }
        let url = action.sign(Duration::from_secs(60));
        let text = reqwest::get(url)
            .await
            .expect("list")
            .error_for_status()
            .expect("list status")
            .text()
            .await
            .expect("body");
        let parsed = ListObjectsV2::parse_response(&text).expect("parse list");
        keys.extend(
            parsed
                .contents
                .into_iter()
                .map(|c| (c.key, c.size.unwrap_or(0))),
        );
        match parsed.next_continuation_token {
            Some(t) => token = Some(t),
            None => return keys,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(s) = self.server.take() {
            s.abort();
        }
        let db_name = self.db_name.clone();
        let bucket = self.bucket.clone();
        let s3 = self.s3.clone();
        let own_bucket = bucket.starts_with("dvt-");
        let prefix = self.config.redis_key_prefix.clone();
        // Drop cannot await; clean up on a thread with its own runtime, and wait for it.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async move {
                // The test's pool is driven by the test's runtime, which is blocked here: do not
                // close it from this thread; FORCE ends its connections.
                if let Ok(mut admin) =
                    PgConnection::connect(&stack_var("DOCUVAULT_TEST_PG_ADMIN_URL")).await
                {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
                if let Ok(client) = redis::Client::open(stack_var("REDIS_URL"))
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let _: redis::RedisResult<()> = redis::cmd("DEL")
                        .arg(format!("{prefix}:jobs"))
                        .arg(format!("{prefix}:metrics"))
                        .query_async(&mut conn)
                        .await;
                }
                if own_bucket {
                    let endpoint = Url::parse(&stack_var("MINIO_ENDPOINT")).expect("endpoint");
                    if let Ok(b) = Bucket::new(endpoint, UrlStyle::Path, bucket, "us-east-1") {
                        let creds = Credentials::new(s3.0, s3.1);
                        let url = b.delete_bucket(&creds).sign(Duration::from_secs(60));
                        let _ = reqwest::Client::new().delete(url).send().await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

fn target_of(url: &Url) -> SocketAddr {
    let host = url.host_str().expect("host");
    let port = url.port_or_known_default().expect("port");
    format!("{host}:{port}").parse().expect("loopback address")
}

/// How a [`Proxy`] treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Up,
    /// Close existing connections and refuse new ones, like a stopped service.
    Down,
    /// Accept connections and never answer, like a hung service.
    Hang,
}

/// A TCP proxy on loopback that a test switches between up, down and hung, to stop a real
/// dependency from the server's point of view without stopping it for other tests.
pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    _task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = watch::channel(Mode::Up);
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                match *rx.borrow() {
                    Mode::Down => {
                        drop(inbound);
                        continue;
                    }
                    Mode::Hang => {
                        held.lock().expect("lock").push(inbound);
                        continue;
                    }
                    Mode::Up => {}
                }
                let mut rx = rx.clone();
                // Only changes from now on cut this connection, not the ones that led here.
                rx.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        // Any change of mode cuts live connections, as a restart would.
                        _ = rx.changed() => {}
                    }
                });
            }
        });
        Self {
            port,
            mode: tx,
            _task: task,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// A real, minimal PDF: one page per entry, each line of it drawn in Helvetica with a text
/// layer (an entry of `None` draws only a line: a page without text, like a scan).
pub fn pdf(pages: &[Option<&[&str]>]) -> Vec<u8> {
    let mut objects: Vec<String> = Vec::new();
    let font_id = 3 + 2 * pages.len();
    let mut kids = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let page_id = 3 + 2 * i;
        kids.push(format!("{page_id} 0 R"));
        let content = match page {
            Some(lines) => {
                let mut c = String::from("BT /F1 12 Tf 72 720 Td 16 TL\n");
                for line in *lines {
                    let escaped = line
                        .replace('\\', "\\\\")
                        .replace('(', "\\(")
                        .replace(')', "\\)");
                    c.push_str(&format!("({escaped}) Tj T*\n"));
                }
                c.push_str("ET");
                c
            }
            None => "72 72 m 500 700 l S".to_owned(),
        };
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {} 0 R >>",
            page_id + 1
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    objects.insert(
        0,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        ),
    );
    objects.insert(0, "<< /Type /Catalog /Pages 2 0 R >>".to_owned());
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
    );
    let objects: Vec<Vec<u8>> = objects.into_iter().map(String::into_bytes).collect();
    pdf_file(&objects)
}

/// A PDF file of these objects (numbered from 1; object 1 is the catalog), with its
/// cross-reference table.
pub fn pdf_file(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}
