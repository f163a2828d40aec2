//! Search: German and English inflections, accents, phrases, exclusions, prefixes, filename
//! weight, snippets, filters, shared documents in and others' documents out, and stable pages.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, filenames};

async fn search(app: &TestApp, query: &str) -> Value {
    let (status, page) = app
        .get_json(&format!("/api/search?{}", encode(&[("q", query)])))
        .await;
    assert_eq!(status, 200, "{query}: {page}");
    page
}

fn encode(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[tokio::test]
async fn inflections_in_both_languages_accents_and_operators() {
    let app = TestApp::spawn().await;
    app.upload_ok(
        "strom.txt",
        "Die Rechnung der Stadtwerke für März. Mit freundlichen Grüßen".into(),
    )
    .await;
    app.upload_ok(
        "garden.txt",
        b"Invoice for the garden work done in April by the Cafe team".to_vec(),
    )
    .await;
    app.upload_ok(
        "invoice-2026.txt",
        b"nothing here but a number: 42".to_vec(),
    )
    .await;
    app.upload_ok("menu.txt", "Café Müller, Speisekarte".into())
        .await;
    app.process_all().await;

    // German plural finds the singular; English plural finds the singular.
    assert_eq!(filenames(&search(&app, "Rechnungen").await), ["strom.txt"]);
    let invoices = filenames(&search(&app, "invoices").await);
    // The filename match (weight A) ranks above the text match.
    assert_eq!(invoices, ["invoice-2026.txt", "garden.txt"]);
    // Accents do not matter, either way round.
    assert_eq!(filenames(&search(&app, "muller").await), ["menu.txt"]);
    assert_eq!(filenames(&search(&app, "grusse").await), ["strom.txt"]);
    let mut cafe = filenames(&search(&app, "café").await);
    cafe.sort();
    assert_eq!(cafe, ["garden.txt", "menu.txt"]);
    // Phrases keep their order; `-word` leaves out; `or` widens.
    assert_eq!(
        filenames(&search(&app, "\"garden work\"").await),
        ["garden.txt"]
    );
    assert!(filenames(&search(&app, "\"work garden\"").await).is_empty());
    assert_eq!(
        filenames(&search(&app, "invoice -garden").await),
        ["invoice-2026.txt"]
    );
    let mut either = filenames(&search(&app, "stadtwerke or speisekarte").await);
    either.sort();
    assert_eq!(either, ["menu.txt", "strom.txt"]);
    // The word being typed matches as a prefix.
    assert_eq!(filenames(&search(&app, "Stadtwer").await), ["strom.txt"]);
    assert_eq!(filenames(&search(&app, "April gard").await), ["garden.txt"]);

    // The snippet is plain text pieces with the matching words marked.
    let page = search(&app, "Rechnungen").await;
    let snippet = page["items"][0]["snippet"].as_array().unwrap();
    let hits: Vec<&str> = snippet
        .iter()
        .filter(|p| p["hit"] == true)
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(hits, ["Rechnung"], "{snippet:?}");
    let text: String = snippet
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(text.contains("Rechnung der Stadtwerke"), "{text}");
    assert!(page["items"][0]["rank"].as_f64().unwrap() > 0.0);

    // Deep in a long text, the snippet is taken from where the text matches.
    let mut long = "Allgemeine Bedingungen und Hinweise. ".repeat(2_000);
    long.push_str("Der Steuerbescheid für 2025 liegt bei.");
    app.upload_ok("long.txt", long.into_bytes()).await;
    app.process_all().await;
    let page = search(&app, "Steuerbescheide").await;
    let hits: Vec<&str> = page["items"][0]["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["hit"] == true)
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(hits, ["Steuerbescheid"], "{page}");

    // Nothing that is not asked for; clear errors for what cannot be a search.
    assert!(filenames(&search(&app, "elephant").await).is_empty());
    for q in ["", "   ", &"x".repeat(201)] {
        let (status, body) = app
            .get_json(&format!("/api/search?{}", encode(&[("q", q)])))
            .await;
        app.assert_error((status, body), 422, "invalid_search");
    }
    let (status, body) = app.get_json("/api/search?q=a&cursor=zzz").await;
    app.assert_error((status, body), 400, "invalid_cursor");
}

#[tokio::test]
async fn others_documents_stay_out_until_shared_and_filters_narrow() {
    let app = TestApp::spawn().await;
    let bob = app.new_user("bob").await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"Bobs Rechnung fuer den Keller".to_vec())
            .file_name("bob.txt"),
    );
    let resp = bob
        .client
        .post(app.url("/api/documents/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let bobs: Value = resp.json().await.unwrap();
    let mine = app
        .upload_ok("mine.txt", b"Meine Rechnung fuer das Dach".to_vec())
        .await;
    app.process_all().await;

    assert_eq!(filenames(&search(&app, "rechnung").await), ["mine.txt"]);
    let resp = bob
        .client
        .post(app.url(&format!(
            "/api/documents/{}/shares",
            bobs["id"].as_str().unwrap()
        )))
        .json(&json!({"handle": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let page = search(&app, "rechnung").await;
    let mut found = filenames(&page);
    found.sort();
    assert_eq!(found, ["bob.txt", "mine.txt"]);
    let shared = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["filename"] == "bob.txt")
        .unwrap();
    assert_eq!(shared["shared_by"], "bob");

    // Filters: a folder (shared documents are in none of mine), a topic, a state, dates.
    let (status, folder) = app
        .send_json(Method::POST, "/api/folders", json!({"name": "House"}))
        .await;
    assert_eq!(status, 201);
    let folder_id = folder["id"].as_str().unwrap();
    let mine_id = mine["id"].as_str().unwrap();
    let (status, _) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{mine_id}"),
            json!({"folder_id": folder_id}),
        )
        .await;
    assert_eq!(status, 200);
    let in_folder = |f: &str| encode(&[("q", "rechnung"), ("folder_id", f)]);
    let (_, page) = app
        .get_json(&format!("/api/search?{}", in_folder(folder_id)))
        .await;
    assert_eq!(filenames(&page), ["mine.txt"]);
    let (_, page) = app
        .get_json(&format!("/api/search?{}", in_folder("root")))
        .await;
    assert!(filenames(&page).is_empty(), "{page}");
    let topic = app.create_topic("Haus", "").await;
    let (status, _) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{mine_id}"),
            json!({"topic_ids": [topic]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, page) = app
        .get_json(&format!("/api/search?q=rechnung&topic_id={topic}"))
        .await;
    assert_eq!(filenames(&page), ["mine.txt"]);
    let (_, page) = app.get_json("/api/search?q=rechnung&status=failed").await;
    assert!(filenames(&page).is_empty());
    let (_, page) = app.get_json("/api/search?q=rechnung&to=2000-01-01").await;
    assert!(filenames(&page).is_empty());
    let (_, page) = app
        .get_json("/api/search?q=rechnung&from=2000-01-01&status=classified")
        .await;
    assert_eq!(filenames(&page).len(), 2);
    // Someone else's folder or topic is not found; nonsense is refused.
    let (status, _) = app
        .get_json(&format!(
            "/api/search?q=rechnung&topic_id={}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.get_json("/api/search?q=rechnung&from=yesterday").await;
    app.assert_error((status, body), 400, "invalid_date");
    let (status, body) = app.get_json("/api/search?q=x&status=lost").await;
    assert_eq!(status, 400, "{body}");

    // The same filters narrow the plain list.
    let (_, page) = app
        .get_json(&format!(
            "/api/documents?topic_id={topic}&status=classified"
        ))
        .await;
    assert_eq!(filenames(&page), ["mine.txt"]);
    let (_, page) = app.get_json("/api/documents?from=2999-01-01").await;
    assert!(filenames(&page).is_empty());
}

#[tokio::test]
async fn pages_are_stable_and_complete() {
    let app = TestApp::spawn().await;
    // Ranks tie and differ: more mentions rank higher; ties are broken by id.
    for i in 0..23 {
        let text = format!("{} report number {i}", "quarterly ".repeat(1 + i % 4));
        app.upload_ok(&format!("r{i:02}.txt"), text.into_bytes())
            .await;
    }
    app.process_all().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut last_rank = f64::INFINITY;
    loop {
        let mut pairs = vec![("q", "quarterly"), ("limit", "10")];
        if let Some(c) = &cursor {
            pairs.push(("cursor", c));
        }
        let (status, page) = app
            .get_json(&format!("/api/search?{}", encode(&pairs)))
            .await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            let rank = item["rank"].as_f64().unwrap();
            assert!(rank <= last_rank, "best first");
            last_rank = rank;
            seen.push(item["filename"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 23, "{seen:?}");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 23, "no document twice");
}

#[tokio::test]
async fn only_the_newest_matches_are_ranked_and_the_page_says_so() {
    let app = TestApp::spawn_with(Options {
        env: vec![("SEARCH_RANKED_MATCHES", "5".to_owned())],
        ..Options::default()
    })
    .await;
    // The oldest would rank first (the word is its name), were all eight ranked.
    app.upload_ok("budget.txt", b"budget budget budget".to_vec())
        .await;
    for i in 1..8 {
        app.upload_ok(
            &format!("n{i}.txt"),
            format!("the budget, note {i}").into_bytes(),
        )
        .await;
    }
    app.upload_ok("other.txt", b"the annual report".to_vec())
        .await;
    app.process_all().await;

    let page = search(&app, "budget").await;
    let mut found = filenames(&page);
    found.sort();
    assert_eq!(
        found,
        ["n3.txt", "n4.txt", "n5.txt", "n6.txt", "n7.txt"],
        "{page}"
    );
    assert_eq!(page["newest_only"], true);
    let page = search(&app, "annual").await;
    assert_eq!(filenames(&page), ["other.txt"]);
    assert_eq!(page["newest_only"], false);
}
