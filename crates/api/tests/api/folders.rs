//! Folders: the tree (unique sibling names, no cycles even under concurrent moves, bounded
//! depth), documents filed and listed per folder, deletes that refuse, move up or delete the
//! contents (giving their storage back), and nothing of it reachable by another user.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, filenames, text_file};

async fn folder(app: &TestApp, name: &str, parent: Option<&str>) -> String {
    let (status, f) = app
        .send_json(
            Method::POST,
            "/api/folders",
            json!({"name": name, "parent_id": parent}),
        )
        .await;
    assert_eq!(status, 201, "{f}");
    f["id"].as_str().unwrap().to_owned()
}

async fn patch_folder(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.send_json(Method::PATCH, &format!("/api/folders/{id}"), body)
        .await
}

async fn names_in(app: &TestApp, filter: &str) -> Vec<String> {
    let (status, page) = app
        .get_json(&format!("/api/documents?folder_id={filter}"))
        .await;
    assert_eq!(status, 200, "{page}");
    filenames(&page)
}

#[tokio::test]
async fn a_tree_of_folders_has_unique_sibling_names_and_no_cycles() {
    let app = TestApp::spawn().await;
    let a = folder(&app, "Home", None).await;
    let b = folder(&app, "Bills", Some(&a)).await;
    let c = folder(&app, "2026", Some(&b)).await;
    // The same name elsewhere is fine; beside itself it is not.
    folder(&app, "2026", Some(&a)).await;
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/folders",
            json!({"name": "Bills", "parent_id": a}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("folder_name_taken"))
    );
    let (status, body) = app
        .send_json(Method::POST, "/api/folders", json!({"name": "  "}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_folder_name"))
    );

    // Into its own subtree: refused.
    for target in [&a, &b, &c] {
        let (status, body) = patch_folder(&app, &a, json!({ "parent_id": target })).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("folder_cycle")),
            "{body}"
        );
    }
    // Renamed and moved to the top in one go; `null` means the top.
    let (status, moved) =
        patch_folder(&app, &c, json!({"name": "Taxes 2026", "parent_id": null})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (moved["name"].as_str(), moved["parent_id"].clone()),
        (Some("Taxes 2026"), Value::Null)
    );
    // A field left out stays as it is.
    let (_, same) = patch_folder(&app, &b, json!({"name": "Invoices"})).await;
    assert_eq!(same["parent_id"], a.as_str());

    let (_, all) = app.get_json("/api/folders").await;
    assert_eq!(all.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn two_concurrent_moves_cannot_make_a_cycle() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let x = folder(&app, &format!("x{round}"), None).await;
        let y = folder(&app, &format!("y{round}"), None).await;
        let (first, second) = tokio::join!(
            patch_folder(&app, &x, json!({ "parent_id": y })),
            patch_folder(&app, &y, json!({ "parent_id": x })),
        );
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
        let refused = if first.0 == 409 { &first.1 } else { &second.1 };
        assert_eq!(refused["error"]["code"], "folder_cycle");
    }
    // Every folder still reaches the top.
    let stuck: i64 = sqlx::query_scalar(
        "WITH RECURSIVE up AS (
              SELECT id, parent_id, 0 AS n FROM folders
              UNION ALL
              SELECT up.id, f.parent_id, up.n + 1 FROM up JOIN folders f ON f.id = up.parent_id
               WHERE up.n < 50)
         SELECT count(*) FROM up WHERE n = 50",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stuck, 0);
}

#[tokio::test]
async fn folders_nest_at_most_32_deep() {
    let app = TestApp::spawn().await;
    let mut parent: Option<String> = None;
    for depth in 1..=32 {
        parent = Some(folder(&app, &format!("level {depth}"), parent.as_deref()).await);
    }
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/folders",
            json!({"name": "too deep", "parent_id": parent}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("folder_too_deep"))
    );
    // Nor by moving a two-level subtree under level 31.
    let top = folder(&app, "top", None).await;
    folder(&app, "child", Some(&top)).await;
    let (_, all) = app.get_json("/api/folders").await;
    let level_31 = all
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "level 31")
        .unwrap()["id"]
        .clone();
    let (status, _) = patch_folder(&app, &top, json!({ "parent_id": level_31 })).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn documents_are_filed_and_listed_per_folder() {
    let app = TestApp::spawn().await;
    let bills = folder(&app, "Bills", None).await;
    let doc = app.upload_ok("power.txt", text_file(1, 500)).await;
    app.upload_ok("loose.txt", text_file(2, 500)).await;
    let id = doc["id"].as_str().unwrap();

    let (status, moved) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{id}"),
            json!({ "folder_id": bills }),
        )
        .await;
    assert_eq!(
        (status, moved["folder_id"].as_str()),
        (200, Some(bills.as_str())),
        "{moved}"
    );
    assert_eq!(names_in(&app, &bills).await, vec!["power.txt"]);
    assert_eq!(names_in(&app, "root").await, vec!["loose.txt"]);
    let (_, every) = app.get_json("/api/documents").await;
    assert_eq!(every["items"].as_array().unwrap().len(), 2);
    let (_, folders) = app.get_json("/api/folders").await;
    assert_eq!(folders[0]["document_count"], 1);

    // Back to the top with null; leaving folder_id out keeps it where it is.
    let (_, back) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{id}"),
            json!({ "folder_id": null }),
        )
        .await;
    assert_eq!(back["folder_id"], Value::Null);

    // Another user's folder is not a place to file in, nor to list.
    let bob = app.new_user("bob").await;
    let bobs: Value = bob
        .client
        .post(app.url("/api/folders"))
        .json(&json!({"name": "Bob's"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, body) = app
        .send_json(
            Method::PATCH,
            &format!("/api/documents/{id}"),
            json!({ "folder_id": bobs["id"] }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("unknown_folder")),
        "{body}"
    );
    let (status, _) = app
        .get_json(&format!(
            "/api/documents?folder_id={}",
            bobs["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.get_json("/api/documents?folder_id=nonsense").await;
    assert_eq!(status, 400);
    for (method, path) in [
        (Method::PATCH, format!("/api/folders/{bills}")),
        (Method::DELETE, format!("/api/folders/{bills}")),
    ] {
        let resp = bob
            .client
            .request(method, app.url(&path))
            .json(&json!({"name": "mine"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
    }
    let (_, bobs_view) = {
        let r = bob
            .client
            .get(app.url("/api/folders"))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(bobs_view.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn deleting_a_folder_refuses_moves_up_or_deletes_its_contents() {
    let app = TestApp::spawn().await;
    let home = folder(&app, "Home", None).await;
    let bills = folder(&app, "Bills", Some(&home)).await;
    let old = folder(&app, "Old", Some(&bills)).await;
    let kept = app.upload_ok("kept.txt", text_file(1, 1_000)).await;
    let gone = app.upload_ok("gone.txt", text_file(2, 3_000)).await;
    for (doc, f) in [(&kept, &bills), (&gone, &old)] {
        let (status, _) = app
            .send_json(
                Method::PATCH,
                &format!("/api/documents/{}", doc["id"].as_str().unwrap()),
                json!({ "folder_id": f }),
            )
            .await;
        assert_eq!(status, 200);
    }

    let resp = app.delete(&format!("/api/folders/{bills}")).await;
    assert_eq!(resp.status(), 409);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "folder_not_empty"
    );

    // Deleting "Old" with its contents: the document, its object and its storage go.
    assert_eq!(app.get_json("/api/me/quota").await.1["used_bytes"], 4_000);
    let resp = app
        .delete(&format!("/api/folders/{old}?contents=delete"))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.get_json("/api/me/quota").await.1["used_bytes"], 1_000);
    assert_eq!(app.bucket_objects().await.len(), 1);
    assert_eq!(app.count("object_cleanup").await, 0);
    let (status, _) = app
        .get_json(&format!("/api/documents/{}", gone["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 404);

    // Deleting "Bills", moving its contents up into "Home".
    let resp = app
        .delete(&format!("/api/folders/{bills}?contents=move_to_parent"))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(names_in(&app, &home).await, vec!["kept.txt"]);
    let (_, folders) = app.get_json("/api/folders").await;
    assert_eq!(folders.as_array().unwrap().len(), 1);
    // An empty folder goes without being asked.
    assert_eq!(
        app.delete(&format!("/api/folders/{home}?contents=move_to_parent"))
            .await
            .status(),
        204
    );
    assert_eq!(names_in(&app, "root").await, vec!["kept.txt"]);
}
