//! What the binary's tests share: the local stack's variables, a scratch database and bucket,
//! and reading the server's log.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::BufRead;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_docuvault");

/// A working directory without a `.env`, so only what the test sets is seen.
pub fn empty_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("docuvault-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The local stack's variables, from the environment or `.stack/docuvault.env`.
pub fn stack_env() -> HashMap<String, String> {
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
pub struct Scratch {
    pub env: HashMap<String, String>,
    db: String,
    bucket: String,
}

impl Scratch {
    /// `tag` keeps tests of one process apart (`cargo test` runs them on threads).
    pub fn new(env: &HashMap<String, String>, tag: &str) -> Self {
        let id = format!("cli_{tag}_{}", std::process::id());
        let scratch = Self {
            env: env.clone(),
            db: format!("dvt_{id}"),
            bucket: format!("dvt-{}", id.replace('_', "-")),
        };
        scratch.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            scratch.db
        ));
        scratch.psql(&format!(
            "CREATE DATABASE {} OWNER docuvault_migrate",
            scratch.db
        ));
        scratch
    }

    pub fn psql(&self, sql: &str) {
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

    /// Runs `sql` in the scratch database, as the superuser.
    #[allow(dead_code)] // not every test binary uses it
    pub fn sql(&self, sql: &str) {
        let admin = &self.env["DOCUVAULT_TEST_PG_ADMIN_URL"];
        let url = format!("{}/{}", &admin[..admin.rfind('/').unwrap()], self.db);
        let ok = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &url, "-c", sql])
            .status()
            .unwrap();
        assert!(ok.success(), "psql failed: {sql}");
    }

    /// The stack's environment, pointed at the scratch database and bucket.
    pub fn server_env(&self) -> HashMap<String, String> {
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

pub fn read_port(log: &mut impl BufRead) -> u16 {
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

pub fn wait_for_line(log: &mut impl BufRead, needle: &str) -> String {
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

pub fn strip_ansi(s: &str) -> String {
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

pub fn wait_with_timeout(
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

/// POSTs a JSON body with curl; the answer's JSON (the test fails on anything else).
pub fn post_json(port: u16, path: &str, body: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-H",
            "content-type: application/json",
            "-d",
            body,
        ])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{path}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Registers a user on the server at `port`, signs in, and returns the header line that
/// authenticates as them (`authorization: Bearer …`).
pub fn sign_up(port: u16, handle: &str) -> String {
    let curl = |path: &str, body: String| post_json(port, path, &body);
    let password = "correct horse battery staple";
    let user = curl(
        "/api/auth/register",
        format!(
            r#"{{"handle":"{handle}","email":"{handle}@example.org","password":"{password}"}}"#
        ),
    );
    assert_eq!(user["handle"], handle, "{user}");
    let signed_in = curl(
        "/api/auth/login",
        format!(r#"{{"login":"{handle}","password":"{password}"}}"#),
    );
    let token = signed_in["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{signed_in}"));
    format!("authorization: Bearer {token}")
}

/// A child process killed when the test ends, passed or not.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Runs `docuvault <args>` with exactly `env` to its end: its exit code and its stderr.
#[allow(dead_code)] // not every test binary uses it
pub fn run(args: &[&str], env: &HashMap<String, String>) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn start(args: &[&str], env: &HashMap<String, String>) -> Child {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env)
        .env("RUST_LOG", "info")
        .current_dir(empty_dir("worker"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A migrated scratch database and bucket, and the environment for processes using them (with
/// a Redis key prefix of their own and `extra`).
pub fn migrated(tag: &str, extra: &[(&str, &str)]) -> (Scratch, HashMap<String, String>) {
    let scratch = Scratch::new(&stack_env(), tag);
    let mut env = scratch.server_env();
    env.insert(
        "REDIS_KEY_PREFIX".into(),
        format!("dvt-cli-{tag}-{}", std::process::id()),
    );
    env.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let migrate = Command::new(BIN)
        .arg("migrate")
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    (scratch, env)
}

/// Starts the API (`args`) and returns it with its port.
pub fn serve(args: &[&str], env: &HashMap<String, String>) -> (Running, u16) {
    let mut server = Running(start(args, env));
    let mut log = BufReader::new(server.0.stderr.take().unwrap());
    let port = read_port(&mut log);
    // Keep reading the server's log: a closed pipe would fail its writes.
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    (server, port)
}
