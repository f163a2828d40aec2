//! Text extraction, bounded in time, memory and output for hostile files.
//!
//! - Plain text: UTF-8 (a BOM is dropped); anything that is not UTF-8 is read as Windows-1252,
//!   which is Latin-1 plus the printable characters Windows puts in 0x80–0x9F.
//! - PDF: poppler's `pdftotext` in a child process (the quality reference in DEPENDENCIES.md:
//!   correct reading order for multi-column pages, 106 ms for 131 pages). The child runs under
//!   `prlimit` (address space and CPU time), with a wall-clock timeout, killed on drop. Its
//!   output and its error output are read at the same time (a child blocked on a full pipe
//!   would otherwise hang until the timeout); once the text reaches the bound the child is
//!   killed and the text kept is marked truncated. A corrupt or encrypted PDF ends as a
//!   readable reason.
//! - Images: no OCR yet, so no text.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use docuvault_domain::FileKind;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{JobError, thumbnail};
use crate::storage::ByteStream;

/// The most text kept from one document by default (bytes of UTF-8; `EXTRACT_MAX_TEXT_BYTES`).
pub const DEFAULT_MAX_TEXT_BYTES: usize = 8 * 1024 * 1024;
/// Address space a `pdftotext` child may use.
const PDF_MEMORY_LIMIT: u64 = 1024 * 1024 * 1024;

/// A document's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub text: String,
    /// The text went on past `max_bytes` and was cut there.
    pub truncated: bool,
    /// A PNG of the first page (PDFs), for the document list; `None` if it could not be made.
    pub thumbnail: Option<Vec<u8>>,
}

/// The text of a document whose bytes arrive as `body`: at most `max_bytes` of it.
pub async fn extract(
    kind: FileKind,
    body: ByteStream<'_>,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Extracted, JobError> {
    let ((raw, truncated), thumbnail) = match kind {
        FileKind::PlainText => (read_bounded(body, max_bytes).await?, None),
        FileKind::Pdf => pdf_text(body, timeout, max_bytes).await?,
        FileKind::Png | FileKind::Jpeg | FileKind::Tiff => {
            return Err(JobError::Permanent(
                "no text to classify: images need OCR, which DocuVault does not do yet".into(),
            ));
        }
    };
    let text = decode_text(&raw);
    if text.trim().is_empty() {
        return Err(JobError::Permanent(match kind {
            FileKind::Pdf => {
                "no text to classify: the PDF has no text layer (a scan? OCR is not available yet)"
                    .into()
            }
            _ => "no text to classify: the file holds only white space".into(),
        }));
    }
    Ok(Extracted {
        text,
        truncated,
        thumbnail,
    })
}

/// Up to `limit` bytes of `body`, and whether there was more.
async fn read_bounded(mut body: ByteStream<'_>, limit: usize) -> Result<(Vec<u8>, bool), JobError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(JobError::from)?;
        let room = limit - out.len();
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
}

/// UTF-8 if it is (a sequence cut off at the end is dropped), else Windows-1252. NUL
/// characters are dropped: PostgreSQL cannot store them in text, and they carry no meaning.
pub fn decode_text(bytes: &[u8]) -> String {
    let mut text = decode(bytes);
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
    text
}

fn decode(bytes: &[u8]) -> String {
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
pub(super) struct TempFile(pub(super) PathBuf);

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

fn temp_file_error(e: std::io::Error) -> JobError {
    JobError::internal("the server could not write a temporary file", e)
}

/// The PDF's text (and whether it was cut), and a thumbnail of its first page.
async fn pdf_text(
    mut body: ByteStream<'_>,
    timeout: Duration,
    max_bytes: usize,
) -> Result<((Vec<u8>, bool), Option<Vec<u8>>), JobError> {
    // pdftotext needs to seek, so the PDF goes to a private temporary file first.
    let file =
        TempFile(std::env::temp_dir().join(format!("docuvault-{}.pdf", uuid::Uuid::new_v4())));
    let mut out = create_private(&file.0).await.map_err(temp_file_error)?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(JobError::from)?;
        out.write_all(&chunk).await.map_err(temp_file_error)?;
    }
    out.flush().await.map_err(temp_file_error)?;
    drop(out);
    let text = run_pdftotext(&file.0, timeout, max_bytes).await?;
    let thumbnail = thumbnail::render(&file.0, timeout).await;
    Ok((text, thumbnail))
}

/// `program` under `prlimit` (address space and CPU time bounded), or alone when `limited` is
/// false (no util-linux; the caller's wall-clock timeout still bounds it).
pub(super) fn bounded_command(
    program: &str,
    cpu_secs: u64,
    limited: bool,
) -> tokio::process::Command {
    if limited {
        let mut c = tokio::process::Command::new("prlimit");
        c.arg(format!("--as={PDF_MEMORY_LIMIT}"))
            .arg(format!("--cpu={cpu_secs}"))
            .arg("--")
            .arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    }
}

fn pdftotext_command(path: &Path, cpu_secs: u64, limited: bool) -> tokio::process::Command {
    let mut cmd = bounded_command("pdftotext", cpu_secs, limited);
    cmd.args(["-q", "-enc", "UTF-8", "-eol", "unix"])
        .arg(path)
        .arg("-")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run_pdftotext(
    path: &Path,
    timeout: Duration,
    max_bytes: usize,
) -> Result<(Vec<u8>, bool), JobError> {
    let cpu_secs = timeout.as_secs().max(1);
    let mut child = match pdftotext_command(path, cpu_secs, true).spawn() {
        Ok(child) => child,
        // Without util-linux's prlimit, the wall-clock timeout still bounds the child.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            pdftotext_command(path, cpu_secs, false)
                .spawn()
                .map_err(|e| {
                    JobError::internal("the server's PDF reader (pdftotext) could not start", e)
                })?
        }
        Err(e) => {
            return Err(JobError::internal(
                "the server's PDF reader (pdftotext) could not start",
                e,
            ));
        }
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(JobError::transient(
            "the server's PDF reader (pdftotext) could not start",
        ));
    };
    let work = async {
        // Both pipes at once: a child blocked writing one of them never exits.
        let ((read, text, truncated), err) =
            tokio::join!(read_text(stdout, max_bytes, &mut child), read_head(stderr));
        let status = child.wait().await;
        (read, text, truncated, err, status)
    };
    let (read, text, truncated, err, status) =
        tokio::time::timeout(timeout, work).await.map_err(|_| {
            JobError::Permanent(format!(
                "reading the PDF took longer than the {} s allowed",
                timeout.as_secs()
            ))
        })?;
    read.map_err(|e| JobError::internal("the PDF reader's output could not be read", e))?;
    if truncated {
        // Killed on purpose: the text kept is the result.
        return Ok((text, true));
    }
    let status = status.map_err(|e| JobError::internal("the PDF reader did not finish", e))?;
    if !status.success() {
        let detail = err.lines().next().unwrap_or("").trim().to_owned();
        tracing::info!(exit = ?status.code(), stderr = detail, "pdftotext failed");
        return Err(JobError::Permanent(match status.code() {
            Some(1) => "the PDF is damaged or not a PDF and has no readable text".to_owned(),
            Some(3) => "the PDF is protected against text extraction".to_owned(),
            // Killed by prlimit (SIGKILL for memory, SIGXCPU for CPU time).
            None => "reading the PDF needed more memory or CPU time than allowed".to_owned(),
            Some(_) => {
                "the PDF cannot be read: it is damaged or uses features the reader does not support"
                    .to_owned()
            }
        }));
    }
    Ok((text, false))
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
    fn every_byte_but_nul_decodes_to_one_char() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_text(&all).chars().count(), 255);
    }

    #[test]
    fn nul_characters_are_dropped() {
        assert_eq!(decode_text(b"a\0b\0"), "ab");
        assert_eq!(decode_text(b"caf\xe9\0"), "café");
    }
}
