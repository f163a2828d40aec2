//! Thumbnails: the first page of a PDF as a PNG about 300 px on its longer side, rendered by
//! poppler's `pdftoppm` (the same package as `pdftotext`) in a child process bounded like
//! extraction. Best effort: a document whose thumbnail cannot be made is still processed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::extract::{TempFile, bounded_command};

/// The longer side of a thumbnail, in pixels.
pub const THUMBNAIL_PX: u32 = 300;
/// A thumbnail larger than this is not a thumbnail (and is not stored).
const MAX_THUMBNAIL_BYTES: u64 = 2 * 1024 * 1024;

/// Renders the first page of the PDF at `pdf`; `None` (logged) when it cannot.
pub async fn render(pdf: &Path, timeout: Duration) -> Option<Vec<u8>> {
    let prefix = pdf.with_extension("thumb");
    // pdftoppm -singlefile writes `<prefix>.png`.
    let out = TempFile(prefix.with_extension("thumb.png"));
    let cpu_secs = timeout.as_secs().max(1);
    let run = |limited: bool| {
        let mut cmd = bounded_command("pdftoppm", cpu_secs, limited);
        cmd.args([
            "-q",
            "-png",
            "-singlefile",
            "-f",
            "1",
            "-l",
            "1",
            "-scale-to",
        ])
        .arg(THUMBNAIL_PX.to_string())
        .arg(pdf)
        .arg(&prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
        cmd
    };
    let status = match status_within(&mut run(true), timeout).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            status_within(&mut run(false), timeout).await
        }
        other => other,
    };
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            tracing::info!(exit = ?s.code(), "pdftoppm could not render a thumbnail");
            return None;
        }
        Err(e) => {
            tracing::info!(error = %e, "pdftoppm did not finish");
            return None;
        }
    }
    match tokio::fs::metadata(&out.0).await {
        Ok(m) if m.len() <= MAX_THUMBNAIL_BYTES => tokio::fs::read(&out.0).await.ok(),
        _ => None,
    }
}

/// Runs the command to its end, killing it when `timeout` passes first.
async fn status_within(
    cmd: &mut tokio::process::Command,
    timeout: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    let mut child = cmd.spawn()?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "thumbnail timed out",
            ))
        }
    }
}
