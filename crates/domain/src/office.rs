//! Office documents recognised from their first bytes: ZIP containers by what is inside them,
//! never by extension.
//!
//! - OpenDocument (ODT, ODS, ODP): the first entry is `mimetype`, stored uncompressed, and its
//!   content names the type (ODF 1.2 part 3 §3.3).
//! - Office Open XML (DOCX, XLSX, PPTX): `[Content_Types].xml` names the main part's type. Word
//!   and Excel write it first; when it is not within the first bytes (LibreOffice writes it
//!   last), the part names seen there (`word/…`, `xl/…`, `ppt/…`) beside the package's
//!   `_rels/.rels` decide. The worker checks the whole archive again.
//! - A macro-enabled file (`.docm`, `.xlsm`, `.pptm`: a `macroEnabled` main type or a
//!   `vbaProject.bin` part) is refused.
//!
//! Only the local file headers within the sniffed bytes are read; nothing here trusts a size
//! beyond bounds checks, and inflating is capped.

use crate::FileKind;

/// What the first bytes of a ZIP archive say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipVerdict {
    Office(FileKind),
    /// An office file with macros.
    MacroEnabled,
    /// A ZIP that is not an office document we read.
    Other,
}

const LOCAL_HEADER: &[u8; 4] = b"PK\x03\x04";
/// `[Content_Types].xml` is a few KB at most; more is not an honest package.
const MAX_CONTENT_TYPES: usize = 256 * 1024;

pub fn is_zip(head: &[u8]) -> bool {
    head.starts_with(LOCAL_HEADER)
}

/// What a ZIP archive is, from its first bytes.
pub fn sniff_zip(head: &[u8]) -> ZipVerdict {
    let mut names: Vec<&[u8]> = Vec::new();
    let mut content_types: Option<Vec<u8>> = None;
    let mut at = 0usize;
    while let Some(entry) = local_entry(head, at) {
        if entry.name == b"mimetype" && entry.method == 0 {
            return entry
                .data
                .map_or(ZipVerdict::Other, |data| odf_kind(trim(data)));
        }
        if entry.name == b"[Content_Types].xml" {
            content_types = entry.data.and_then(|data| match entry.method {
                0 => Some(data.to_vec()),
                8 => {
                    miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_CONTENT_TYPES).ok()
                }
                _ => None,
            });
        }
        names.push(entry.name);
        match entry.next {
            Some(next) => at = next,
            None => break,
        }
    }
    if let Some(types) = content_types {
        return ooxml_by_content_types(&types);
    }
    ooxml_by_names(&names)
}

fn odf_kind(mimetype: &[u8]) -> ZipVerdict {
    match mimetype {
        b"application/vnd.oasis.opendocument.text" => ZipVerdict::Office(FileKind::Odt),
        b"application/vnd.oasis.opendocument.spreadsheet" => ZipVerdict::Office(FileKind::Ods),
        b"application/vnd.oasis.opendocument.presentation" => ZipVerdict::Office(FileKind::Odp),
        _ => ZipVerdict::Other,
    }
}

fn ooxml_by_content_types(types: &[u8]) -> ZipVerdict {
    let has = |needle: &str| {
        types
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    if has("macroEnabled") || has("vbaProject") {
        return ZipVerdict::MacroEnabled;
    }
    if has("wordprocessingml.document.main+xml") {
        ZipVerdict::Office(FileKind::Docx)
    } else if has("spreadsheetml.sheet.main+xml") {
        ZipVerdict::Office(FileKind::Xlsx)
    } else if has("presentationml.presentation.main+xml") {
        ZipVerdict::Office(FileKind::Pptx)
    } else {
        ZipVerdict::Other
    }
}

fn ooxml_by_names(names: &[&[u8]]) -> ZipVerdict {
    let package = names
        .iter()
        .any(|n| *n == b"_rels/.rels" || *n == b"[Content_Types].xml");
    if !package {
        return ZipVerdict::Other;
    }
    if names.iter().any(|n| n.ends_with(b"vbaProject.bin")) {
        return ZipVerdict::MacroEnabled;
    }
    for (dir, kind) in [
        (b"word/".as_slice(), FileKind::Docx),
        (b"xl/".as_slice(), FileKind::Xlsx),
        (b"ppt/".as_slice(), FileKind::Pptx),
    ] {
        if names.iter().any(|n| n.starts_with(dir)) {
            return ZipVerdict::Office(kind);
        }
    }
    ZipVerdict::Other
}

fn trim(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &b[..end]
}

struct LocalEntry<'a> {
    name: &'a [u8],
    method: u16,
    /// The entry's stored bytes, when they are all within the head.
    data: Option<&'a [u8]>,
    /// Where the next local header starts, when the sizes say so.
    next: Option<usize>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The local file header at `at` (APPNOTE 4.3.7).
fn local_entry(head: &[u8], at: usize) -> Option<LocalEntry<'_>> {
    if head.get(at..at + 4)? != LOCAL_HEADER {
        return None;
    }
    let flags = u16_at(head, at + 6)?;
    let method = u16_at(head, at + 8)?;
    let compressed = usize::try_from(u32_at(head, at + 18)?).ok()?;
    let name_len = usize::from(u16_at(head, at + 26)?);
    let extra_len = usize::from(u16_at(head, at + 28)?);
    let name_at = at + 30;
    let name = head.get(name_at..name_at + name_len)?;
    let data_at = name_at + name_len + extra_len;
    // Bit 3: the sizes follow the data (streamed), so they are unknown here. 0xFFFFFFFF: ZIP64.
    let sized = flags & 0x08 == 0 && compressed != 0xFFFF_FFFF;
    let data = sized
        .then(|| head.get(data_at..data_at.checked_add(compressed)?))
        .flatten();
    let next = sized.then(|| data_at.checked_add(compressed)).flatten();
    Some(LocalEntry {
        name,
        method,
        data,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_kind::refusal;

    /// A ZIP's local entries, stored (method 0) or deflated (method 8), without a central
    /// directory: all the sniffer reads.
    fn entries(files: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data, deflate) in files {
            let (method, body) = if *deflate {
                (8u16, miniz_oxide::deflate::compress_to_vec(data, 6))
            } else {
                (0u16, data.to_vec())
            };
            out.extend_from_slice(LOCAL_HEADER);
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc
            out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
            out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
            out.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    const TYPES: &str = r#"<Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;

    #[test]
    fn opendocument_by_its_mimetype_entry() {
        for (mime, kind) in [
            ("application/vnd.oasis.opendocument.text", FileKind::Odt),
            (
                "application/vnd.oasis.opendocument.spreadsheet",
                FileKind::Ods,
            ),
            (
                "application/vnd.oasis.opendocument.presentation",
                FileKind::Odp,
            ),
        ] {
            let zip = entries(&[
                ("mimetype", mime.as_bytes(), false),
                ("content.xml", b"<x/>", true),
            ]);
            assert_eq!(FileKind::sniff(&zip), Some(kind));
        }
        let drawing = entries(&[(
            "mimetype",
            b"application/vnd.oasis.opendocument.graphics",
            false,
        )]);
        assert_eq!(FileKind::sniff(&drawing), None);
    }

    #[test]
    fn office_open_xml_by_content_types_or_part_names() {
        let word = entries(&[
            ("[Content_Types].xml", TYPES.as_bytes(), true),
            ("word/document.xml", b"<w/>", true),
        ]);
        assert_eq!(FileKind::sniff(&word), Some(FileKind::Docx));
        let sheet = TYPES.replace("wordprocessingml.document.main", "spreadsheetml.sheet.main");
        let excel = entries(&[("[Content_Types].xml", sheet.as_bytes(), false)]);
        assert_eq!(FileKind::sniff(&excel), Some(FileKind::Xlsx));
        // LibreOffice writes [Content_Types].xml last: the part names decide.
        let late = entries(&[
            ("_rels/.rels", b"<r/>", true),
            ("ppt/presentation.xml", b"<p/>", true),
        ]);
        assert_eq!(FileKind::sniff(&late), Some(FileKind::Pptx));
        // A ZIP that merely has a folder called word/ is not a package.
        let plain = entries(&[("word/notes.txt", b"hello", false)]);
        assert_eq!(FileKind::sniff(&plain), None);
        assert!(refusal(&plain).contains("not an office document"));
    }

    #[test]
    fn macros_and_legacy_or_encrypted_office_files_are_refused_with_a_reason() {
        let macro_types = TYPES.replace(
            "wordprocessingml.document.main+xml",
            "ms-word.document.macroEnabled.main+xml",
        );
        let docm = entries(&[("[Content_Types].xml", macro_types.as_bytes(), true)]);
        assert_eq!(sniff_zip(&docm), ZipVerdict::MacroEnabled);
        assert_eq!(FileKind::sniff(&docm), None);
        assert!(refusal(&docm).contains("macros"));
        let named = entries(&[
            ("_rels/.rels", b"<r/>", true),
            ("word/vbaProject.bin", b"\0", false),
        ]);
        assert_eq!(sniff_zip(&named), ZipVerdict::MacroEnabled);

        let cfb = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0";
        assert_eq!(FileKind::sniff(cfb), None);
        assert!(refusal(cfb).contains("password-protected"));
    }

    #[test]
    fn rtf_is_recognised_before_text() {
        assert_eq!(FileKind::sniff(br"{\rtf1\ansi Hello}"), Some(FileKind::Rtf));
    }

    #[test]
    fn truncated_and_lying_headers_do_not_panic() {
        let word = entries(&[("[Content_Types].xml", TYPES.as_bytes(), true)]);
        for cut in 0..word.len() {
            let _ = FileKind::sniff(&word[..cut]);
        }
        let mut lying = word.clone();
        lying[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
        let _ = sniff_zip(&lying);
        lying[18..22].copy_from_slice(&(u32::MAX - 7).to_le_bytes());
        let _ = sniff_zip(&lying);
    }
}
