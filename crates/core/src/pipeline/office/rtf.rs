//! Text out of RTF (1.9.1): groups, control words, `\'hh` bytes in the document's code page
//! (Windows-1252 and Latin-1 are read; others fall back to Windows-1252), `\uN` characters with
//! their `\ucN` fallbacks skipped, and the destinations that hold no body text (font and colour
//! tables, style sheets, pictures, embedded objects, field instructions, `\*` extensions) left
//! out. Group nesting is bounded.

use super::text::{Stop, Text};

const MAX_DEPTH: usize = 1024;

/// Destinations whose content is not the document's text.
const SKIPPED: &[&[u8]] = &[
    b"fonttbl",
    b"colortbl",
    b"stylesheet",
    b"info",
    b"pict",
    b"object",
    b"fldinst",
    b"listtable",
    b"listoverridetable",
    b"revtbl",
    b"rsidtbl",
    b"generator",
    b"xmlnstbl",
    b"themedata",
    b"colorschememapping",
    b"datastore",
    b"latentstyles",
    b"filetbl",
    b"header",
    b"footer",
    b"headerl",
    b"headerr",
    b"footerl",
    b"footerr",
];

#[derive(Clone, Copy)]
struct Group {
    skip: bool,
    /// How many fallback characters follow a `\u`.
    uc: usize,
}

pub fn read(src: &[u8], out: &mut Text) -> Result<(), Stop> {
    let mut stack: Vec<Group> = Vec::new();
    let mut group = Group { skip: false, uc: 1 };
    // Fallback characters of the last `\u` still to skip.
    let mut pending_skip = 0usize;
    let mut i = 0usize;
    while i < src.len() {
        if i.is_multiple_of(65536) {
            out.check_time()?;
        }
        let b = src[i];
        i += 1;
        match b {
            b'{' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(Stop::Damaged("groups nested too deep".into()));
                }
                stack.push(group);
                pending_skip = 0;
            }
            b'}' => {
                group = stack.pop().unwrap_or(group);
                pending_skip = 0;
            }
            b'\r' | b'\n' => {}
            b'\\' => {
                let Some(&next) = src.get(i) else { break };
                if next.is_ascii_alphabetic() {
                    let (word, param, after) = control_word(src, i);
                    i = after;
                    if word == b"bin" {
                        // Binary data: skip its bytes whatever the group.
                        let n = usize::try_from(param.unwrap_or(0)).unwrap_or(0);
                        i = i.saturating_add(n).min(src.len());
                        continue;
                    }
                    if SKIPPED.contains(&word) {
                        group.skip = true;
                        continue;
                    }
                    if word == b"uc" {
                        group.uc = usize::try_from(param.unwrap_or(1)).unwrap_or(1).min(8);
                        continue;
                    }
                    if group.skip {
                        continue;
                    }
                    if word == b"u" {
                        let n = param.unwrap_or(0);
                        let n = if n < 0 { n + 65536 } else { n };
                        let c = u32::try_from(n)
                            .ok()
                            .and_then(char::from_u32)
                            .unwrap_or('\u{FFFD}');
                        out.push(c)?;
                        pending_skip = group.uc;
                        continue;
                    }
                    pending_skip = 0;
                    match word {
                        b"par" | b"line" | b"sect" | b"page" | b"row" => out.line()?,
                        b"tab" | b"cell" => out.push('\t')?,
                        b"emdash" => out.push('—')?,
                        b"endash" => out.push('–')?,
                        b"bullet" => out.push('•')?,
                        b"lquote" => out.push('‘')?,
                        b"rquote" => out.push('’')?,
                        b"ldblquote" => out.push('“')?,
                        b"rdblquote" => out.push('”')?,
                        _ => {}
                    }
                    continue;
                }
                i += 1;
                match next {
                    b'\'' => {
                        let hex = src.get(i..i + 2).and_then(|h| std::str::from_utf8(h).ok());
                        let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                        i = (i + 2).min(src.len());
                        if pending_skip > 0 {
                            pending_skip -= 1;
                        } else if let (Some(byte), false) = (byte, group.skip) {
                            out.push(super::super::extract::windows_1252(byte))?;
                        }
                    }
                    b'*' => group.skip = true,
                    b'~' if !group.skip => out.push(' ')?,
                    b'_' if !group.skip => out.push('-')?,
                    b'\\' | b'{' | b'}' if !group.skip => {
                        if pending_skip > 0 {
                            pending_skip -= 1;
                        } else {
                            out.push(char::from(next))?;
                        }
                    }
                    b'\r' | b'\n' if !group.skip => out.line()?,
                    _ => {}
                }
            }
            _ if group.skip => {}
            _ if pending_skip > 0 => pending_skip -= 1,
            _ => out.push(super::super::extract::windows_1252(b))?,
        }
    }
    Ok(())
}

/// The control word starting at `at`, its numeric parameter, and where the text after it
/// starts (one space delimiter is part of the word).
fn control_word(src: &[u8], at: usize) -> (&[u8], Option<i64>, usize) {
    let mut end = at;
    while end < src.len() && end - at < 32 && src[end].is_ascii_alphabetic() {
        end += 1;
    }
    let word = &src[at..end];
    let mut j = end;
    if j < src.len() && src[j] == b'-' {
        j += 1;
    }
    while j < src.len() && j - end < 11 && src[j].is_ascii_digit() {
        j += 1;
    }
    let param = std::str::from_utf8(&src[end..j])
        .ok()
        .and_then(|s| s.parse().ok());
    if param.is_none() {
        j = end;
    }
    if j < src.len() && src[j] == b' ' {
        j += 1;
    }
    (word, param, j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn text(rtf: &str) -> String {
        let mut out = Text::new(1 << 20, 0, Instant::now() + Duration::from_secs(5));
        read(rtf.as_bytes(), &mut out).unwrap();
        out.finish().0
    }

    #[test]
    fn body_text_without_tables_of_fonts_or_pictures() {
        let rtf = r#"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Helvetica;}}{\colortbl;\red0\green0\blue0;}{\*\generator Writer}
\pard\plain\f0\fs24 Rechnung Nr. 7\par
Gr\'fc\'dfe aus K\u246?ln{\*\bkmkstart x}\tab Betrag\par
{\pict\pngblip 89504e47}\u8364\'80 12\emdash fertig\par
{\field{\*\fldinst HYPERLINK ""http://x""}{\fldrslt Link}}\par
Escaped \{braces\} and \\backslash\line next}"#;
        assert_eq!(
            text(rtf),
            "Rechnung Nr. 7\nGrüße aus Köln\tBetrag\n€ 12—fertig\nLink\nEscaped {braces} and \\backslash\nnext"
        );
    }

    #[test]
    fn hostile_input_is_bounded() {
        let deep = "{".repeat(MAX_DEPTH + 1);
        let mut out = Text::new(1 << 20, 0, Instant::now() + Duration::from_secs(5));
        assert!(matches!(
            read(deep.as_bytes(), &mut out),
            Err(Stop::Damaged(_))
        ));
        let mut out = Text::new(1 << 20, 0, Instant::now() + Duration::from_secs(5));
        read(br"{\rtf1 \bin999999999 x\u99999999999 \'zz\", &mut out).unwrap();
    }
}
