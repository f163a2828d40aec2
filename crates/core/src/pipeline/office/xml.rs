//! Text out of the XML parts of office documents, read as a stream (quick-xml): only the text
//! is kept, never a tree, so memory stays bounded whatever the part holds.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};

use super::text::{OverBudget, Stop, Text};

/// How one format lays its text out, by elements' local names.
pub struct Rules {
    /// Elements whose character data is text (`w:t`, `a:t`); empty: all character data.
    pub text_in: &'static [&'static [u8]],
    /// Paragraphs: a line ends after each, or a space inside a table cell.
    pub line_after: &'static [&'static [u8]],
    /// Table cells: a tab after each.
    pub cells: &'static [&'static [u8]],
    /// Table rows (and tables): a line ends after each.
    pub rows: &'static [&'static [u8]],
    /// Empty elements standing for a tab, a line break, a space.
    pub tab: &'static [&'static [u8]],
    pub line_break: &'static [&'static [u8]],
    pub space: &'static [&'static [u8]],
    /// Elements whose whole content is left out (formatting, deleted text, styles).
    pub skip: &'static [&'static [u8]],
}

pub const DOCX: Rules = Rules {
    text_in: &[b"t"],
    line_after: &[b"p"],
    cells: &[b"tc"],
    rows: &[b"tr", b"tbl"],
    tab: &[b"tab"],
    line_break: &[b"br", b"cr"],
    space: &[],
    // Paragraph and run properties hold tab stops, not tabs.
    skip: &[b"pPr", b"rPr"],
};

pub const PPTX: Rules = Rules {
    text_in: &[b"t"],
    line_after: &[b"p"],
    cells: &[b"tc"],
    rows: &[b"tr", b"tbl"],
    tab: &[],
    line_break: &[b"br"],
    space: &[],
    skip: &[b"pPr", b"rPr"],
};

const ODF_SKIP: &[&[u8]] = &[
    b"automatic-styles",
    b"font-face-decls",
    b"scripts",
    b"forms",
    // Deleted text kept for change tracking.
    b"tracked-changes",
];

const ODF_CELLS: &[&[u8]] = &[b"table-cell", b"covered-table-cell"];
const ODF_ROWS: &[&[u8]] = &[b"table-row", b"table"];

pub const ODT: Rules = Rules {
    text_in: &[],
    line_after: &[b"p", b"h"],
    cells: ODF_CELLS,
    rows: ODF_ROWS,
    tab: &[b"tab"],
    line_break: &[b"line-break"],
    space: &[b"s"],
    skip: ODF_SKIP,
};

pub const ODP: Rules = Rules {
    line_after: &[b"p", b"h", b"page"],
    ..ODT
};

pub const ODS: Rules = ODT;

/// A part's XML events, read into one buffer that is cleared before each read (so a skipped
/// subtree does not pile up in it), with the job's deadline checked every 4096 events.
struct Events<R> {
    reader: Reader<R>,
    buf: Vec<u8>,
    count: u32,
}

impl<R: BufRead> Events<R> {
    fn new(src: R) -> Self {
        Self {
            reader: Reader::from_reader(src),
            buf: Vec::new(),
            count: 0,
        }
    }

    fn next(&mut self, out: &Text) -> Result<Event<'_>, Stop> {
        self.count = self.count.wrapping_add(1);
        if self.count.is_multiple_of(4096) {
            out.check_time()?;
        }
        self.buf.clear();
        self.reader.read_event_into(&mut self.buf).map_err(damaged)
    }
}

fn has(list: &[&[u8]], name: &[u8]) -> bool {
    list.contains(&name)
}

/// Reads one part's text into `out` by `rules`.
pub fn walk(src: impl BufRead, rules: &Rules, out: &mut Text) -> Result<(), Stop> {
    let mut events = Events::new(src);
    let mut in_text = 0usize;
    let mut in_cell = 0usize;
    let mut skipping = 0usize;
    loop {
        match events.next(out)? {
            Event::Start(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if skipping > 0 || has(rules.skip, name) {
                    skipping += 1;
                } else if has(rules.text_in, name) {
                    in_text += 1;
                } else if has(rules.cells, name) {
                    in_cell += 1;
                }
            }
            Event::End(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                if has(rules.text_in, name) {
                    in_text = in_text.saturating_sub(1);
                }
                if has(rules.cells, name) {
                    in_cell = in_cell.saturating_sub(1);
                }
                ended(rules, name, in_cell > 0, out)?;
            }
            Event::Empty(e) if skipping == 0 => {
                let name = e.local_name();
                let name = name.as_ref();
                if has(rules.tab, name) {
                    out.push('\t')?;
                } else if has(rules.line_break, name) {
                    out.push('\n')?;
                } else if has(rules.space, name) {
                    out.push(' ')?;
                } else {
                    ended(rules, name, in_cell > 0, out)?;
                }
            }
            Event::Text(t) if takes_text(rules, in_text, skipping) => {
                out.push_str(&t.decode().map_err(damaged)?)?;
            }
            Event::CData(t) if takes_text(rules, in_text, skipping) => {
                out.push_str(&t.decode().map_err(damaged)?)?;
            }
            Event::GeneralRef(r) if takes_text(rules, in_text, skipping) => {
                if let Some(c) = reference(&r)? {
                    out.push_str(&c)?;
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

fn takes_text(rules: &Rules, in_text: usize, skipping: usize) -> bool {
    skipping == 0 && (rules.text_in.is_empty() || in_text > 0)
}

fn ended(rules: &Rules, name: &[u8], in_cell: bool, out: &mut Text) -> Result<(), Stop> {
    if has(rules.cells, name) {
        out.tab()
    } else if has(rules.rows, name) {
        out.line()
    } else if has(rules.line_after, name) && in_cell {
        out.space()
    } else if has(rules.line_after, name) {
        out.line()
    } else {
        Ok(())
    }
}

/// `&amp;`, `&#228;`, `&#xE4;`: what the reference stands for (unknown entities are dropped).
fn reference(r: &BytesRef<'_>) -> Result<Option<String>, Stop> {
    if r.is_char_ref() {
        return Ok(r.resolve_char_ref().map_err(damaged)?.map(String::from));
    }
    let name = r.decode().map_err(damaged)?;
    Ok(quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned))
}

/// A reader error: the budget running out, or a damaged part.
pub fn damaged(e: impl Into<quick_xml::Error>) -> Stop {
    match e.into() {
        quick_xml::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<OverBudget>()) => {
            Stop::Budget
        }
        other => Stop::Damaged(other.to_string()),
    }
}

/// The strings of an XLSX workbook's shared-string table, in order (`<si>`; phonetic guides
/// left out).
pub fn shared_strings(src: impl BufRead, out: &Text) -> Result<Vec<String>, Stop> {
    let mut events = Events::new(src);
    let mut strings = Vec::new();
    let mut current = String::new();
    let (mut in_t, mut in_phonetic) = (false, false);
    loop {
        match events.next(out)? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"t" => in_t = true,
                b"rPh" => in_phonetic = true,
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_t = false,
                b"rPh" => in_phonetic = false,
                b"si" => strings.push(std::mem::take(&mut current)),
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == b"si" => strings.push(String::new()),
            Event::Text(t) if in_t && !in_phonetic => {
                current.push_str(&t.decode().map_err(damaged)?);
            }
            Event::GeneralRef(r) if in_t && !in_phonetic => {
                if let Some(c) = reference(&r)? {
                    current.push_str(&c);
                }
            }
            Event::Eof => return Ok(strings),
            _ => {}
        }
    }
}

/// Which of an XLSX workbook's cell formats (`cellXfs`, by index) show a date: the built-in
/// date formats, and custom ones whose code has days or years outside quotes and brackets.
pub fn date_formats(src: impl BufRead, out: &Text) -> Result<Vec<bool>, Stop> {
    let mut events = Events::new(src);
    let mut custom_dates: Vec<u32> = Vec::new();
    let mut formats = Vec::new();
    let mut in_cell_xfs = false;
    loop {
        let event = events.next(out)?;
        match &event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"numFmt" => {
                    let id = attribute(e, "numFmtId").and_then(|v| v.parse().ok());
                    let code = attribute(e, "formatCode").unwrap_or_default();
                    if let Some(id) = id.filter(|_| is_date_code(&code)) {
                        custom_dates.push(id);
                    }
                }
                b"cellXfs" => in_cell_xfs = matches!(event, Event::Start(_)),
                b"xf" if in_cell_xfs => {
                    let id: u32 = attribute(e, "numFmtId")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let builtin = matches!(id, 14..=22 | 27..=36 | 45..=47 | 50..=58);
                    formats.push(builtin || custom_dates.contains(&id));
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == b"cellXfs" => in_cell_xfs = false,
            Event::Eof => return Ok(formats),
            _ => {}
        }
    }
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    let a = e.try_get_attribute(name).ok().flatten()?;
    Some(a.unescape_value().ok()?.into_owned())
}

fn is_date_code(code: &str) -> bool {
    let (mut quoted, mut bracket) = (false, false);
    code.chars().any(|c| {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => bracket = true,
            ']' if !quoted => bracket = false,
            _ => {}
        }
        !quoted && !bracket && matches!(c, 'd' | 'D' | 'y' | 'Y')
    })
}

/// An Excel serial day number as `YYYY-MM-DD` (with `HH:MM` when it has a time of day).
/// `date1904`: the workbook counts from 1904 (old Mac Excel).
fn serial_date(value: &str, date1904: bool) -> Option<String> {
    let serial: f64 = value.trim().parse().ok()?;
    if !(0.0..2_958_466.0).contains(&serial) {
        return None;
    }
    // Day 60 is the 29 February 1900 that never was (Lotus 1-2-3's bug, kept by Excel): days
    // before it count from 31 December 1899, days after it from 30 December.
    let base = if date1904 {
        chrono::NaiveDate::from_ymd_opt(1904, 1, 1)?
    } else if serial < 60.0 {
        chrono::NaiveDate::from_ymd_opt(1899, 12, 31)?
    } else {
        chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?
    };
    let days = serial.trunc();
    let date = base.checked_add_days(chrono::Days::new(days as u64))?;
    let minutes = ((serial - days) * 24.0 * 60.0).round() as u32;
    Some(if minutes == 0 || minutes >= 24 * 60 {
        date.format("%Y-%m-%d").to_string()
    } else {
        format!(
            "{} {:02}:{:02}",
            date.format("%Y-%m-%d"),
            minutes / 60,
            minutes % 60
        )
    })
}

/// How an XLSX workbook's cells are shown: its shared strings, which formats are dates, and
/// whether it counts days from 1904.
#[derive(Debug, Default)]
pub struct Workbook {
    pub shared: Vec<String>,
    pub dates: Vec<bool>,
    pub date1904: bool,
}

/// One XLSX worksheet as lines of tab-separated cells. Numbers are written as stored, dates as
/// `YYYY-MM-DD`; shared strings are looked up; errors are left out.
pub fn worksheet(src: impl BufRead, book: &Workbook, out: &mut Text) -> Result<(), Stop> {
    let mut events = Events::new(src);
    let mut cell_type: Vec<u8> = Vec::new();
    let mut is_date = false;
    let mut value = String::new();
    let mut in_value = false;
    loop {
        match events.next(out)? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"c" => {
                    cell_type = e
                        .try_get_attribute("t")
                        .ok()
                        .flatten()
                        .map(|a| a.value.into_owned())
                        .unwrap_or_default();
                    is_date = attribute(&e, "s")
                        .and_then(|v| v.parse::<usize>().ok())
                        .and_then(|i| book.dates.get(i).copied())
                        .unwrap_or(false);
                    value.clear();
                }
                b"v" | b"t" => in_value = true,
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"v" | b"t" => in_value = false,
                b"c" => {
                    let date = match cell_type.as_slice() {
                        b"" | b"n" if is_date => serial_date(&value, book.date1904),
                        _ => None,
                    };
                    let shown = match cell_type.as_slice() {
                        _ if date.is_some() => date.as_deref().unwrap_or_default(),
                        b"s" => value
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| book.shared.get(i))
                            .map_or("", String::as_str),
                        b"b" if value.trim() == "1" => "TRUE",
                        b"b" => "FALSE",
                        b"e" => "",
                        _ => value.as_str(),
                    };
                    if !shown.is_empty() {
                        out.tab()?;
                        out.push_str(shown)?;
                    }
                }
                b"row" => out.line()?,
                _ => {}
            },
            Event::Text(t) if in_value => value.push_str(&t.decode().map_err(damaged)?),
            Event::GeneralRef(r) if in_value => {
                if let Some(c) = reference(&r)? {
                    value.push_str(&c);
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn read(xml: &str, rules: &Rules) -> String {
        let mut out = Text::new(1 << 20, 0, Instant::now() + Duration::from_secs(5));
        walk(xml.as_bytes(), rules, &mut out).unwrap();
        out.finish().0
    }

    #[test]
    fn word_paragraphs_tabs_and_entities() {
        let xml = r#"<w:document xmlns:w="w"><w:body>
            <w:p><w:pPr><w:tabs><w:tab w:val="left"/></w:tabs></w:pPr><w:r><w:t>Invoice</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve">No. 42 &amp; more&#x21;</w:t></w:r></w:p>
            <w:p><w:r><w:delText>gone</w:delText><w:t>Gr&#252;&#xDF;e</w:t></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>a</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>b</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
        </w:body></w:document>"#;
        assert_eq!(read(xml, &DOCX), "Invoice\tNo. 42 & more!\nGrüße\na\tb");
    }

    #[test]
    fn opendocument_text_and_spreadsheet() {
        let odt = r#"<office:document-content><office:automatic-styles><style:style/></office:automatic-styles><office:body><office:text>
            <text:h>Title</text:h><text:p>one<text:s/>two<text:tab/>three<text:line-break/>four</text:p><text:p/></office:text></office:body></office:document-content>"#;
        assert_eq!(
            read(odt, &ODT).replace("\n            ", ""),
            "Title\none two\tthree\nfour"
        );
        let ods = r#"<office:body><office:spreadsheet><table:table><table:table-row><table:table-cell><text:p>Rent</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16000"/><table:table-cell><text:p>950</text:p><text:p>EUR</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body>"#;
        assert_eq!(read(ods, &ODS), "Rent\t950 EUR");
    }

    #[test]
    fn spreadsheet_cells_with_shared_strings() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let out = Text::new(1 << 20, 0, deadline);
        let sst = r#"<sst><si><t>Budget</t></si><si><r><t>Tom &amp; </t></r><r><t>Jerry</t></r><rPh><t>ignored</t></rPh></si><si/></sst>"#;
        let shared = shared_strings(sst.as_bytes(), &out).unwrap();
        assert_eq!(shared, ["Budget", "Tom & Jerry", ""]);
        let styles = r#"<styleSheet><numFmts><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/><numFmt numFmtId="165" formatCode="&quot;Day&quot; 0.00"/></numFmts><cellStyleXfs><xf numFmtId="14"/></cellStyleXfs><cellXfs><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="22"/></cellXfs></styleSheet>"#;
        let dates = date_formats(styles.as_bytes(), &out).unwrap();
        assert_eq!(dates, [false, true, true, false, true]);
        let book = Workbook {
            shared,
            dates,
            date1904: false,
        };
        let sheet = r#"<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>12.5</v></c><c s="2"><v>46082</v></c><c s="4"><v>46082.75</v></c><c s="3"><v>3</v></c></row><row r="2"><c t="inlineStr"><is><t>inline</t></is></c><c t="b"><v>1</v></c><c t="e"><v>#DIV/0!</v></c><c t="s"><v>99</v></c></row></sheetData></worksheet>"#;
        let mut out = Text::new(1 << 20, 0, deadline);
        worksheet(sheet.as_bytes(), &book, &mut out).unwrap();
        assert_eq!(
            out.finish().0,
            "Budget\t12.5\t2026-03-01\t2026-03-01 18:00\t3\ninline\tTRUE"
        );
        assert_eq!(serial_date("59", false).as_deref(), Some("1900-02-28"));
        assert_eq!(serial_date("61", false).as_deref(), Some("1900-03-01"));
        assert_eq!(serial_date("0", true).as_deref(), Some("1904-01-01"));
        assert_eq!(serial_date("-1", false), None);
    }

    #[test]
    fn broken_xml_is_damaged_not_a_panic() {
        let mut out = Text::new(1 << 20, 0, Instant::now() + Duration::from_secs(5));
        let r = walk("<w:p><w:t>open</w:x></w:p>".as_bytes(), &DOCX, &mut out);
        assert!(matches!(r, Err(Stop::Damaged(_))), "{r:?}");
    }
}
