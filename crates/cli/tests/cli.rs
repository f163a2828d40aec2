//! The `docuvault` binary as an operator meets it: `--help`, start-up refused with one line naming
//! the bad variable (and never echoing a secret), and SIGTERM letting an in-flight upload finish
//! before the process exits. The last one runs against the local stack (`make test` starts it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test helper that cannot set up must panic

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_docuvault");

/// A working directory without a `.env`, so only what the test sets is seen.
fn empty_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("docuvault-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn docuvault(args: &[&str], env: &[(&str, &str)], dir: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(empty_dir(dir))
        .output()
        .unwrap()
}

const SECRET: &str = "do-not-print-me-0123456789abcdefghijklmnop";

fn valid_env() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "DATABASE_URL",
            "postgres://docuvault_app:pw-in-url@127.0.0.1:1/docuvault",
        ),
        ("MINIO_ENDPOINT", "http://127.0.0.1:1"),
        ("MINIO_ACCESS_KEY", "app"),
        ("MINIO_SECRET_KEY", SECRET),
        ("REDIS_URL", "redis://:pw@127.0.0.1:1/0"),
        ("SECRET_KEY", SECRET),
    ]
}

fn with(
    env: &[(&'static str, &'static str)],
    var: &'static str,
    value: Option<&'static str>,
) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = env.iter().copied().filter(|(k, _)| *k != var).collect();
    if let Some(v) = value {
        env.push((var, v));
    }
    env
}

#[test]
fn help_lists_the_subcommands() {
    let out = docuvault(&["--help"], &[], "help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "worker", "migrate"] {
        assert!(text.contains(sub), "--help does not mention {sub}: {text}");
    }
}

#[test]
fn bad_configuration_stops_start_up_with_one_line_naming_the_variable() {
    let base = valid_env();
    let cases = [
        ("DATABASE_URL", None),
        ("SECRET_KEY", None),
        ("SECRET_KEY", Some("too-short")),
        ("MINIO_ENDPOINT", Some("not a url")),
        ("MINIO_ENDPOINT", Some("http://s3.example.com")),
        ("MAX_UPLOAD_BYTES", Some("lots")),
        ("BIND_ADDR", Some("localhost")),
        ("REDIS_URL", Some("http://127.0.0.1:6379")),
    ];
    for (var, value) in cases {
        let out = docuvault(&["serve"], &with(&base, var, value), "config");
        assert_eq!(out.status.code(), Some(1), "{var}={value:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{var}={value:?}: expected one line, got {stderr}"
        );
        assert!(
            lines[0].contains(var),
            "{var}={value:?}: the line does not name it: {stderr}"
        );
        assert!(
            !stderr.contains(SECRET) && !stderr.contains("pw-in-url"),
            "{var}: a secret was printed: {stderr}"
        );
    }
}

#[test]
fn migrate_reads_only_the_migrate_url() {
    let out = docuvault(&["migrate"], &valid_env(), "migrate");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DATABASE_MIGRATE_URL"), "{stderr}");
}

/// The local stack's variables, from the environment or `.stack/docuvault.env`.
fn stack_env() -> HashMap<String, String> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.stack/docuvault.env");
    let mut env: HashMap<String, String> = dotenvy::from_path_iter(file)
        .map(|it| it.filter_map(Result::ok).collect())
        .unwrap_or_default();
    for (k, v) in std::env::vars() {
        if k.starts_with("DATABASE_")
            || k.starts_with("MINIO_")
            || k.starts_with("DOCUVAULT_TEST_")
            || k == "REDIS_URL"
            || k == "SECRET_KEY"
        {
            env.insert(k, v);
        }
    }
    assert!(
        env.contains_key("DATABASE_URL"),
        "the local stack is needed: run `make test` (or scripts/stack.sh up)"
    );
    env
}

/// A database and a bucket of the test's own, so the developer's data is left alone; removed on
/// drop (and by `scripts/stack.sh sweep` if the test is killed).
struct Scratch {
    env: HashMap<String, String>,
    db: String,
    bucket: String,
}

impl Scratch {
    fn new(env: &HashMap<String, String>) -> Self {
        let id = format!("cli_{}", std::process::id());
        let scratch = Self {
            env: env.clone(),
            db: format!("dvt_{id}"),
            bucket: format!("dvt-{}", id.replace('_', "-")),
        };
        scratch.psql(&format!(
            "CREATE DATABASE {} OWNER docuvault_migrate",
            scratch.db
        ));
        scratch
    }

    fn psql(&self, sql: &str) {
        let ok = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                &self.env["DOCUVAULT_TEST_PG_ADMIN_URL"],
                "-c",
                sql,
            ])
            .status()
            .unwrap();
        assert!(ok.success(), "psql failed: {sql}");
    }

    /// The stack's environment, pointed at the scratch database and bucket.
    fn server_env(&self) -> HashMap<String, String> {
        let mut env = self.env.clone();
        for key in ["DATABASE_URL", "DATABASE_MIGRATE_URL"] {
            let url = &env[key];
            let base = &url[..url.rfind('/').unwrap()];
            env.insert(key.to_owned(), format!("{base}/{}", self.db));
        }
        env.insert("MINIO_BUCKET".into(), self.bucket.clone());
        env.insert(
            "MINIO_ACCESS_KEY".into(),
            env["DOCUVAULT_TEST_S3_ROOT_ACCESS_KEY"].clone(),
        );
        env.insert(
            "MINIO_SECRET_KEY".into(),
            env["DOCUVAULT_TEST_S3_ROOT_SECRET_KEY"].clone(),
        );
        env
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", &self.env["DOCUVAULT_TEST_PG_ADMIN_URL"], "-c"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db))
            .status();
        let creds = format!(
            "{}:{}",
            self.env["DOCUVAULT_TEST_S3_ROOT_ACCESS_KEY"],
            self.env["DOCUVAULT_TEST_S3_ROOT_SECRET_KEY"]
        );
        let _ = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-X",
                "DELETE",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
                "--user",
                &creds,
            ])
            .arg(format!("{}/{}", self.env["MINIO_ENDPOINT"], self.bucket))
            .status();
    }
}

#[test]
fn sigterm_lets_an_in_flight_upload_finish_then_exits() {
    let scratch = Scratch::new(&stack_env());
    let env = scratch.server_env();
    let migrate = Command::new(BIN)
        .arg("migrate")
        .env_clear()
        .envs(&env)
        .current_dir(empty_dir("graceful"))
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");

    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .envs(&env)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .current_dir(empty_dir("graceful"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let port = read_port(&mut log);

    // Send the headers and half the body of an upload, then ask the server to stop.
    let body_start = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"graceful.txt\"\r\nContent-Type: text/plain\r\n\r\n";
    let content = b"written across a shutdown signal\n".repeat(100);
    let body_end = b"\r\n--b--\r\n";
    let len = body_start.len() + content.len() + body_end.len();
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "POST /api/documents/upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    conn.write_all(body_start).unwrap();
    conn.write_all(&content[..content.len() / 2]).unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    wait_for_line(&mut log, "shutdown requested");
    // New connections are refused once the server stops accepting.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    conn.write_all(&content[content.len() / 2..]).unwrap();
    conn.write_all(body_end).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the in-flight upload did not finish: {response}"
    );

    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "docuvault did not exit cleanly");
}

fn read_port(log: &mut impl BufRead) -> u16 {
    let line = wait_for_line(log, "listening");
    let at = line
        .find("port=")
        .unwrap_or_else(|| panic!("no port in {line}"))
        + "port=".len();
    let digits: String = strip_ansi(&line[at..])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("bad port in {line}"))
}

fn wait_for_line(log: &mut impl BufRead, needle: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = log.read_line(&mut line).unwrap();
        assert!(n > 0, "docuvault exited before logging {needle:?}");
        if strip_ansi(&line).contains(needle) {
            return strip_ansi(&line);
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    timeout: Duration,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("docuvault did not exit within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
