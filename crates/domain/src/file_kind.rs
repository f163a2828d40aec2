//! The file types DocuVault accepts, recognised from their bytes, never from what the client
//! claims. The extension of an object key comes from here and only from here.

/// How many leading bytes [`FileKind::sniff`] wants to see (fewer is fine at end of file).
pub const SNIFF_LEN: usize = 8192;
/// How many leading bytes of a ZIP archive to look at: an office file's part names are in its
/// local headers, which a large early part (a theme, a picture) can push past [`SNIFF_LEN`].
pub const ZIP_SNIFF_LEN: usize = 256 * 1024;

/// A supported file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Pdf,
    PlainText,
    Png,
    Jpeg,
    Tiff,
    Docx,
    Xlsx,
    Pptx,
    Odt,
    Ods,
    Odp,
    Rtf,
}

impl FileKind {
    pub const ALL: [FileKind; 12] = [
        FileKind::Pdf,
        FileKind::PlainText,
        FileKind::Png,
        FileKind::Jpeg,
        FileKind::Tiff,
        FileKind::Docx,
        FileKind::Xlsx,
        FileKind::Pptx,
        FileKind::Odt,
        FileKind::Ods,
        FileKind::Odp,
        FileKind::Rtf,
    ];

    /// Word-processor, spreadsheet and presentation files (their text is read by
    /// `pipeline::office`).
    pub const fn is_office(self) -> bool {
        matches!(
            self,
            Self::Docx | Self::Xlsx | Self::Pptx | Self::Odt | Self::Ods | Self::Odp | Self::Rtf
        )
    }

    /// The MIME type stored with the document and served on download.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::PlainText => "text/plain",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Tiff => "image/tiff",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            Self::Odt => "application/vnd.oasis.opendocument.text",
            Self::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            Self::Odp => "application/vnd.oasis.opendocument.presentation",
            Self::Rtf => "application/rtf",
        }
    }

    /// The extension (with its dot) used in object keys.
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Pdf => ".pdf",
            Self::PlainText => ".txt",
            Self::Png => ".png",
            Self::Jpeg => ".jpg",
            Self::Tiff => ".tiff",
            Self::Docx => ".docx",
            Self::Xlsx => ".xlsx",
            Self::Pptx => ".pptx",
            Self::Odt => ".odt",
            Self::Ods => ".ods",
            Self::Odp => ".odp",
            Self::Rtf => ".rtf",
        }
    }

    /// Recognises a file from its first bytes (up to [`SNIFF_LEN`]); `None` means unsupported.
    pub fn sniff(head: &[u8]) -> Option<FileKind> {
        if head.is_empty() {
            return None;
        }
        // The PDF spec lets readers tolerate junk before the header; real readers look at the
        // first 1024 bytes, and so do we.
        let pdf_window = &head[..head.len().min(1024)];
        if pdf_window.windows(5).any(|w| w == b"%PDF-") {
            return Some(Self::Pdf);
        }
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(Self::Png);
        }
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(Self::Jpeg);
        }
        if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
            return Some(Self::Tiff);
        }
        if crate::office::is_zip(head) {
            return match crate::office::sniff_zip(head) {
                crate::office::ZipVerdict::Office(kind) => Some(kind),
                _ => None,
            };
        }
        // RTF is text: recognised before plain text.
        if head.starts_with(b"{\\rtf") {
            return Some(Self::Rtf);
        }
        if looks_like_text(head) {
            return Some(Self::PlainText);
        }
        None
    }

    /// The type a client claimed through a MIME type, if it names one we know.
    /// `application/octet-stream` and unknown types claim nothing.
    pub fn from_mime(mime: &str) -> Option<FileKind> {
        let essence = mime
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Some(match essence.as_str() {
            "application/pdf" | "application/x-pdf" => Self::Pdf,
            "text/plain" => Self::PlainText,
            "image/png" => Self::Png,
            "image/jpeg" | "image/jpg" => Self::Jpeg,
            "image/tiff" => Self::Tiff,
            "application/rtf" | "text/rtf" => Self::Rtf,
            _ => {
                return Self::ALL
                    .into_iter()
                    .find(|k| k.is_office() && k.mime() == essence);
            }
        })
    }

    /// The type a filename's extension claims, if it names one we know.
    pub fn from_extension(ext: &str) -> Option<FileKind> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "pdf" => Self::Pdf,
            "txt" | "text" => Self::PlainText,
            "png" => Self::Png,
            "jpg" | "jpeg" => Self::Jpeg,
            "tif" | "tiff" => Self::Tiff,
            "docx" => Self::Docx,
            "xlsx" => Self::Xlsx,
            "pptx" => Self::Pptx,
            "odt" => Self::Odt,
            "ods" => Self::Ods,
            "odp" => Self::Odp,
            "rtf" => Self::Rtf,
            _ => return None,
        })
    }
}

/// Why a file of these first bytes is refused, in a sentence for the person uploading it.
pub fn refusal(head: &[u8]) -> &'static str {
    use crate::office::{ZipVerdict, is_zip, sniff_zip};
    if head.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return "this is an older Office file (.doc, .xls, .ppt) or a password-protected one; save \
                it as .docx, .xlsx, .pptx or PDF without a password, then upload it";
    }
    if is_zip(head) {
        return match sniff_zip(head) {
            ZipVerdict::MacroEnabled => {
                "this office file contains macros (.docm, .xlsm, .pptm); save it without macros \
                 (.docx, .xlsx, .pptx) or as PDF, then upload it"
            }
            _ => {
                "this ZIP archive is not an office document; upload a PDF, text, image, Word, \
                  Excel, PowerPoint, OpenDocument or RTF file"
            }
        };
    }
    "this file type is not supported; upload a PDF, text, image (PNG, JPEG, TIFF), Word, Excel, \
     PowerPoint, OpenDocument or RTF file"
}

/// Text is UTF-8 or a single-byte Latin encoding (Latin-1, Windows-1252): either way it has
/// none of the control bytes that binary formats are full of. UTF-16 (NUL bytes) is not text
/// here. Which encoding it is matters only to extraction, which decodes with a fallback.
fn looks_like_text(head: &[u8]) -> bool {
    let binary_control = |b: u8| matches!(b, 0x00..=0x08 | 0x0E..=0x1A | 0x1C..=0x1F | 0x7F);
    !head.iter().any(|&b| binary_control(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recognises_magic_numbers() {
        assert_eq!(FileKind::sniff(b"%PDF-1.7\n%\xE2\xE3"), Some(FileKind::Pdf));
        assert_eq!(FileKind::sniff(b"\r\n%PDF-1.4"), Some(FileKind::Pdf));
        assert_eq!(
            FileKind::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(FileKind::Png)
        );
        assert_eq!(
            FileKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(FileKind::Jpeg)
        );
        assert_eq!(FileKind::sniff(b"II*\0\x08\0\0\0"), Some(FileKind::Tiff));
    }

    #[test]
    fn recognises_text_in_common_encodings() {
        assert_eq!(
            FileKind::sniff("Grüße, zażółć\tgęślą\r\n".as_bytes()),
            Some(FileKind::PlainText)
        );
        // Windows-1252 "café" is not UTF-8 but is text.
        assert_eq!(FileKind::sniff(b"caf\xe9\n"), Some(FileKind::PlainText));
    }

    #[test]
    fn refuses_binary_and_empty() {
        assert_eq!(FileKind::sniff(b""), None);
        assert_eq!(FileKind::sniff(b"PK\x03\x04\x14\0\x06\0"), None); // zip
        assert_eq!(FileKind::sniff(b"\x7fELF\x02\x01\x01"), None);
        assert_eq!(FileKind::sniff(b"\xff\xfeh\0i\0"), None); // UTF-16
    }

    #[test]
    fn utf8_cut_at_the_window_end_is_still_text() {
        let cut = &"ü".as_bytes()[..1];
        let head = [b"abc".as_slice(), cut].concat();
        assert_eq!(FileKind::sniff(&head), Some(FileKind::PlainText));
    }

    #[test]
    fn claims_from_mime_and_extension() {
        assert_eq!(
            FileKind::from_mime("application/pdf; charset=binary"),
            Some(FileKind::Pdf)
        );
        assert_eq!(FileKind::from_mime("application/octet-stream"), None);
        assert_eq!(FileKind::from_extension("JPEG"), Some(FileKind::Jpeg));
        assert_eq!(FileKind::from_extension("docx"), Some(FileKind::Docx));
        assert_eq!(FileKind::from_extension("docm"), None);
        assert_eq!(
            FileKind::from_mime("application/vnd.oasis.opendocument.text"),
            Some(FileKind::Odt)
        );
        for kind in FileKind::ALL {
            assert_eq!(FileKind::from_mime(kind.mime()), Some(kind));
            assert_eq!(FileKind::from_extension(&kind.extension()[1..]), Some(kind));
        }
    }

    proptest! {
        #[test]
        fn any_utf8_without_controls_is_text(s in "[^\\x00-\\x08\\x0E-\\x1F\\x7F%\u{89}\u{FF}]{1,400}") {
            prop_assume!(!s.contains("%PDF-") && !s.starts_with("II*") && !s.starts_with("MM"));
            prop_assert_eq!(FileKind::sniff(s.as_bytes()), Some(FileKind::PlainText));
        }

        #[test]
        fn sniff_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = FileKind::sniff(&bytes);
        }
    }
}
