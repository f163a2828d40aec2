//! `docuvault ingest watch` as a process against the local stack: files dropped in a folder
//! are imported once each, even when the watcher is killed with SIGKILL in the middle and
//! started again; what the vault refuses goes to `failed/` with its reason; partial files are
//! left alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Running, empty_dir, migrated, serve, sign_up, start};

const FILES: usize = 12;

fn watcher(dir: &Path, env: &std::collections::HashMap<String, String>) -> Running {
    let mut child = start(
        &[
            "ingest",
            "watch",
            dir.to_str().unwrap(),
            "--user",
            "alice",
            "--interval-secs",
            "0.2",
        ],
        env,
    );
    let mut log = child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    Running(child)
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn documents(port: u16, auth: &str) -> Vec<String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-H", auth])
        .arg(format!("http://127.0.0.1:{port}/api/documents?limit=100"))
        .output()
        .unwrap();
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["filename"].as_str().unwrap().to_owned())
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_watch_folder_killed_mid_import_imports_each_file_once() {
    let (_scratch, env) = migrated("watch", &[]);
    let (_server, port) = serve(&["serve"], &env);
    let auth = sign_up(port, "alice");
    let dir = empty_dir("watch-in");
    for sub in ["", "done", "failed"] {
        for name in names(&dir.join(sub)) {
            std::fs::remove_file(dir.join(sub).join(name)).unwrap();
        }
    }

    // Files large enough that the kill lands in the middle of the run.
    let mut expected = BTreeSet::new();
    for n in 0..FILES {
        let name = format!("scan-{n:02}.txt");
        let line = format!("Scanned letter number {n} from the hall scanner.\n");
        std::fs::write(dir.join(&name), line.repeat(3 * 1024 * 1024 / line.len())).unwrap();
        expected.insert(name);
    }
    std::fs::write(
        dir.join("photo.bin"),
        (0..=255u8).cycle().take(4096).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(dir.join("still-copying.pdf.part"), b"%PDF-1.4 half").unwrap();

    let mut first = watcher(&dir, &env);
    wait_until("a few files are imported", Duration::from_secs(120), || {
        names(&dir.join("done")).len() >= 3
    });
    first.0.kill().unwrap(); // SIGKILL: no chance to finish the file in hand
    first.0.wait().unwrap();
    let moved_before_kill = names(&dir.join("done")).len();
    assert!(
        moved_before_kill < FILES,
        "the watcher finished before it could be killed"
    );

    let _second = watcher(&dir, &env);
    wait_until("every file is settled", Duration::from_secs(180), || {
        names(&dir.join("done")).len() == FILES && names(&dir.join("failed")).len() == 2
    });

    // Each file once in the vault, each moved once; the refused one says why; the partial one
    // is where it was.
    let stored: Vec<String> = documents(port, &auth);
    assert_eq!(stored.len(), FILES, "{stored:?}");
    assert_eq!(stored.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(names(&dir.join("done")), expected);
    let reason = std::fs::read_to_string(dir.join("failed/photo.bin.reason.txt")).unwrap();
    assert!(reason.contains("not supported"), "{reason}");
    assert_eq!(
        names(&dir),
        BTreeSet::from(["still-copying.pdf.part".to_owned()])
    );

    // The same content again, under another name: already in the vault, so only moved.
    std::fs::copy(dir.join("done/scan-03.txt"), dir.join("again.txt")).unwrap();
    wait_until("the copy is settled", Duration::from_secs(60), || {
        names(&dir.join("done")).contains("again.txt")
    });
    assert_eq!(documents(port, &auth).len(), FILES);
}
