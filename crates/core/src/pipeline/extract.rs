//! Text extraction, bounded in time, memory and output for hostile files.
//!
//! - Plain text: UTF-8 (a BOM is dropped); anything that is not UTF-8 is read as Windows-1252,
//!   which is Latin-1 plus the printable characters Windows puts in 0x80–0x9F.
//! - PDF: poppler's `pdftotext` in a child process (the quality reference in DEPENDENCIES.md:
//!   correct reading order for multi-column pages, 106 ms for 131 pages), bounded as
//!   [`super::child`] says; once the text reaches the bound the child is killed and the text
//!   kept is marked truncated. Pages without a text layer (scans) are read by OCR
//!   ([`super::ocr`]). A corrupt or encrypted PDF ends as a readable reason.
//! - Images (PNG, JPEG, TIFF): OCR.
//! - Office documents (DOCX, XLSX, PPTX, ODT, ODS, ODP, RTF): [`super::office`].

use std::path::Path;
use std::time::Duration;

use docuvault_domain::FileKind;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::child::{
    RunError, TempFile, bounded_command, create_private, run_captured, temp_file_error,
};
use super::ocr::{self, Ocr};
use super::{JobError, thumbnail};
use crate::storage::ByteStream;

/// The most text kept from one document by default (bytes of UTF-8; `EXTRACT_MAX_TEXT_BYTES`).
pub const DEFAULT_MAX_TEXT_BYTES: usize = 8 * 1024 * 1024;

/// A document's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub text: String,
    /// The text went on past `max_bytes` and was cut there (or OCR stopped at its page bound).
    pub truncated: bool,
    /// Pages (an image counts as one) whose text was read by OCR.
    pub ocr_pages: usize,
    /// A PNG of the first page (PDFs) or of the image, for the document list; `None` if it
    /// could not be made.
    pub thumbnail: Option<Vec<u8>>,
}

/// The text of a document whose bytes arrive as `body`: at most `max_bytes` of it.
pub async fn extract(
    kind: FileKind,
    body: ByteStream<'_>,
    ocr: &Ocr,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Extracted, JobError> {
    match kind {
        FileKind::PlainText => {
            let (raw, truncated) = read_bounded(body, max_bytes).await?;
            let text = decode_text(&raw);
            if text.trim().is_empty() {
                return Err(JobError::Permanent(
                    "no text to classify: the file holds only white space".into(),
                ));
            }
            Ok(Extracted {
                text,
                truncated,
                ocr_pages: 0,
                thumbnail: None,
            })
        }
        FileKind::Pdf => pdf_text(body, ocr, timeout, max_bytes).await,
        FileKind::Docx
        | FileKind::Xlsx
        | FileKind::Pptx
        | FileKind::Odt
        | FileKind::Ods
        | FileKind::Odp
        | FileKind::Rtf => super::office::extract(kind, body, timeout, max_bytes).await,
        FileKind::Png | FileKind::Jpeg | FileKind::Tiff => {
            let (mut text, thumbnail) = image_text(body, ocr).await?;
            let truncated = text.len() > max_bytes;
            if truncated {
                text.truncate(docuvault_domain::text::floor_char_boundary(
                    &text, max_bytes,
                ));
            }
            Ok(Extracted {
                text,
                truncated,
                ocr_pages: 1,
                thumbnail,
            })
        }
    }
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

pub(super) fn windows_1252(b: u8) -> char {
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

/// Writes `body` to a new private temporary file (the tools need to seek, or read a file).
pub(super) async fn to_temp_file(
    mut body: ByteStream<'_>,
    extension: &str,
) -> Result<TempFile, JobError> {
    let file = TempFile::named(extension);
    let mut out = create_private(&file.0).await.map_err(temp_file_error)?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(JobError::from)?;
        out.write_all(&chunk).await.map_err(temp_file_error)?;
    }
    out.flush().await.map_err(temp_file_error)?;
    Ok(file)
}

/// The image's text, by OCR, and its thumbnail.
async fn image_text(
    body: ByteStream<'_>,
    ocr: &Ocr,
) -> Result<(String, Option<Vec<u8>>), JobError> {
    let file = to_temp_file(body, "img").await?;
    let text = ocr.image(&file.0).await?;
    Ok((text, thumbnail::of_image(&file.0).await))
}

/// The PDF's text (with OCR of its pages that have no text layer), whether it was cut, how
/// many pages OCR read, and a thumbnail of its first page.
async fn pdf_text(
    body: ByteStream<'_>,
    ocr: &Ocr,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Extracted, JobError> {
    let file = to_temp_file(body, "pdf").await?;
    let (raw, mut truncated) = run_pdftotext(&file.0, timeout, max_bytes).await?;
    let thumbnail = thumbnail::render(&file.0, timeout).await;
    let layer = decode_text(&raw);
    // pdftotext ends every page with a form feed (so the last piece is no page). A cut text
    // layer is long enough as it is.
    let mut pages: Vec<String> = layer.split('\x0c').map(str::to_owned).collect();
    let page_count = pages.len() - usize::from(layer.ends_with('\x0c'));
    let read = if truncated {
        ocr::PagesRead::default()
    } else {
        ocr.pdf_pages(&file.0, &mut pages[..page_count]).await?
    };
    if read.left_out {
        truncated = true;
    }
    let mut text = if read.read > 0 {
        pages.join("\x0c")
    } else {
        layer
    };
    if text.len() > max_bytes {
        text.truncate(docuvault_domain::text::floor_char_boundary(
            &text, max_bytes,
        ));
        truncated = true;
    }
    if text.trim().is_empty() {
        return Err(JobError::Permanent(match read.unavailable {
            Some(why) => {
                format!("no text to classify: the PDF has no text layer (a scan?), and {why}")
            }
            None => {
                "no text found: the PDF has no text layer, and OCR found no readable text in it"
                    .into()
            }
        }));
    }
    Ok(Extracted {
        text,
        truncated,
        ocr_pages: read.read,
        thumbnail,
    })
}

fn pdftotext_command(path: &Path, cpu_secs: u64, limited: bool) -> tokio::process::Command {
    let mut cmd = bounded_command("pdftotext", cpu_secs, limited);
    cmd.args(["-q", "-enc", "UTF-8", "-eol", "unix"])
        .arg(path)
        .arg("-");
    cmd
}

async fn run_pdftotext(
    path: &Path,
    timeout: Duration,
    max_bytes: usize,
) -> Result<(Vec<u8>, bool), JobError> {
    let cpu_secs = timeout.as_secs().max(1);
    let out = match run_captured(
        |limited| pdftotext_command(path, cpu_secs, limited),
        timeout,
        max_bytes,
    )
    .await
    {
        Ok(out) => out,
        Err(RunError::TimedOut) => {
            return Err(JobError::Permanent(format!(
                "reading the PDF took longer than the {} s allowed",
                timeout.as_secs()
            )));
        }
        Err(RunError::Spawn(e)) => {
            return Err(JobError::internal(
                "the server's PDF reader (pdftotext) could not start",
                e,
            ));
        }
        Err(RunError::Io(e)) => {
            return Err(JobError::internal(
                "the PDF reader's output could not be read",
                e,
            ));
        }
    };
    // Killed on purpose for its length: the text kept is the result.
    let Some(status) = out.status else {
        return Ok((out.stdout, true));
    };
    if !status.success() {
        let detail = out
            .stderr_head
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
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
    Ok((out.stdout, false))
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
