//! The human filename of a document: kept for display and downloads only, never used to build
//! an object key or a filesystem path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest filename kept, in characters (most filesystems allow 255 bytes; characters are
/// what people see).
pub const MAX_FILENAME_CHARS: usize = 255;

/// A cleaned-up filename: the last path component of what the client sent, without control
/// characters, at most [`MAX_FILENAME_CHARS`] characters, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filename(String);

impl Filename {
    /// Cleans a client-supplied name. Never fails: a name that cleans to nothing becomes
    /// `untitled`. Over-long names keep their extension and lose the middle of their stem.
    pub fn sanitize(raw: &str) -> Self {
        let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
        let cleaned: String = base
            .chars()
            .filter(|c| !c.is_control() && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
            .collect();
        let trimmed = cleaned.trim().trim_start_matches('.').trim();
        if trimmed.is_empty() {
            return Self("untitled".to_owned());
        }
        Self(truncate_keeping_extension(trimmed, MAX_FILENAME_CHARS))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased extension without its dot, if the name has one.
    pub fn extension(&self) -> Option<String> {
        let (stem, ext) = self.0.rsplit_once('.')?;
        (!stem.is_empty() && !ext.is_empty() && ext.chars().count() <= 10)
            .then(|| ext.to_lowercase())
    }
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_owned();
    }
    let ext = match name.rsplit_once('.') {
        Some((_, ext)) if ext.chars().count() <= 10 => format!(".{ext}"),
        _ => String::new(),
    };
    let keep = max - ext.chars().count();
    let stem: String = name.chars().take(keep).collect();
    format!("{stem}{ext}")
}

/// RFC 6266 / RFC 8187: an ASCII fallback `filename` plus the exact UTF-8 `filename*`.
pub fn content_disposition(filename: &str) -> String {
    const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, ATTR_CHAR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_only_the_last_path_component() {
        assert_eq!(
            Filename::sanitize("../../etc/passwd.pdf").as_str(),
            "passwd.pdf"
        );
        assert_eq!(
            Filename::sanitize(r"C:\Users\me\scan.tiff").as_str(),
            "scan.tiff"
        );
        assert_eq!(Filename::sanitize("dir/").as_str(), "untitled");
    }

    #[test]
    fn drops_controls_and_bidi_overrides() {
        assert_eq!(
            Filename::sanitize("in\u{0}voice\n.pdf").as_str(),
            "invoice.pdf"
        );
        assert_eq!(
            Filename::sanitize("evil\u{202E}fdp.exe").as_str(),
            "evilfdp.exe"
        );
        assert_eq!(Filename::sanitize("  ...  ").as_str(), "untitled");
        assert_eq!(Filename::sanitize(".bashrc").as_str(), "bashrc");
    }

    #[test]
    fn keeps_unicode() {
        let f = Filename::sanitize("Rechnung Müller – 2024 📄.pdf");
        assert_eq!(f.as_str(), "Rechnung Müller – 2024 📄.pdf");
        assert_eq!(f.extension().as_deref(), Some("pdf"));
    }

    #[test]
    fn long_names_keep_their_extension() {
        let f = Filename::sanitize(&format!("{}.pdf", "é".repeat(300)));
        assert_eq!(f.as_str().chars().count(), MAX_FILENAME_CHARS);
        assert!(f.as_str().ends_with(".pdf"));
    }

    proptest! {
        #[test]
        fn sanitized_names_are_safe(raw in any::<String>()) {
            let f = Filename::sanitize(&raw);
            prop_assert!(!f.as_str().is_empty());
            prop_assert!(f.as_str().chars().count() <= MAX_FILENAME_CHARS);
            prop_assert!(!f.as_str().contains(['/', '\\']));
            prop_assert!(!f.as_str().chars().any(char::is_control));
        }
    }
}
