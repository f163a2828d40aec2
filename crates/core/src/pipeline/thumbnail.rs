//! Thumbnails: the first page of a PDF as a PNG about 300 px on its longer side, rendered by
//! poppler's `pdftoppm` (the same package as `pdftotext`) in a child process bounded like
//! extraction. Best effort: a document whose thumbnail cannot be made is still processed.

use std::path::Path;
use std::time::Duration;

use super::child::{TempFile, bounded_command, status_within};

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
    let status = status_within(
        |limited| {
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
            .arg(&prefix);
            cmd
        },
        timeout,
    )
    .await;
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
