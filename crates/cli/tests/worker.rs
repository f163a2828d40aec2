//! `docuvault worker` as processes: a worker killed with SIGKILL in the middle of a job (no
//! chance to clean up) leaves the document to another worker, which finishes it once in effect.
//! Runs against the local stack, with a loopback stand-in for an OpenAI-compatible provider.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::{Running, empty_dir, migrated, serve, sign_up, start, strip_ansi, wait_with_timeout};
use serde_json::Value;

/// `curl` against the API (`args` before the URL); the answer's JSON.
fn api(port: u16, auth: &str, args: &[&str], path: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-H", auth])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        Value::String(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

const JSON: [&str; 2] = ["-H", "content-type: application/json"];

/// An OpenAI-compatible server: the first `held` requests are held unanswered (the worker is
/// killed while it waits); every later one is answered "Finance". Reports each request's
/// arrival.
fn fake_openai(held: usize) -> (u16, mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).ok();
                tx.send(n).ok();
                if n < held {
                    std::thread::sleep(Duration::from_secs(120));
                    return;
                }
                let answer = r#"{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"{\"topics\": [\"Finance\"]}"}}]}"#;
                write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .ok();
            });
        }
    });
    (port, rx)
}

#[test]
fn a_killed_workers_job_is_finished_by_another_worker_once() {
    let (_scratch, env) = migrated(
        "kill",
        &[
            ("JOB_VISIBILITY_SECS", "3"),
            // The stand-in provider listens on loopback.
            ("AI_ALLOW_PRIVATE_ENDPOINTS", "true"),
            ("AI_SELF_SERVICE_DEFAULT", "true"),
        ],
    );
    let (server, port) = serve(&["serve"], &env);
    let auth = sign_up(port, "alice");
    let (ai_port, requests) = fake_openai(1);
    let id = upload_for_provider(port, &auth, ai_port);
    let path = format!("/api/documents/{id}");

    // Worker A takes the job and is killed while the provider has not answered.
    let mut first = Running(start(&["worker"], &env));
    assert_eq!(
        requests.recv_timeout(Duration::from_secs(30)),
        Ok(0),
        "worker A never asked the provider"
    );
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    assert_eq!(api(port, &auth, &[], &path)["status"], "processing");

    // Worker B takes it over once A's lease has expired, and finishes.
    let (status, log) = run_once(&env);
    assert!(status.success(), "worker B: {log}");
    assert_eq!(requests.recv_timeout(Duration::from_secs(1)), Ok(1));
    assert!(
        requests.try_recv().is_err(),
        "the job ran twice after the takeover"
    );

    let done = api(port, &auth, &[], &path);
    assert_eq!(done["status"], "classified", "{done}");
    let topics = done["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 1, "{done}");
    assert_eq!(topics[0]["name"], "Finance");
    assert!(
        strip_ansi(&log).contains("attempt=2}"),
        "the takeover is attempt 2: {log:?}"
    );
    drop(server);
}

#[test]
fn a_document_that_kills_its_worker_every_time_ends_failed() {
    let (_scratch, env) = migrated(
        "poison",
        &[
            ("JOB_VISIBILITY_SECS", "2"),
            ("JOB_MAX_ATTEMPTS", "2"),
            ("AI_ALLOW_PRIVATE_ENDPOINTS", "true"),
            ("AI_SELF_SERVICE_DEFAULT", "true"),
        ],
    );
    let (server, port) = serve(&["serve"], &env);
    let auth = sign_up(port, "alice");
    // Every request is held: each worker that takes the document is killed while it waits, as
    // if the document crashed it.
    let (ai_port, requests) = fake_openai(usize::MAX);
    let id = upload_for_provider(port, &auth, ai_port);
    let path = format!("/api/documents/{id}");
    for kill in 0..2 {
        let mut worker = Running(start(&["worker"], &env));
        assert_eq!(
            requests.recv_timeout(Duration::from_secs(30)),
            Ok(kill),
            "worker {kill} never took the document"
        );
        worker.0.kill().unwrap(); // SIGKILL
        worker.0.wait().unwrap();
    }
    // The third taker finds two attempts lost with their workers: the document fails instead
    // of taking this worker down too (before, it ran again, and again, forever).
    let (status, log) = run_once(&env);
    assert!(status.success(), "worker: {log}");
    assert!(
        requests.try_recv().is_err(),
        "the document was tried a third time"
    );
    let done = api(port, &auth, &[], &path);
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.starts_with("gave up after 2 attempts: the worker processing it stopped"),
        "{error}"
    );
    drop(server);
}

/// `docuvault worker --once` until it is idle: its exit status and its log.
fn run_once(env: &std::collections::HashMap<String, String>) -> (std::process::ExitStatus, String) {
    let mut worker = Running(start(&["worker", "--once"], env));
    let status = wait_with_timeout(&mut worker.0, Duration::from_secs(60));
    let mut log = String::new();
    worker
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .ok();
    (status, log)
}

/// Makes the topic "Finance", points alice's AI settings at the stand-in provider on
/// `ai_port`, uploads an invoice and returns its id.
fn upload_for_provider(port: u16, auth: &str, ai_port: u16) -> String {
    let topic = api(
        port,
        auth,
        &[
            &JSON[..],
            &["-d", r#"{"name":"Finance","description":"invoices"}"#],
        ]
        .concat(),
        "/api/topics",
    );
    assert_eq!(topic["name"], "Finance", "{topic}");
    let settings = format!(
        r#"{{"provider":"openai","model":"m","base_url":"http://127.0.0.1:{ai_port}/v1"}}"#
    );
    let saved = api(
        port,
        auth,
        &[&JSON[..], &["-X", "PUT", "-d", &settings]].concat(),
        "/api/settings",
    );
    assert_eq!(saved["provider"], "openai", "{saved}");
    let file = empty_dir("worker").join("invoice.txt");
    std::fs::write(&file, "Invoice: amount due 120 EUR").unwrap();
    let doc = api(
        port,
        auth,
        &["-F", &format!("file=@{}", file.display())],
        "/api/documents/upload",
    );
    doc["id"]
        .as_str()
        .unwrap_or_else(|| panic!("upload: {doc}"))
        .to_owned()
}

#[test]
fn serve_with_worker_classifies_uploads_in_one_process() {
    let (_scratch, env) = migrated("embedded", &[]);
    let (_server, port) = serve(&["serve", "--with-worker"], &env);
    let auth = sign_up(port, "alice");

    let body = r#"{"name":"Health","description":"medical letters, prescriptions, doctor"}"#;
    assert_eq!(
        api(
            port,
            &auth,
            &[&JSON[..], &["-d", body]].concat(),
            "/api/topics"
        )["name"],
        "Health"
    );
    let file = empty_dir("embedded").join("letter.txt");
    std::fs::write(
        &file,
        "Prescription from your doctor: medical letter enclosed.",
    )
    .unwrap();
    let doc = api(
        port,
        &auth,
        &["-F", &format!("file=@{}", file.display())],
        "/api/documents/upload",
    );
    let path = format!(
        "/api/documents/{}",
        doc["id"].as_str().unwrap_or_else(|| panic!("{doc}"))
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let done = loop {
        let d = api(port, &auth, &[], &path);
        if d["status"] == "classified" || std::time::Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["status"], "classified", "{done}");
    assert_eq!(done["topics"][0]["name"], "Health", "{done}");
}

/// `docuvault healthcheck` as a container runtime runs it, with the process's environment.
fn healthcheck(args: &[&str], env: &std::collections::HashMap<String, String>) -> (bool, String) {
    let (code, said) = common::run(&[&["healthcheck"], args].concat(), env);
    (code == Some(0), said)
}

#[test]
fn healthchecks_tell_a_live_api_and_worker_from_dead_ones() {
    let dir = empty_dir("health");
    let beat = dir.join("worker.alive");
    let (_scratch, mut env) = migrated(
        "health",
        &[("WORKER_HEARTBEAT_FILE", beat.to_str().unwrap())],
    );
    let (server, port) = serve(&["serve"], &env);
    env.insert("BIND_ADDR".into(), format!("0.0.0.0:{port}"));
    assert_eq!(healthcheck(&[], &env), (true, String::new()));
    drop(server);
    let (ok, said) = healthcheck(&[], &env);
    assert!(!ok && said.starts_with("unhealthy: cannot ask"), "{said}");

    // No heartbeat before a worker ran; one within seconds of its start.
    let (ok, said) = healthcheck(&["--worker"], &env);
    assert!(!ok && said.starts_with("unhealthy: no heartbeat"), "{said}");
    let worker = Running(start(&["worker"], &env));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !healthcheck(&["--worker"], &env).0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no heartbeat within 20 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A worker that died leaves a heartbeat that ages out.
    drop(worker);
    let aged = std::process::Command::new("touch")
        .args(["-d", "2 minutes ago"])
        .arg(&beat)
        .status()
        .unwrap();
    assert!(aged.success());
    let (ok, said) = healthcheck(&["--worker"], &env);
    assert!(!ok && said.contains("s old"), "{said}");
}
