//! Child processes of the pipeline (`pdftotext`, `pdftoppm`, `tesseract`) and their temporary
//! files, bounded the same way for hostile input: address space and CPU time by `prlimit`, wall
//! time by a timeout, output by a byte bound; killed on drop. Their output and error output are
//! read at the same time (a child blocked on a full pipe would otherwise hang until the
//! timeout).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::JobError;

/// Address space a child may use.
const MEMORY_LIMIT: u64 = 1024 * 1024 * 1024;

/// A temporary file removed when dropped, whatever happens in between.
pub(super) struct TempFile(pub(super) PathBuf);

impl TempFile {
    /// A fresh name in the temporary directory (nothing is created yet).
    pub(super) fn named(extension: &str) -> Self {
        Self(std::env::temp_dir().join(format!("docuvault-{}.{extension}", uuid::Uuid::new_v4())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A new file only its owner can read (the temporary directory may be shared with other
/// users), refusing to follow or reuse anything already at `path`.
pub(super) async fn create_private(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

pub(super) fn temp_file_error(e: std::io::Error) -> JobError {
    JobError::internal("the server could not write a temporary file", e)
}

/// `program` under `prlimit` (address space and CPU time bounded), or alone when `limited` is
/// false (no util-linux; the caller's wall-clock timeout still bounds it).
pub(super) fn bounded_command(
    program: &str,
    cpu_secs: u64,
    limited: bool,
) -> tokio::process::Command {
    let mut cmd = if limited {
        let mut c = tokio::process::Command::new("prlimit");
        c.arg(format!("--as={MEMORY_LIMIT}"))
            .arg(format!("--cpu={cpu_secs}"))
            .arg("--")
            .arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// Spawns `make(true)`, or `make(false)` when `prlimit` is not installed.
pub(super) fn spawn_bounded(
    make: impl Fn(bool) -> tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    match make(true).spawn() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => make(false).spawn(),
        other => other,
    }
}

/// What a child wrote and how it ended.
pub(super) struct Captured {
    pub stdout: Vec<u8>,
    /// `None` when the output went past the bound: the child was killed and `stdout` holds
    /// the bound.
    pub status: Option<ExitStatus>,
    /// The start of its error output (enough for a reason).
    pub stderr_head: String,
}

pub(super) enum RunError {
    /// The program could not be started (not installed?).
    Spawn(std::io::Error),
    TimedOut,
    Io(std::io::Error),
}

/// Runs the command from `make` (see [`spawn_bounded`]) with piped output, keeping at most
/// `max_bytes` of its standard output, within `timeout`.
pub(super) async fn run_captured(
    make: impl Fn(bool) -> tokio::process::Command,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Captured, RunError> {
    let mut child = spawn_bounded(|limited| {
        let mut cmd = make(limited);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    })
    .map_err(RunError::Spawn)?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(RunError::Io(std::io::Error::other("no pipes to the child")));
    };
    let work = async {
        // Both pipes at once: a child blocked writing one of them never exits.
        let ((read, text, truncated), stderr_head) =
            tokio::join!(read_text(stdout, max_bytes, &mut child), read_head(stderr));
        let status = child.wait().await;
        (read, text, truncated, stderr_head, status)
    };
    let (read, stdout, truncated, stderr_head, status) = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| RunError::TimedOut)?;
    read.map_err(RunError::Io)?;
    let status = if truncated {
        None
    } else {
        Some(status.map_err(RunError::Io)?)
    };
    Ok(Captured {
        stdout,
        status,
        stderr_head,
    })
}

/// Runs the command from `make` (output not kept) to its end, killing it when `timeout`
/// passes first.
pub(super) async fn status_within(
    make: impl Fn(bool) -> tokio::process::Command,
    timeout: Duration,
) -> std::io::Result<ExitStatus> {
    let mut child = spawn_bounded(|limited| {
        let mut cmd = make(limited);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    })?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the child process timed out",
            ))
        }
    }
}

/// Reads `out` up to `max_bytes`; on reaching the bound with more to come, kills `child` at
/// once and reports the text as truncated.
async fn read_text(
    out: tokio::process::ChildStdout,
    max_bytes: usize,
    child: &mut tokio::process::Child,
) -> (std::io::Result<()>, Vec<u8>, bool) {
    let mut text = Vec::new();
    // One byte past the bound tells "exactly the bound" from "more than the bound".
    let mut limited = out.take(max_bytes as u64 + 1);
    let read = limited.read_to_end(&mut text).await.map(|_| ());
    if text.len() > max_bytes {
        text.truncate(max_bytes);
        let _ = child.start_kill();
        return (read, text, true);
    }
    (read, text, false)
}

/// The start of a child's error output (all a reason needs); the rest is read and dropped so
/// the child never blocks on it.
async fn read_head(mut err: tokio::process::ChildStderr) -> String {
    let mut head = Vec::new();
    let _ = (&mut err).take(4096).read_to_end(&mut head).await;
    let _ = tokio::io::copy(&mut err, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&head).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn temporary_files_are_private_and_new() {
        use std::os::unix::fs::PermissionsExt;
        let file = TempFile::named("test");
        let path = file.0.clone();
        create_private(&file.0).await.expect("create");
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            create_private(&file.0).await.is_err(),
            "an existing file is not reused"
        );
        drop(file);
        assert!(!path.exists(), "removed on drop");
    }

    #[tokio::test]
    async fn output_past_the_bound_kills_the_child_and_keeps_the_bound() {
        let run = run_captured(
            |_| {
                let mut c = tokio::process::Command::new("yes");
                c.kill_on_drop(true);
                c
            },
            Duration::from_secs(10),
            1000,
        )
        .await;
        let Ok(out) = run else {
            panic!("yes did not run")
        };
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.status.is_none());
    }
}
