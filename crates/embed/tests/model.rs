//! The embedder against the real model (installed by `scripts/stack.sh up` into
//! `.stack/models`, or `MODEL_DIR`): its vectors match an independent NumPy implementation
//! (`reference.py`, float64) within float32 rounding, and they carry meaning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use docuvault_embed::{Embedder, cosine};

fn model() -> &'static Embedder {
    static MODEL: OnceLock<Embedder> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = std::env::var_os("MODEL_DIR").map_or_else(
            || {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../.stack/models/all-minilm-l6-v2")
            },
            PathBuf::from,
        );
        Embedder::load(&dir)
            .unwrap_or_else(|e| panic!("the model is not installed ({e}): run scripts/stack.sh up"))
    })
}

#[test]
fn vectors_match_the_reference_implementation() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("reference.json")).unwrap();
    for case in reference["vectors"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<f32> = case["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got = model().embed(text).unwrap();
        assert_eq!(got.len(), 384);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{text}: largest difference {worst}");
        assert!(cosine(&got, &want) > 0.99999, "{text}");
    }
}

#[test]
fn similar_meanings_are_closer_than_different_ones() {
    let m = model();
    let bill = m
        .embed("Your electricity bill of 84 EUR is due on 1 May.")
        .unwrap();
    let invoice = m
        .embed("Invoice: amount payable for power consumption in April.")
        .unwrap();
    let football = m
        .embed("The team won the football match after extra time.")
        .unwrap();
    assert!(cosine(&bill, &invoice) > cosine(&bill, &football) + 0.2);
}

#[test]
fn a_long_text_is_embedded_by_windows_and_stays_normalised() {
    let m = model();
    let long = "The rental agreement for the flat in Lisbon. ".repeat(400);
    let v = m.embed(&long).unwrap();
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    // Each window is read: the topic of the whole text, not of its first 256 tokens only.
    let rental = m
        .embed("A lease for an apartment: rent, deposit and tenancy.")
        .unwrap();
    let football = m
        .embed("The team won the football match after extra time.")
        .unwrap();
    assert!(cosine(&v, &rental) > cosine(&v, &football) + 0.2);
    // Less than one window (254 tokens), so the second window is the rental text.
    let opening = "The football club announced the new season's fixtures. ".repeat(20);
    let mixed = m.embed(&format!("{opening}{long}")).unwrap();
    let first_window_only = m.embed(&opening).unwrap();
    assert!(
        cosine(&mixed, &rental) > cosine(&first_window_only, &rental) + 0.1,
        "the later windows count"
    );
    // No tokens at all still gives a vector.
    assert_eq!(m.embed("").unwrap().len(), 384);
}
