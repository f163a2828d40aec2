//! `docuvault user`: the first admin is made from the server's shell, with the password from
//! stdin (never an argument), and can then sign in; `set-password` claims an account.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{BIN, empty_dir, migrated, post_json, serve};
use serde_json::Value;

fn user_cmd(args: &[&str], env: &HashMap<String, String>, stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("user")
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(empty_dir("users"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn login(port: u16, login: &str, password: &str) -> Value {
    let body = serde_json::json!({ "login": login, "password": password });
    post_json(port, "/api/auth/login", &body.to_string())
}

#[test]
fn the_first_admin_is_created_from_the_shell() {
    let (_scratch, env) = migrated("users", &[]);
    let password = "operator chosen passphrase";

    // There is no way to pass the password as an argument.
    let out = user_cmd(
        &[
            "create",
            "--handle",
            "root",
            "--email",
            "root@example.org",
            "--admin",
            "--password",
            password,
        ],
        &env,
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    let out = user_cmd(
        &[
            "create",
            "--handle",
            "root",
            "--email",
            "root@example.org",
            "--admin",
        ],
        &env,
        "weak\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"),
        "{out:?}"
    );

    let out = user_cmd(
        &[
            "create",
            "--handle",
            "root",
            "--email",
            "root@example.org",
            "--admin",
        ],
        &env,
        &format!("{password}\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("created admin root"), "{stderr}");
    assert!(!stderr.contains(password), "the password is never printed");

    let (_server, port) = serve(&["serve"], &env);
    let signed_in = login(port, "root", password);
    assert_eq!(signed_in["user"]["role"], "admin", "{signed_in}");

    // set-password: the old password stops working, the new one works.
    let new = "another operator passphrase";
    let out = user_cmd(&["set-password", "root"], &env, &format!("{new}\n"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        login(port, "root", password)["error"]["code"],
        "invalid_credentials"
    );
    assert_eq!(login(port, "root", new)["user"]["handle"], "root");
    let out = user_cmd(&["set-password", "nobody"], &env, &format!("{new}\n"));
    assert_eq!(out.status.code(), Some(1));
}

fn quota_check(args: &[&str], env: &HashMap<String, String>) -> (Option<i32>, String) {
    common::run(&[&["quota", "check"], args].concat(), env)
}

#[test]
fn quota_check_reports_drift_and_fixes_it() {
    let (scratch, env) = migrated("quota", &[]);
    let out = user_cmd(
        &[
            "create",
            "--handle",
            "carol",
            "--email",
            "carol@example.org",
        ],
        &env,
        "a long enough passphrase\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        quota_check(&[], &env),
        (
            Some(0),
            "every quota matches its documents and open uploads\n".into()
        )
    );

    // Drift, as a bug or a hand edit would leave it: recorded 123 bytes, no documents.
    scratch.sql("UPDATE quotas SET used_bytes = 123");
    let (code, said) = quota_check(&[], &env);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("carol (")
            && said.contains("recorded 123 bytes, documents and open uploads add up to 0"),
        "{said}"
    );
    let (code, said) = quota_check(&["--fix"], &env);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("carol: set to 0 bytes"), "{said}");
    assert_eq!(quota_check(&[], &env).0, Some(0));

    // An open upload reservation counts; a completed one is its document's.
    scratch.sql(
        "INSERT INTO uploads (id, user_id, filename, content_type, size_bytes, object_key, part_bytes, expires_at)
         SELECT gen_random_uuid(), id, 'a.txt', 'text/plain', 50, 'k1', 50, now() + interval '1 hour' FROM users;
         INSERT INTO uploads (id, user_id, filename, content_type, size_bytes, object_key, part_bytes, expires_at, completed_at)
         SELECT gen_random_uuid(), id, 'b.txt', 'text/plain', 70, 'k2', 70, now(), now() FROM users",
    );
    let (code, said) = quota_check(&[], &env);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("recorded 0 bytes, documents and open uploads add up to 50"),
        "{said}"
    );
    let (code, said) = quota_check(&["--fix"], &env);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("carol: set to 50 bytes"), "{said}");
}
