//! A person's own cloud as storage, against a real WebDAV server: `rclone serve webdav` over a
//! scratch folder (installed by `scripts/stack.sh`), in the plain WebDAV layout and in
//! Nextcloud's (`/remote.php/dav/files/<user>/`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, pdf};

/// A WebDAV server over a scratch folder; stopped when dropped.
pub struct DavServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub user: String,
    pub password: String,
    base: String,
}

impl DavServer {
    /// Plain WebDAV at `/`.
    pub fn start() -> Self {
        Self::start_at("", &[])
    }

    /// Nextcloud's layout: the user's files under `/remote.php/dav/files/<user>/`.
    pub fn nextcloud(user: &str) -> Self {
        Self::start_at(&format!("/remote.php/dav/files/{user}"), &[])
    }

    fn start_at(base: &str, extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("dv-dav-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut server = Self {
            child: None,
            port,
            dir,
            user: base
                .rsplit('/')
                .next()
                .filter(|u| !u.is_empty())
                .unwrap_or("dav")
                .to_owned(),
            password: format!("app-pw-{}", uuid::Uuid::new_v4().simple()),
            base: base.to_owned(),
        };
        server.run(extra);
        server
    }

    /// (Re)starts the server on the same port and folder.
    pub fn run(&mut self, extra: &[&str]) {
        let mut cmd = Command::new("rclone");
        cmd.args(["serve", "webdav"])
            .arg(&self.dir)
            .args(["--addr", &format!("127.0.0.1:{}", self.port)])
            .args(["--user", &self.user, "--pass", &self.password])
            .args(["--config", "/dev/null"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !self.base.is_empty() {
            cmd.args(["--baseurl", &self.base]);
        }
        self.child = Some(cmd.spawn().expect("rclone (scripts/stack.sh installs it)"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the WebDAV server did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// The URL a person enters: the folder for WebDAV, the server for Nextcloud.
    pub fn url(&self) -> String {
        if self.base.starts_with("/remote.php") {
            format!("http://127.0.0.1:{}", self.port)
        } else {
            format!("http://127.0.0.1:{}/", self.port)
        }
    }

    /// Every file under the folder, relative, with its bytes.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let rel = p
                        .strip_prefix(root)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned();
                    out.push((rel, std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir, &self.dir, &mut out);
        out.sort();
        out
    }
}

impl Drop for DavServer {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

pub async fn app_allowing_private() -> TestApp {
    TestApp::spawn_with(Options {
        env: vec![
            ("CLOUD_ALLOW_PRIVATE_ENDPOINTS", "true".into()),
            // Retries come due at once, so a test sees a job through to its end.
            ("JOB_RETRY_BASE_MS", "10".into()),
            ("JOB_MAX_ATTEMPTS", "2".into()),
        ],
        ..Options::default()
    })
    .await
}

/// Connects `dav` as `provider` for the signed-in user; the connection's JSON, asserting 201.
pub async fn connect(app: &TestApp, dav: &DavServer, provider: &str) -> Value {
    let (status, c) = app
        .send_json(
            Method::POST,
            "/api/cloud-connections",
            json!({"provider": provider, "display_name": "My cloud", "url": dav.url(),
                   "username": dav.user, "password": dav.password}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    c
}

async fn quota_used(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT used_bytes FROM quotas WHERE user_id = $1")
        .bind(app.user.id)
        .fetch_one(&app.db)
        .await
        .expect("quota")
}

pub async fn download(app: &TestApp, id: &str) -> Vec<u8> {
    let (status, link) = app.get_json(&format!("/api/documents/{id}/download")).await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().expect("url");
    let url = if url.starts_with('/') {
        app.url(url)
    } else {
        url.to_owned()
    };
    // A browser follows the link with no header: the link alone must do.
    let resp = app.anonymous().get(url).send().await.expect("download");
    assert_eq!(resp.status(), 200);
    resp.bytes().await.expect("bytes").to_vec()
}

#[tokio::test]
async fn a_document_kept_in_nextcloud_is_processed_previewed_and_downloaded_unchanged() {
    let app = app_allowing_private().await;
    let dav = DavServer::nextcloud("alice");
    let c = connect(&app, &dav, "nextcloud").await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["status"], "active");
    assert!(!c.to_string().contains(&dav.password), "{c}");

    let (status, choice) = app
        .send_json(Method::PUT, "/api/me/storage", json!({"default": id}))
        .await;
    assert_eq!((status, choice["default"].as_str()), (200, Some(id)));

    // Direct uploads go to DocuVault's own store: refused, so the app sends through the API.
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/uploads",
            json!({"filename": "a.pdf", "size": 100, "content_type": "application/pdf"}),
        )
        .await;
    app.assert_error((status, body), 409, "direct_upload_unavailable");

    let bytes = pdf(&[Some(&["Invoice number 4711 for the garden furniture"])]);
    let before = quota_used(&app).await;
    let doc = app.processed("Garden invoice.pdf", bytes.clone()).await;
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["status"], "classified", "{doc}");
    assert_eq!(doc["storage_connection_id"].as_str(), Some(id));
    assert!(
        doc["extracted_text"]
            .as_str()
            .unwrap_or("")
            .contains("4711"),
        "{doc}"
    );
    // Only DocuVault's own store counts against the quota.
    assert_eq!(quota_used(&app).await, before);

    // In the cloud, readable: DocuVault/Unfiled/<name> (<short id>).pdf, the same bytes.
    let files = dav.files();
    let short = &doc_id.replace('-', "")[..8];
    assert_eq!(
        files.len(),
        1,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(
        files[0].0,
        format!("DocuVault/Unfiled/Garden invoice ({short}).pdf")
    );
    assert_eq!(files[0].1, bytes);
    // None of the bytes went to DocuVault's store (only the thumbnail it made).
    assert!(
        app.bucket_keys().await.iter().all(|k| k.ends_with(".png")),
        "{:?}",
        app.bucket_keys().await
    );

    assert_eq!(download(&app, &doc_id).await, bytes);
    let (_, link) = app
        .get_json(&format!("/api/documents/{doc_id}/preview-link"))
        .await;
    let ranged = app
        .anonymous()
        .get(app.url(link["url"].as_str().unwrap()))
        .header("range", "bytes=0-4")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), b"%PDF-");

    // The connection lists its document; it cannot be disconnected while it keeps one.
    let (_, list) = app.get_json("/api/cloud-connections").await;
    assert_eq!(list[0]["documents"], 1, "{list}");
    assert_eq!(list[0]["is_default"], true);
    let resp = app.delete(&format!("/api/cloud-connections/{id}")).await;
    assert_eq!(resp.status(), 409);

    // Deleting the document deletes its file in the cloud.
    assert_eq!(
        app.delete(&format!("/api/documents/{doc_id}"))
            .await
            .status(),
        204
    );
    assert!(
        dav.files().is_empty(),
        "{:?}",
        dav.files().iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(
        app.delete(&format!("/api/cloud-connections/{id}"))
            .await
            .status(),
        204
    );
    let (_, choice) = app.get_json("/api/me/storage").await;
    assert_eq!(choice["default"], "vault");
}

#[tokio::test]
async fn a_connection_is_tested_before_it_is_kept_and_its_password_never_comes_back() {
    let app = app_allowing_private().await;
    let dav = DavServer::start();
    let input = |password: &str, url: &str| {
        json!({"provider": "webdav", "display_name": "NAS", "url": url,
               "username": dav.user, "password": password})
    };
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/cloud-connections",
            input("wrong", &dav.url()),
        )
        .await;
    app.assert_error((status, body.clone()), 422, "cloud_connection_failed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{body}"
    );
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/cloud-connections",
            input(&dav.password, "http://127.0.0.1:9/"),
        )
        .await;
    app.assert_error((status, body), 422, "cloud_connection_failed");
    for (url, code) in [
        ("ftp://example.org/", "invalid_cloud_url"),
        ("http://u:p@example.org/", "invalid_cloud_url"),
        ("http://cloud.example.org/", "insecure_cloud_url"),
    ] {
        let got = app
            .send_json(
                Method::POST,
                "/api/cloud-connections",
                input(&dav.password, url),
            )
            .await;
        app.assert_error(got, 422, code);
    }
    assert_eq!(app.count("cloud_connections").await, 0);

    let c = connect(&app, &dav, "webdav").await;
    let id = c["id"].as_str().unwrap();
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT credentials_enc FROM cloud_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        !sealed
            .windows(dav.password.len())
            .any(|w| w == dav.password.as_bytes())
    );
    for path in [
        "/api/cloud-connections".to_owned(),
        format!("/api/cloud-connections/{id}/test"),
    ] {
        let resp = if path.ends_with("/test") {
            app.client.post(app.url(&path)).send().await.unwrap()
        } else {
            app.get(&path).await
        };
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(!text.contains(&dav.password), "{text}");
        assert!(!text.contains("credentials"), "{text}");
    }
    let audit = format!("{:?}", app.audit("cloud_connected").await);
    assert!(
        audit.contains(id) && !audit.contains(&dav.password),
        "{audit}"
    );

    // A stranger neither sees nor uses it.
    let bob = app.new_user("bob").await;
    let list: Value = bob
        .client
        .get(app.url("/api/cloud-connections"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    let as_bob = |m: Method, path: String, body: Value| {
        let req = bob.client.request(m, app.url(&path)).json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        as_bob(
            Method::POST,
            format!("/api/cloud-connections/{id}/test"),
            json!({})
        )
        .await,
        404
    );
    assert_eq!(
        as_bob(
            Method::DELETE,
            format!("/api/cloud-connections/{id}"),
            json!({})
        )
        .await,
        404
    );
    assert_eq!(
        as_bob(
            Method::PUT,
            "/api/me/storage".into(),
            json!({"default": id})
        )
        .await,
        404
    );
    let bobs = app
        .upload_as(&bob.client, "b.txt", b"bob's words".to_vec())
        .await;
    assert_eq!(
        as_bob(
            Method::POST,
            format!("/api/documents/{bobs}/move-storage"),
            json!({"to": id})
        )
        .await,
        404
    );
    assert!(dav.files().is_empty());
}

#[tokio::test]
async fn private_servers_need_the_operators_permission() {
    let app = TestApp::spawn().await;
    let dav = DavServer::start();
    let got = app
        .send_json(
            Method::POST,
            "/api/cloud-connections",
            json!({"provider": "webdav", "display_name": "NAS", "url": dav.url(),
                   "username": dav.user, "password": dav.password}),
        )
        .await;
    app.assert_error(got, 422, "private_endpoint");
    assert_eq!(app.count("cloud_connections").await, 0);
}

#[tokio::test]
async fn documents_move_between_the_vault_and_the_cloud_with_the_quota_following() {
    let app = app_allowing_private().await;
    let dav = DavServer::start();
    let c = connect(&app, &dav, "webdav").await;
    let cloud = c["id"].as_str().unwrap().to_owned();
    let bytes = pdf(&[Some(&["Lease agreement for the flat"])]);
    let doc = app.processed("lease.pdf", bytes.clone()).await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let size = bytes.len() as i64;
    assert_eq!(quota_used(&app).await, size);
    let vault_key: String = sqlx::query_scalar("SELECT object_key FROM documents")
        .fetch_one(&app.db)
        .await
        .unwrap();

    // To the cloud: copied, checked, switched, the old copy deleted, the quota given back.
    let (status, moved) = app
        .send_json(
            Method::POST,
            &format!("/api/documents/{id}/move-storage"),
            json!({"to": cloud}),
        )
        .await;
    assert_eq!((status, moved["requested"].as_u64()), (202, Some(1)));
    let again = app
        .send_json(
            Method::POST,
            &format!("/api/documents/{id}/move-storage"),
            json!({"to": cloud}),
        )
        .await;
    app.assert_error(again, 409, "document_moving");
    assert_eq!(app.worker().run_due_moves().await.unwrap(), 1);
    let (_, doc) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(doc["storage_connection_id"].as_str(), Some(cloud.as_str()));
    assert_eq!(quota_used(&app).await, 0);
    // `docuvault quota check` agrees: the cloud is not counted.
    let drift = docuvault_core::db::quotas::drift(&app.db).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");
    assert!(!app.bucket_keys().await.contains(&vault_key));
    assert_eq!(dav.files().len(), 1);
    assert_eq!(dav.files()[0].1, bytes);
    assert_eq!(download(&app, &id).await, bytes);
    let (status, same) = app
        .send_json(
            Method::POST,
            &format!("/api/documents/{id}/move-storage"),
            json!({"to": cloud}),
        )
        .await;
    assert_eq!((status, same["requested"].as_u64()), (200, Some(0)));

    // Back, with no room for it: the move is given up, the document stays in the cloud, and
    // its history says why.
    app.set_quota_limit(size - 1).await;
    let (status, _) = app
        .send_json(
            Method::POST,
            "/api/me/storage/move-all",
            json!({"from": cloud, "to": "vault"}),
        )
        .await;
    assert_eq!(status, 202);
    app.worker().run_due_moves().await.unwrap();
    let (_, doc) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(doc["storage_connection_id"].as_str(), Some(cloud.as_str()));
    let (_, history) = app.get_json(&format!("/api/documents/{id}/activity")).await;
    assert!(
        history.to_string().contains("storage_move_failed"),
        "{history}"
    );
    assert_eq!(app.count("storage_moves").await, 0);
    assert_eq!(quota_used(&app).await, 0);
    // The copy it had made is cleaned up.
    app.worker().clean_up_objects().await.unwrap();
    sqlx::query("UPDATE object_cleanup SET due_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    app.worker().clean_up_objects().await.unwrap();
    assert!(
        app.bucket_keys().await.iter().all(|k| k.ends_with(".png")),
        "{:?}",
        app.bucket_keys().await
    );

    // With room: back in the vault, charged again, gone from the cloud; then it disconnects.
    app.set_quota_limit(10 * size).await;
    let (status, all) = app
        .send_json(
            Method::POST,
            "/api/me/storage/move-all",
            json!({"from": cloud, "to": "vault"}),
        )
        .await;
    assert_eq!((status, all["requested"].as_u64()), (202, Some(1)));
    app.worker().run_due_moves().await.unwrap();
    let (_, doc) = app.get_json(&format!("/api/documents/{id}")).await;
    assert_eq!(doc["storage_connection_id"], Value::Null);
    assert_eq!(quota_used(&app).await, size);
    assert!(
        docuvault_core::db::quotas::drift(&app.db)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(dav.files().is_empty());
    assert_eq!(download(&app, &id).await, bytes);
    assert_eq!(
        app.delete(&format!("/api/cloud-connections/{cloud}"))
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn a_server_that_is_down_stores_nothing_and_says_so() {
    let app = app_allowing_private().await;
    let mut dav = DavServer::start();
    let c = connect(&app, &dav, "webdav").await;
    let cloud = c["id"].as_str().unwrap().to_owned();
    app.send_json(Method::PUT, "/api/me/storage", json!({"default": cloud}))
        .await;
    let kept = app
        .upload_ok("kept.txt", b"kept in the cloud".to_vec())
        .await;
    let kept = kept["id"].as_str().unwrap().to_owned();
    let docs_before = app.count("documents").await;

    dav.stop();
    let resp = app.upload("lost.txt", None, b"never stored".to_vec()).await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "dependency_unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("My cloud"),
        "{body}"
    );
    assert_eq!(app.count("documents").await, docs_before);
    assert_eq!(quota_used(&app).await, 0);
    let (status, _) = app
        .get_json(&format!("/api/documents/{kept}/download"))
        .await;
    assert_eq!(status, 200, "the link is made without the server");
    let (_, link) = app
        .get_json(&format!("/api/documents/{kept}/preview-link"))
        .await;
    let resp = app
        .anonymous()
        .get(app.url(link["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    // Its processing cannot fetch it: the document says why, in words.
    app.process_all().await;
    let (_, doc) = app.get_json(&format!("/api/documents/{kept}")).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    let error = doc["error"].as_str().unwrap_or("");
    assert!(
        error.contains("your cloud storage could not be reached: My cloud"),
        "{error}"
    );
    let (_, tested) = app
        .send_json(
            Method::POST,
            &format!("/api/cloud-connections/{cloud}/test"),
            json!({}),
        )
        .await;
    assert_eq!(tested["status"], "error", "{tested}");
    assert!(
        tested["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{tested}"
    );

    // Back up with another password (the app password was revoked): marked, and said why.
    dav.password = "changed".into();
    dav.run(&[]);
    let resp = app.upload("refused.txt", None, b"refused".to_vec()).await;
    assert_eq!(resp.status(), 409);
    let (_, list) = app.get_json("/api/cloud-connections").await;
    assert_eq!(list[0]["status"], "error");
    assert!(
        list[0]["last_error"].as_str().unwrap().contains("refused"),
        "{list}"
    );
    assert_eq!(dav.files().len(), 1, "only the first document is there");
}

#[tokio::test]
async fn a_server_stopped_mid_upload_keeps_no_document_and_its_cut_off_file_is_cleaned_up() {
    let app = app_allowing_private().await;
    let mut dav = DavServer::start();
    let c = connect(&app, &dav, "webdav").await;
    let cloud = c["id"].as_str().unwrap().to_owned();
    app.send_json(Method::PUT, "/api/me/storage", json!({"default": cloud}))
        .await;
    let docs_before = app.count("documents").await;

    // A body that arrives slowly (64 KiB every 20 ms, 12 MiB): the server stops while it streams.
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&sent);
    let chunks = futures::stream::unfold(0usize, move |i| {
        let counter = std::sync::Arc::clone(&counter);
        async move {
            if i == 192 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Some((
                Ok::<_, std::io::Error>(crate::helpers::text_file(i, 64 * 1024)),
                i + 1,
            ))
        }
    });
    let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(chunks))
        .file_name("slow.txt")
        .mime_str("text/plain")
        .unwrap();
    let upload = app
        .client
        .post(app.url("/api/documents/upload"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send();
    let stop = async {
        while sent.load(std::sync::atomic::Ordering::SeqCst) < 40 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        dav.stop();
    };
    let (resp, ()) = tokio::join!(upload, stop);
    // The API answers 503 while the client is still sending, or closes the connection on it.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 503, "{:?}", resp.text().await);
    }
    assert!(
        sent.load(std::sync::atomic::Ordering::SeqCst) < 192,
        "stopped mid-upload"
    );
    assert_eq!(app.count("documents").await, docs_before, "no document");
    assert_eq!(quota_used(&app).await, 0, "nothing charged");
    let pending: Vec<String> =
        sqlx::query_scalar("SELECT object_key FROM object_cleanup WHERE object_key LIKE $1")
            .bind(format!("cloud:{cloud}:%slow%"))
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(pending.len(), 1, "the cut-off file is on the clean-up list");

    // Back up: whatever the server kept of it is deleted by the clean-up when it comes due.
    dav.run(&[]);
    sqlx::query("UPDATE object_cleanup SET due_at = now() WHERE object_key = $1")
        .bind(&pending[0])
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.worker().clean_up_objects().await.unwrap(), 1);
    assert!(
        dav.files().iter().all(|(name, _)| !name.contains("slow")),
        "{:?}",
        dav.files().iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(app.count("object_cleanup").await, 0);
}

#[tokio::test]
async fn secrets_rotate_seals_the_credentials_again_under_the_new_key() {
    use docuvault_core::Secret;
    use docuvault_core::crypto::{Purpose, Sealer};
    use docuvault_core::services::secrets::rotate;
    let app = app_allowing_private().await;
    let dav = DavServer::start();
    let c = connect(&app, &dav, "webdav").await;
    let id: uuid::Uuid = c["id"].as_str().unwrap().parse().unwrap();
    let old_key = app.config.secret_key.clone();
    let new_key = Secret::new(format!("rotated-{}", "k".repeat(40)));
    let stored = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT credentials_enc FROM cloud_connections")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let opens = |sealer: &Sealer, sealed: &[u8]| {
        sealer
            .open_versioned(Purpose::CloudCredentials, app.user.id, id, sealed)
            .ok()
            .map(|p| String::from_utf8(p).unwrap())
    };
    // A TOTP secret (base64 text) sealed under the old key, as enrolment stores it.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let totp = Sealer::new(&old_key)
        .seal(Purpose::TotpSecret, app.user.id, b"totp-seed")
        .unwrap();
    sqlx::query("UPDATE users SET totp_secret = $2 WHERE id = $1")
        .bind(app.user.id)
        .bind(b64.encode(&totp))
        .execute(&app.db)
        .await
        .unwrap();
    let before = stored().await;
    let only_new = Sealer::new(&new_key);
    assert_eq!(opens(&only_new, &before), None);

    // With the new key alone nothing can be opened: counted, left alone.
    let report = rotate(&app.db, &only_new).await.unwrap();
    assert!(
        report.unreadable.contains(&("cloud_credentials", 1)),
        "{report:?}"
    );
    assert_eq!(stored().await, before);

    let both = Sealer::new(&new_key).with_previous(&old_key);
    let report = rotate(&app.db, &both).await.unwrap();
    assert!(
        report.resealed.contains(&("cloud_credentials", 1)),
        "{report:?}"
    );
    assert!(report.resealed.contains(&("totp_secrets", 1)), "{report:?}");
    let totp_now: String = sqlx::query_scalar("SELECT totp_secret FROM users WHERE id = $1")
        .bind(app.user.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let totp_now = b64.decode(totp_now).unwrap();
    assert_eq!(
        only_new
            .open(Purpose::TotpSecret, app.user.id, &totp_now)
            .unwrap(),
        b"totp-seed"
    );
    let after = stored().await;
    assert_ne!(after, before);
    let opened = opens(&only_new, &after).expect("opens with the new key alone");
    assert!(opened.contains(&dav.password));
    assert_eq!(opens(&Sealer::new(&old_key), &after), None);
    // Again: nothing to do.
    let report = rotate(&app.db, &both).await.unwrap();
    assert!(report.resealed.iter().all(|(_, n)| *n == 0), "{report:?}");
}
