//! Office documents through the real worker: Word, Excel, PowerPoint, OpenDocument and RTF
//! files made here with known text are recognised by content and read; macros, old or
//! password-protected Office files, damaged archives and a ZIP bomb end with a reason.

use std::io::Write;

use serde_json::Value;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use crate::helpers::TestApp;

/// A ZIP of `entries` in this order; `mimetype` stored (as ODF requires), the rest deflated.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        let method = if *name == "mimetype" {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        w.start_file(
            *name,
            SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const RELS: &[u8] = br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>"#;

fn content_types(main_part: &str, main_type: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="{main_part}" ContentType="{main_type}"/></Types>"#
    )
    .into_bytes()
}

fn word_xml(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!(r#"<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">{p}</w:t></w:r></w:p>"#))
        .collect();
    format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}<w:sectPr/></w:body></w:document>"#).into_bytes()
}

pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
    zip(&[
        (
            "[Content_Types].xml",
            &content_types(
                "/word/document.xml",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            ),
        ),
        ("_rels/.rels", RELS),
        ("word/document.xml", &word_xml(paragraphs)),
    ])
}

fn xlsx() -> Vec<u8> {
    let shared = br#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3"><si><t>Heating oil delivery</t></si><si><t>Litres</t></si><si><r><t>Fuel &amp; </t></r><r><t>Energy GmbH</t></r></si></sst>"#;
    let sheet = br#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>2</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2"><v>1850.5</v></c></row></sheetData></worksheet>"#;
    let sheet2 = br#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Second sheet total</t></is></c></row></sheetData></worksheet>"#;
    zip(&[
        (
            "[Content_Types].xml",
            &content_types(
                "/xl/workbook.xml",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            ),
        ),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/worksheets/sheet10.xml", sheet2),
        ("xl/worksheets/sheet1.xml", sheet),
        ("xl/sharedStrings.xml", shared),
    ])
}

fn pptx() -> Vec<u8> {
    let slide = |t: &str| {
        format!(r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:rPr lang="en-GB"/><a:t>{t}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#).into_bytes()
    };
    zip(&[
        ("_rels/.rels", RELS),
        ("ppt/presentation.xml", b"<p:presentation xmlns:p=\"p\"/>"),
        ("ppt/slides/slide2.xml", &slide("Quarterly roadmap review")),
        ("ppt/slides/slide1.xml", &slide("Welcome to the kickoff")),
        // Written last, as LibreOffice does: the part names decide at upload.
        (
            "[Content_Types].xml",
            &content_types(
                "/ppt/presentation.xml",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            ),
        ),
    ])
}

fn odf(mime: &str, body: &str) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"><office:automatic-styles/><office:body>{body}</office:body></office:document-content>"#
    );
    let manifest = format!(
        r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="{mime}"/></manifest:manifest>"#
    );
    zip(&[
        ("mimetype", mime.as_bytes()),
        ("content.xml", content.as_bytes()),
        ("META-INF/manifest.xml", manifest.as_bytes()),
    ])
}

#[tokio::test]
async fn office_files_are_recognised_by_content_and_read() {
    let app = TestApp::spawn().await;
    app.create_topic("Household", "heating oil, energy, fuel delivery")
        .await;
    let cases: Vec<(&str, Vec<u8>, &str, &[&str])> = vec![
        (
            "letter.docx",
            docx(&["Dear landlord,", "the heating in flat 4 &amp; the boiler need repair.", "Grüße"]),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &["Dear landlord,\nthe heating in flat 4 & the boiler need repair.\nGrüße"],
        ),
        (
            "fuel.xlsx",
            xlsx(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &["Heating oil delivery\tFuel & Energy GmbH\nLitres\t1850.5", "Second sheet total"],
        ),
        (
            "kickoff.pptx",
            pptx(),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            &["Welcome to the kickoff\n\nQuarterly roadmap review"],
        ),
        (
            "minutes.odt",
            odf(
                "application/vnd.oasis.opendocument.text",
                "<office:text><text:h>Minutes</text:h><text:p>Residents<text:s/>agreed on<text:tab/>new bins.</text:p></office:text>",
            ),
            "application/vnd.oasis.opendocument.text",
            &["Minutes\nResidents agreed on\tnew bins."],
        ),
        (
            "costs.ods",
            odf(
                "application/vnd.oasis.opendocument.spreadsheet",
                r#"<office:spreadsheet><table:table table:name="Costs"><table:table-row><table:table-cell><text:p>Electricity</text:p></table:table-cell><table:table-cell table:number-columns-repeated="1000"/><table:table-cell><text:p>73.20</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet>"#,
            ),
            "application/vnd.oasis.opendocument.spreadsheet",
            &["Electricity\t73.20"],
        ),
        (
            "talk.odp",
            odf(
                "application/vnd.oasis.opendocument.presentation",
                "<office:presentation><draw:page><draw:frame><draw:text-box><text:p>Garden party plans</text:p></draw:text-box></draw:frame></draw:page><draw:page><draw:frame><draw:text-box><text:p>Budget</text:p></draw:text-box></draw:frame></draw:page></office:presentation>",
            ),
            "application/vnd.oasis.opendocument.presentation",
            &["Garden party plans\n\nBudget"],
        ),
        (
            "note.rtf",
            br"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}\f0 Heiz\'f6l Lieferung\par Menge 1850 Liter\u8364?}".to_vec(),
            "application/rtf",
            &["Heizöl Lieferung\nMenge 1850 Liter€"],
        ),
    ];
    for (name, bytes, mime, expected) in cases {
        let doc = app.processed(name, bytes).await;
        assert_eq!(doc["status"], "classified", "{name}: {doc}");
        assert_eq!(doc["content_type"], mime, "{name}");
        let text = doc["extracted_text"].as_str().unwrap();
        for piece in expected {
            assert!(text.contains(piece), "{name}: {piece:?} in {text:?}");
        }
    }
    // What was read is searchable like any other text.
    let (status, found) = app.get_json("/api/search?q=kickoff").await;
    assert_eq!(status, 200);
    assert_eq!(found["items"][0]["filename"], "kickoff.pptx", "{found}");
}

#[tokio::test]
async fn macros_old_formats_and_plain_zips_are_refused_at_upload() {
    let app = TestApp::spawn().await;
    let docm = zip(&[
        (
            "[Content_Types].xml",
            &content_types(
                "/word/document.xml",
                "application/vnd.ms-word.document.macroEnabled.main+xml",
            ),
        ),
        ("word/document.xml", &word_xml(&["Enable content!"])),
        ("word/vbaProject.bin", b"\xD0\xCF\x11\xE0 macro"),
    ]);
    let legacy = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0\0\0\0\0>\0\x03\0\xFE\xFF".to_vec();
    let plain = zip(&[("holiday/photo-list.txt", b"beach.jpg")]);
    for (name, bytes, says) in [
        ("invoice.docm", docm, "macros"),
        ("old.doc", legacy, "password-protected"),
        ("photos.zip", plain, "not an office document"),
    ] {
        let resp = app.upload(name, None, bytes).await;
        assert_eq!(resp.status(), 415, "{name}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unsupported_file_type");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{name}: {message}");
    }
    assert_eq!(app.count("documents").await, 0);
    assert!(app.bucket_keys().await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn damaged_macro_hiding_and_bomb_archives_fail_with_a_reason() {
    let app = TestApp::spawn().await;
    // A macro part beyond the first bytes the upload looks at: the worker's whole-archive
    // check finds it.
    // Letters that do not compress, so the part is larger than the sniffed head.
    let mut seed = 7u32;
    let padding: String = (0..600_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            char::from(b'a' + u8::try_from((seed >> 16) % 26).unwrap())
        })
        .collect();
    let hidden = zip(&[
        ("_rels/.rels", RELS),
        ("word/document.xml", &word_xml(&[padding.as_str()])),
        ("word/vbaProject.bin", b"\xD0\xCF\x11\xE0 macro"),
        (
            "[Content_Types].xml",
            &content_types(
                "/word/document.xml",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            ),
        ),
    ]);
    let at = hidden
        .windows(14)
        .position(|w| w == b"vbaProject.bin")
        .unwrap();
    assert!(at > 256 * 1024, "the macro part starts at {at}");
    // Cut short: the local headers are there, the central directory is not.
    let whole = docx(&["A letter that will be cut short", &"words ".repeat(2000)]);
    let cut = whole[..whole.len() * 2 / 3].to_vec();
    // 300 MiB of empty paragraphs, deflated to a few hundred KB.
    let mut bomb_xml = b"<w:document xmlns:w=\"w\"><w:body>".to_vec();
    bomb_xml.extend_from_slice(&b"<w:p/>".repeat(300 * 1024 * 1024 / 6));
    bomb_xml.extend_from_slice(b"</w:body></w:document>");
    let bomb = zip(&[
        (
            "[Content_Types].xml",
            &content_types(
                "/word/document.xml",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            ),
        ),
        ("word/document.xml", &bomb_xml),
    ]);
    drop(bomb_xml);
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());

    for (name, bytes, says) in [
        ("hidden.docx", hidden, "macros"),
        ("cut.docx", cut, "damaged"),
        ("bomb.docx", bomb, "ZIP bomb"),
    ] {
        let doc = app.processed(name, bytes).await;
        assert_eq!(doc["status"], "failed", "{name}: {doc}");
        let error = doc["error"].as_str().unwrap();
        assert!(error.contains(says), "{name}: {error}");
    }
}
