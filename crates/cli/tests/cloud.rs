//! Moving a document into a person's own cloud (a real WebDAV server: `rclone serve webdav`)
//! with `docuvault worker` processes: a worker killed with SIGKILL half-way through the copy
//! leaves the move to another worker, which finishes it: nothing lost, nothing kept twice, the
//! quota right, and the connection's password in no log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Running, migrated, read_port, sign_up, start, wait_with_timeout};
use serde_json::Value;

fn curl(port: u16, auth: &str, args: &[&str], path: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "120", "-H", auth])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    out.stdout
}

fn api(port: u16, auth: &str, args: &[&str], path: &str) -> Value {
    let out = curl(port, auth, args, path);
    serde_json::from_slice(&out)
        .unwrap_or_else(|_| panic!("{path}: {}", String::from_utf8_lossy(&out)))
}

fn json_body(body: &str) -> Vec<&str> {
    vec!["-H", "content-type: application/json", "-d", body]
}

#[test]
fn a_move_killed_half_way_is_finished_by_another_worker() {
    const SIZE: usize = 200 * 1024 * 1024;
    let (scratch, env) = migrated(
        "cloudmove",
        &[
            // A dead worker's move is taken over after this.
            ("JOB_VISIBILITY_SECS", "3"),
            ("CLOUD_ALLOW_PRIVATE_ENDPOINTS", "true"),
            ("MAX_UPLOAD_BYTES", "314572800"),
            ("QUOTA_DEFAULT_BYTES", "1073741824"),
            ("EXTRACT_MAX_TEXT_BYTES", "65536"),
        ],
    );
    // The API, its log kept to search for the password.
    let mut server = Running(start(&["serve"], &env));
    let mut reader = BufReader::new(server.0.stderr.take().unwrap());
    let port = read_port(&mut reader);
    let server_log = Arc::new(Mutex::new(String::new()));
    {
        let log = Arc::clone(&server_log);
        std::thread::spawn(move || {
            let mut rest = String::new();
            reader.read_to_string(&mut rest).ok();
            log.lock().unwrap().push_str(&rest);
        });
    }
    let auth = sign_up(port, "alice");

    let dir = common::empty_dir("dav");
    let dav_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let password = format!("app-pw-{}", std::process::id());
    let _dav = Running(
        Command::new("rclone")
            .args(["serve", "webdav"])
            .arg(&dir)
            .args(["--addr", &format!("127.0.0.1:{dav_port}")])
            .args([
                "--user",
                "alice",
                "--pass",
                &password,
                "--config",
                "/dev/null",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rclone (scripts/stack.sh installs it)"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", dav_port)).is_err() {
        assert!(Instant::now() < deadline, "the WebDAV server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let conn = api(
        port,
        &auth,
        &json_body(&format!(
            r#"{{"provider":"webdav","display_name":"NAS","url":"http://127.0.0.1:{dav_port}/","username":"alice","password":"{password}"}}"#
        )),
        "/api/cloud-connections",
    );
    let cloud = conn["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{conn}"))
        .to_owned();

    // A large document in DocuVault's own store.
    let file = common::empty_dir("big").join("big.txt");
    let line = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\n";
    let body: Vec<u8> = line.iter().copied().cycle().take(SIZE).collect();
    std::fs::write(&file, &body).unwrap();
    let doc = api(
        port,
        &auth,
        &["-F", &format!("file=@{}", file.display())],
        "/api/documents/upload",
    );
    let id = doc["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{doc}"))
        .to_owned();
    let quota = |auth: &str| api(port, auth, &[], "/api/me/quota")["used_bytes"].as_i64();
    assert_eq!(quota(&auth), Some(SIZE as i64));

    let asked = api(
        port,
        &auth,
        &json_body(&format!(r#"{{"to":"{cloud}"}}"#)),
        &format!("/api/documents/{id}/move-storage"),
    );
    assert_eq!(asked["requested"], 1, "{asked}");

    // Worker A starts the copy and is killed while the file is still arriving.
    let mut first = Running(start(&["worker"], &env));
    let deadline = Instant::now() + Duration::from_secs(60);
    let partial = loop {
        let sizes: Vec<u64> = walk(&dir).iter().map(|(_, n)| *n).collect();
        if let Some(&n) = sizes.first()
            && n > 0
        {
            break n;
        }
        assert!(Instant::now() < deadline, "worker A never started the copy");
        std::thread::sleep(Duration::from_millis(5));
    };
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    let mut first_log = String::new();
    first
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut first_log)
        .ok();
    assert!(
        partial < SIZE as u64,
        "the copy was done before the kill ({partial} bytes): not a half-way kill"
    );
    let files = walk(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].1 < SIZE as u64, "{files:?}");
    // The document is still where it was, whole.
    let doc = api(port, &auth, &[], &format!("/api/documents/{id}"));
    assert_eq!(doc["storage_connection_id"], Value::Null, "{doc}");

    // Worker B takes the move over after A's lease and finishes it.
    std::thread::sleep(Duration::from_secs(4));
    let mut second = Running(start(&["worker", "--once"], &env));
    let status = wait_with_timeout(&mut second.0, Duration::from_secs(120));
    let mut second_log = String::new();
    second
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut second_log)
        .ok();
    assert!(status.success(), "worker B: {second_log}");

    let doc = api(port, &auth, &[], &format!("/api/documents/{id}"));
    assert_eq!(
        doc["storage_connection_id"].as_str(),
        Some(cloud.as_str()),
        "{doc}"
    );
    // One file in the cloud, whole; the bytes read back through DocuVault are the same.
    let files = walk(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].1, SIZE as u64);
    assert!(
        files[0].0.starts_with("DocuVault/Unfiled/big ("),
        "{files:?}"
    );
    let link = api(port, &auth, &[], &format!("/api/documents/{id}/download"));
    let url = link["url"].as_str().unwrap();
    assert!(
        curl(port, "x-none: 1", &[], url) == body,
        "the bytes changed"
    );
    // The old copy is gone from DocuVault's store, and the quota given back.
    assert_eq!(quota(&auth), Some(0));
    scratch.sql(&format!(
        "DO $$ BEGIN
           IF (SELECT count(*) FROM storage_moves) <> 0 THEN RAISE 'a move is left'; END IF;
           IF EXISTS (SELECT 1 FROM object_cleanup WHERE object_key NOT LIKE '%.png')
             THEN RAISE 'an old copy waits for the clean-up'; END IF;
           IF (SELECT object_key FROM documents WHERE id = '{id}') NOT LIKE 'cloud:%'
             THEN RAISE 'not switched'; END IF;
         END $$"
    ));
    assert!(
        common::strip_ansi(&second_log).contains("document moved"),
        "{second_log}"
    );

    drop(server);
    let logs = [server_log.lock().unwrap().clone(), first_log, second_log].concat();
    assert!(!logs.is_empty());
    assert!(!logs.contains(&password), "the password is in a log line");
}

/// Every file under `dir`, relative, with its size.
fn walk(dir: &std::path::Path) -> Vec<(String, u64)> {
    fn go(root: &std::path::Path, d: &std::path::Path, out: &mut Vec<(String, u64)>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                go(root, &p, out);
            } else if let Ok(m) = p.metadata() {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, m.len()));
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out
}
