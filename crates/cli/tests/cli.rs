//! The `docuvault` binary as an operator meets it: `--help`, start-up refused with one line naming
//! the bad variable (and never echoing a secret), and SIGTERM letting an in-flight upload finish
//! before the process exits. The last one runs against the local stack (`make test` starts it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test helper that cannot set up must panic

mod common;

use common::{
    BIN, Scratch, empty_dir, read_port, sign_up, stack_env, wait_for_line, wait_with_timeout,
};

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

#[test]
fn sigterm_lets_an_in_flight_upload_finish_then_exits() {
    let scratch = Scratch::new(&stack_env(), "term");
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
    let auth = sign_up(port, "alice");

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
        "POST /api/documents/upload HTTP/1.1\r\nHost: localhost\r\n{auth}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {len}\r\n\r\n"
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
