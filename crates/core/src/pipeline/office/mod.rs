//! Text of office documents: Word (DOCX), Excel (XLSX), PowerPoint (PPTX), OpenDocument (ODT,
//! ODS, ODP) and RTF, read in the worker by our own streaming readers — no office suite runs,
//! so no macro can.
//!
//! Why not `calamine` for spreadsheets: it builds each sheet as a dense grid spanning its first
//! to its last cell, so a hostile two-cell sheet (A1 and XFD1048576) asks for billions of cells.
//! Reading the XML as a stream keeps only the text.
//!
//! Bounds, like the PDF path's: the text stops at `max_bytes` (kept, marked truncated); all
//! the XML read from one archive together stops at [`XML_BUDGET`] (a ZIP bomb ends there); an
//! archive of more than [`MAX_ENTRIES`] parts is refused; the reading runs on a blocking thread
//! that checks the job's deadline as it goes. The archive is checked as a whole: the type its
//! first bytes claimed, no macros, not password-protected.

mod rtf;
mod text;
mod xml;

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::time::{Duration, Instant};

use docuvault_domain::FileKind;
use zip::ZipArchive;
use zip::result::ZipError;

use super::JobError;
use super::extract::{Extracted, to_temp_file};
use crate::storage::ByteStream;
use text::{Budgeted, Stop, Text};

/// The most XML read out of one archive, all parts together.
pub const XML_BUDGET: u64 = 256 * 1024 * 1024;
/// The most parts an archive may have.
pub const MAX_ENTRIES: usize = 20_000;
/// The most of an RTF file read (RTF holds pictures as hex: most of a large one is not text).
const RTF_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The text of an office document arriving as `body`.
pub async fn extract(
    kind: FileKind,
    body: ByteStream<'_>,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Extracted, JobError> {
    let file = to_temp_file(body, &kind.extension()[1..]).await?;
    let path = file.0.clone();
    let deadline = Instant::now() + timeout;
    let read = tokio::task::spawn_blocking(move || read_file(kind, &path, max_bytes, deadline))
        .await
        .map_err(|e| JobError::internal("reading the document stopped unexpectedly", e))?;
    drop(file);
    let (text, truncated) = read?;
    if text.trim().is_empty() {
        return Err(JobError::Permanent(format!(
            "no text to classify: the {} file holds no text",
            label(kind)
        )));
    }
    Ok(Extracted {
        text,
        truncated,
        ocr_pages: 0,
        thumbnail: None,
    })
}

fn label(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Docx => "Word",
        FileKind::Xlsx => "Excel",
        FileKind::Pptx => "PowerPoint",
        FileKind::Odt | FileKind::Ods | FileKind::Odp => "OpenDocument",
        FileKind::Rtf => "RTF",
        _ => "office",
    }
}

fn read_file(
    kind: FileKind,
    path: &Path,
    max_bytes: usize,
    deadline: Instant,
) -> Result<(String, bool), JobError> {
    let mut out = Text::new(max_bytes, XML_BUDGET, deadline);
    let file = File::open(path)
        .map_err(|e| JobError::internal("the document's temporary copy could not be read", e))?;
    let read = if kind == FileKind::Rtf {
        let mut raw = Vec::new();
        match file.take(RTF_MAX_BYTES).read_to_end(&mut raw) {
            Ok(_) => rtf::read(&raw, &mut out),
            Err(e) => Err(Stop::Damaged(e.to_string())),
        }
    } else {
        let mut archive = open(kind, file)?;
        check(kind, &mut archive)?;
        read_parts(kind, &mut archive, &mut out)
    };
    match read {
        Ok(()) | Err(Stop::Full) => Ok(out.finish()),
        Err(Stop::Budget) if !out.text.trim().is_empty() => {
            out.truncated = true;
            Ok(out.finish())
        }
        Err(Stop::Budget) => Err(JobError::Permanent(format!(
            "the {} file expands to more than {} MiB without any text (a ZIP bomb?)",
            label(kind),
            XML_BUDGET >> 20
        ))),
        Err(Stop::Late) => Err(JobError::Permanent(format!(
            "reading the {} file took longer than the time allowed",
            label(kind)
        ))),
        Err(Stop::Damaged(why)) => {
            tracing::info!(detail = why, "office document damaged");
            Err(damaged(kind))
        }
    }
}

fn damaged(kind: FileKind) -> JobError {
    JobError::Permanent(format!(
        "the {} file is damaged and its text cannot be read",
        label(kind)
    ))
}

fn protected(kind: FileKind) -> JobError {
    JobError::Permanent(format!(
        "the {} file is password-protected; save it without a password, then upload it again",
        label(kind)
    ))
}

fn open(kind: FileKind, file: File) -> Result<ZipArchive<File>, JobError> {
    let archive = ZipArchive::new(file).map_err(|e| {
        tracing::info!(error = %e, "office archive unreadable");
        damaged(kind)
    })?;
    if archive.len() > MAX_ENTRIES {
        return Err(JobError::Permanent(format!(
            "the {} file has more than {MAX_ENTRIES} parts",
            label(kind)
        )));
    }
    Ok(archive)
}

/// The archive as a whole: what its first bytes claimed, no macros, no password.
fn check<R: Read + Seek>(kind: FileKind, archive: &mut ZipArchive<R>) -> Result<(), JobError> {
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(std::borrow::Cow::into_owned))
        .collect::<Result<_, _>>()
        .map_err(|e| zip_error(kind, &e))?;
    let macros = names.iter().any(|n| {
        let lower = n.to_ascii_lowercase();
        lower.ends_with("vbaproject.bin")
            // OpenDocument keeps Basic modules as Basic/<library>/<module>.xml.
            || (lower.starts_with("basic/") && lower.matches('/').count() >= 2 && !lower.ends_with('/'))
    });
    if macros {
        return Err(JobError::Permanent(
            "the file contains macros; save it without macros (or as PDF), then upload it again"
                .into(),
        ));
    }
    let small = |archive: &mut ZipArchive<R>, name: &str| -> Result<Option<Vec<u8>>, JobError> {
        match archive.by_name(name) {
            Ok(part) if part.encrypted() => Err(protected(kind)),
            Ok(part) => {
                let mut raw = Vec::new();
                part.take(1 << 20)
                    .read_to_end(&mut raw)
                    .map_err(|_| damaged(kind))?;
                Ok(Some(raw))
            }
            Err(ZipError::FileNotFound) => Ok(None),
            Err(e) => Err(zip_error(kind, &e)),
        }
    };
    match kind {
        FileKind::Odt | FileKind::Ods | FileKind::Odp => {
            let mimetype = small(archive, "mimetype")?.unwrap_or_default();
            if mimetype.trim_ascii() != kind.mime().as_bytes() {
                return Err(not_what_it_seemed(kind));
            }
            let manifest = small(archive, "META-INF/manifest.xml")?.unwrap_or_default();
            if contains(&manifest, b"encryption-data") {
                return Err(protected(kind));
            }
        }
        _ => {
            let types =
                small(archive, "[Content_Types].xml")?.ok_or_else(|| not_what_it_seemed(kind))?;
            if contains(&types, b"macroEnabled") {
                return Err(JobError::Permanent(
                    "the file is macro-enabled; save it without macros (or as PDF), then upload it again"
                        .into(),
                ));
            }
            let main: &[u8] = match kind {
                FileKind::Docx => b"wordprocessingml.document.main+xml",
                FileKind::Xlsx => b"spreadsheetml.sheet.main+xml",
                _ => b"presentationml.presentation.main+xml",
            };
            if !contains(&types, main) {
                return Err(not_what_it_seemed(kind));
            }
        }
    }
    Ok(())
}

fn not_what_it_seemed(kind: FileKind) -> JobError {
    JobError::Permanent(format!(
        "the file began like a {} document but is not one (its parts do not match)",
        label(kind)
    ))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn zip_error(kind: FileKind, e: &ZipError) -> JobError {
    match e {
        ZipError::InvalidPassword => protected(kind),
        ZipError::UnsupportedArchive(why) if why.contains("assword") => protected(kind),
        _ => {
            tracing::info!(error = %e, "office part unreadable");
            damaged(kind)
        }
    }
}

/// The parts that hold the text, in reading order.
fn read_parts<R: Read + Seek>(
    kind: FileKind,
    archive: &mut ZipArchive<R>,
    out: &mut Text,
) -> Result<(), Stop> {
    match kind {
        FileKind::Docx => {
            for part in [
                "word/document.xml",
                "word/footnotes.xml",
                "word/endnotes.xml",
            ] {
                with_part(archive, part, out, |src, out| {
                    xml::walk(src, &xml::DOCX, out)
                })?;
            }
            Ok(())
        }
        FileKind::Pptx => {
            for part in numbered(archive, "ppt/slides/slide") {
                with_part(archive, &part, out, |src, out| {
                    xml::walk(src, &xml::PPTX, out)
                })?;
                out.line()?;
            }
            Ok(())
        }
        FileKind::Xlsx => {
            let mut book = xml::Workbook::default();
            with_part(archive, "xl/sharedStrings.xml", out, |src, out| {
                book.shared = xml::shared_strings(src, out)?;
                Ok(())
            })?;
            with_part(archive, "xl/styles.xml", out, |src, out| {
                book.dates = xml::date_formats(src, out)?;
                Ok(())
            })?;
            with_part(archive, "xl/workbook.xml", out, |src, _| {
                let mut head = Vec::new();
                src.take(64 * 1024)
                    .read_to_end(&mut head)
                    .map_err(|e| Stop::Damaged(e.to_string()))?;
                book.date1904 =
                    contains(&head, b"date1904=\"1\"") || contains(&head, b"date1904=\"true\"");
                Ok(())
            })?;
            for part in numbered(archive, "xl/worksheets/sheet") {
                with_part(archive, &part, out, |src, out| {
                    xml::worksheet(src, &book, out)
                })?;
                out.line()?;
            }
            Ok(())
        }
        FileKind::Odt => with_part(archive, "content.xml", out, |s, o| {
            xml::walk(s, &xml::ODT, o)
        }),
        FileKind::Ods => with_part(archive, "content.xml", out, |s, o| {
            xml::walk(s, &xml::ODS, o)
        }),
        FileKind::Odp => with_part(archive, "content.xml", out, |s, o| {
            xml::walk(s, &xml::ODP, o)
        }),
        _ => Ok(()),
    }
}

/// `prefix<N>.xml` parts, by N (slide10 after slide9).
fn numbered<R: Read + Seek>(archive: &ZipArchive<R>, prefix: &str) -> Vec<String> {
    let mut parts: Vec<(u32, String)> = archive
        .file_names()
        .filter_map(Result::ok)
        .filter_map(|n| {
            let number = n.strip_prefix(prefix)?.strip_suffix(".xml")?.parse().ok()?;
            Some((number, n.to_string()))
        })
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, n)| n).collect()
}

/// Runs `read` on the part `name` (if the archive has it), through the shared XML budget.
fn with_part<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    out: &mut Text,
    read: impl FnOnce(&mut dyn std::io::BufRead, &mut Text) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let part = match archive.by_name(name) {
        Ok(part) => part,
        Err(ZipError::FileNotFound) => return Ok(()),
        Err(e) => return Err(Stop::Damaged(e.to_string())),
    };
    if part.encrypted() {
        return Err(Stop::Damaged("encrypted part".into()));
    }
    let mut budget = out.budget;
    let mut src = BufReader::with_capacity(
        64 * 1024,
        Budgeted {
            inner: part,
            budget: &mut budget,
        },
    );
    let result = read(&mut src, out);
    drop(src);
    out.budget = budget;
    result
}
