//! OCR through the real worker and `tesseract`: generated scans of known text (turned a little,
//! with noise) as PNG and as a PDF without a text layer, an image without text, and OCR turned
//! off.

use crate::helpers::{Options, TestApp};
use crate::scans::{Gray, render};

const LINES: [&str; 3] = [
    "Invoice 48213 from Greenleaf Gardening",
    "Hedge trimming and lawn care in March",
    "Rechnung Gartenpflege Betrag 240 Euro",
];

/// The page of `LINES` as a phone would photograph it: turned 1.5 degrees, 1 % noise.
fn scan() -> Gray {
    render(&LINES, 200).scanned(1.5, 0.01, 7)
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[tokio::test]
async fn a_photographed_page_is_read_by_ocr() {
    let app = TestApp::spawn().await;
    let doc = app.processed("photo.png", scan().png()).await;
    assert_eq!(doc["status"], "classified", "{doc}");
    assert_eq!(doc["ocr_pages"], 1);
    let text = words(doc["extracted_text"].as_str().unwrap());
    for expected in [
        "invoice",
        "48213",
        "greenleaf",
        "hedge",
        "rechnung",
        "gartenpflege",
    ] {
        assert!(text.iter().any(|w| w == expected), "{expected} in {text:?}");
    }
    // The list shows the photo itself, scaled down.
    assert_eq!(doc["has_thumbnail"], true);
    let resp = app
        .get(&format!(
            "/api/documents/{}/thumbnail",
            doc["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let side = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    let (width, height) = (side(16), side(20));
    assert_eq!(width.max(height), 300, "{width}x{height}");
}

#[tokio::test]
async fn a_scanned_pdf_becomes_searchable_text() {
    let app = TestApp::spawn().await;
    let doc = app.processed("scan.pdf", scan().pdf()).await;
    assert_eq!(doc["status"], "classified", "{doc}");
    assert_eq!(doc["ocr_pages"], 1);
    let (status, hits) = app.get_json("/api/search?q=Gartenpflege").await;
    assert_eq!(status, 200, "{hits}");
    assert_eq!(
        hits["items"][0]["id"], doc["id"],
        "{hits} {}",
        doc["extracted_text"]
    );
    // The thumbnail is made from the page as for any PDF.
    assert_eq!(doc["has_thumbnail"], true);
}

#[tokio::test]
async fn an_image_without_text_fails_with_a_reason() {
    let app = TestApp::spawn().await;
    let blank = Gray {
        width: 600,
        height: 400,
        pixels: vec![255; 600 * 400],
    }
    .scanned(0.0, 0.002, 3);
    let doc = app.processed("blank.png", blank.png()).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert_eq!(
        doc["error"],
        "no text found: OCR found no readable text in the image"
    );
}

#[tokio::test]
async fn with_ocr_turned_off_an_image_fails_and_says_why() {
    let app = TestApp::spawn_with(Options {
        env: vec![("OCR_LANGUAGES", String::new())],
        ..Options::default()
    })
    .await;
    let doc = app.processed("photo.png", scan().png()).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains("OCR is turned off"), "{error}");
}
