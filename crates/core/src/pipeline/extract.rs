//! Text extraction, bounded in time, memory and output for hostile files.
//!
//! - Plain text: UTF-8 (a BOM is dropped); anything that is not UTF-8 is read as Windows-1252,
//!   which is Latin-1 plus the printable characters Windows puts in 0x80–0x9F.
//! - PDF: poppler's `pdftotext` in a child process (the quality reference in DEPENDENCIES.md:
//!   correct reading order for multi-column pages, 106 ms for 131 pages). The child runs under
//!   `prlimit` (address space and CPU time), with a wall-clock timeout, killed on drop, and its
//!   output is read only up to a bound. A corrupt or encrypted PDF ends as a readable reason.
//! - Images: no OCR yet, so no text.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use docuvault_domain::FileKind;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::JobError;
use crate::storage::ByteStream;

/// The most text kept from one document (bytes of UTF-8); a longer text is cut here.
pub const MAX_TEXT_BYTES: usize = 8 * 1024 * 1024;
/// Address space a `pdftotext` child may use.
const PDF_MEMORY_LIMIT: u64 = 1024 * 1024 * 1024;

/// The text of a document whose bytes arrive as `body`.
pub async fn extract(
    kind: FileKind,
    body: ByteStream<'_>,
    timeout: Duration,
) -> Result<String, JobError> {
    let text = match kind {
        FileKind::PlainText => decode_text(&read_bounded(body, MAX_TEXT_BYTES).await?),
        FileKind::Pdf => pdf_text(body, timeout).await?,
        FileKind::Png | FileKind::Jpeg | FileKind::Tiff => {
            return Err(JobError::Permanent(
                "no text to classify: images need OCR, which DocuVault does not do yet".into(),
            ));
        }
    };
    if text.trim().is_empty() {
        return Err(JobError::Permanent(match kind {
            FileKind::Pdf => {
                "no text to classify: the PDF has no text layer (a scan? OCR is not available yet)"
                    .into()
            }
            _ => "no text to classify: the file holds only white space".into(),
        }));
    }
    Ok(text)
}

async fn read_bounded(mut body: ByteStream<'_>, limit: usize) -> Result<Vec<u8>, JobError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(JobError::from)?;
        let room = limit - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// UTF-8 if it is (a sequence cut off at the end is dropped), else Windows-1252.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        // Valid up to a multi-byte character that the length bound cut in two.
        Err(e) if e.error_len().is_none() && bytes.len() - e.valid_up_to() < 4 => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// A temporary file removed when dropped, whatever happens in between.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A new file only its owner can read (the temporary directory may be shared with other
/// users), refusing to follow or reuse anything already at `path`.
async fn create_private(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

async fn pdf_text(mut body: ByteStream<'_>, timeout: Duration) -> Result<String, JobError> {
    // pdftotext needs to seek, so the PDF goes to a private temporary file first.
    let file =
        TempFile(std::env::temp_dir().join(format!("docuvault-{}.pdf", uuid::Uuid::new_v4())));
    let mut out = create_private(&file.0)
        .await
        .map_err(|e| JobError::transient(format!("cannot write a temporary file: {e}")))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(JobError::from)?;
        out.write_all(&chunk)
            .await
            .map_err(|e| JobError::transient(format!("cannot write a temporary file: {e}")))?;
    }
    out.flush()
        .await
        .map_err(|e| JobError::transient(format!("cannot write a temporary file: {e}")))?;
    drop(out);
    run_pdftotext(&file.0, timeout).await
}

fn pdftotext_command(path: &Path, cpu_secs: u64, limited: bool) -> tokio::process::Command {
    let mut cmd = if limited {
        let mut c = tokio::process::Command::new("prlimit");
        c.arg(format!("--as={PDF_MEMORY_LIMIT}"))
            .arg(format!("--cpu={cpu_secs}"))
            .arg("--")
            .arg("pdftotext");
        c
    } else {
        tokio::process::Command::new("pdftotext")
    };
    cmd.args(["-q", "-enc", "UTF-8", "-eol", "unix"])
        .arg(path)
        .arg("-")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run_pdftotext(path: &Path, timeout: Duration) -> Result<String, JobError> {
    let cpu_secs = timeout.as_secs().max(1);
    let mut child = match pdftotext_command(path, cpu_secs, true).spawn() {
        Ok(child) => child,
        // Without util-linux's prlimit, the wall-clock timeout still bounds the child.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            pdftotext_command(path, cpu_secs, false)
                .spawn()
                .map_err(|e| {
                    JobError::transient(format!(
                        "cannot run pdftotext (is poppler-utils installed?): {e}"
                    ))
                })?
        }
        Err(e) => return Err(JobError::transient(format!("cannot run pdftotext: {e}"))),
    };
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(JobError::transient("pdftotext started without its pipes"));
    };
    let work = async {
        let mut text = Vec::new();
        let mut limited = stdout.take(MAX_TEXT_BYTES as u64);
        let read = limited.read_to_end(&mut text).await;
        let mut err = String::new();
        // Only the start of stderr matters for the reason.
        let _ = (&mut stderr).take(4096).read_to_string(&mut err).await;
        if text.len() == MAX_TEXT_BYTES {
            // Enough text: stop the child instead of waiting for the rest.
            let _ = child.start_kill();
        }
        let status = child.wait().await;
        (read, text, err, status)
    };
    let (read, text, err, status) = tokio::time::timeout(timeout, work).await.map_err(|_| {
        JobError::Permanent(format!("reading the PDF took longer than {timeout:?}"))
    })?;
    read.map_err(|e| JobError::transient(format!("cannot read pdftotext's output: {e}")))?;
    let status =
        status.map_err(|e| JobError::transient(format!("pdftotext did not finish: {e}")))?;
    if !status.success() && text.len() < MAX_TEXT_BYTES {
        let detail = err.lines().next().unwrap_or("").trim();
        return Err(JobError::Permanent(match status.code() {
            Some(1) => "the PDF is damaged or not a PDF and cannot be read".to_owned(),
            Some(3) => "the PDF is protected against text extraction".to_owned(),
            // Killed by prlimit (SIGKILL for memory, SIGXCPU for CPU time).
            None => "reading the PDF needed more memory or CPU time than allowed".to_owned(),
            Some(code) if detail.is_empty() => format!("pdftotext failed (exit status {code})"),
            Some(_) => format!("the PDF cannot be read: {detail}"),
        }));
    }
    Ok(decode_text(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_windows_1252_and_cut_sequences() {
        assert_eq!(decode_text("Grüße €".as_bytes()), "Grüße €");
        assert_eq!(decode_text(b"\xEF\xBB\xBFwith BOM"), "with BOM");
        assert_eq!(
            decode_text(b"Gr\xfc\xdfe \x80 \x93quoted\x94"),
            "Grüße € “quoted”"
        );
        // A length bound that cut "€" (3 bytes) after its first two bytes.
        assert_eq!(decode_text(b"price 5\xe2\x82"), "price 5");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn temporary_files_are_private_and_new() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("docuvault-test-{}", uuid::Uuid::new_v4()));
        let file = TempFile(path.clone());
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

    #[test]
    fn every_byte_decodes_to_one_char() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_text(&all).chars().count(), 256);
    }
}
