//! The admin API: only admins, every change audited with the admin as actor, no lock-out of the
//! last admin; and the operator's `user create --admin` path.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn only_admins_reach_the_admin_api() {
    let app = TestApp::spawn().await;
    for path in ["/api/admin/users", "/api/admin/audit-log"] {
        let (status, body) = app.get_json(path).await;
        app.assert_error((status, body), 403, "admin_only");
    }
    let (status, body) = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/users/{}", app.user.id),
            json!({ "role": "admin" }),
        )
        .await;
    app.assert_error((status, body), 403, "admin_only");
    let (role,): (String,) = sqlx::query_as("SELECT role FROM users WHERE id = $1")
        .bind(app.user.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "user");
}

#[tokio::test]
async fn admins_manage_accounts_and_every_change_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.new_admin("root").await;
    let patch = |body: serde_json::Value| {
        admin
            .client
            .patch(app.url(&format!("/api/admin/users/{}", app.user.id)))
            .json(&body)
            .send()
    };
    let resp = admin
        .client
        .get(app.url("/api/admin/users?limit=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let users: serde_json::Value = resp.json().await.unwrap();
    let handles: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["alice", "root"]);
    assert_eq!(users[0]["quota_limit_bytes"], 104_857_600);

    let resp = patch(json!({ "role": "admin", "quota_bytes": 5_000_000 }))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let alice: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (alice["role"].as_str(), alice["quota_limit_bytes"].as_i64()),
        (Some("admin"), Some(5_000_000))
    );
    let resp = patch(json!({ "role": "superuser" })).await.unwrap();
    assert_eq!(resp.status(), 422);
    let resp = patch(json!({ "quota_bytes": -1 })).await.unwrap();
    assert_eq!(resp.status(), 422);
    let resp = admin
        .client
        .patch(app.url(&format!("/api/admin/users/{}", uuid::Uuid::new_v4())))
        .json(&json!({ "is_active": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    for (event, from, to) in [
        ("role_changed", "user", "admin"),
        ("quota_changed", "104857600", "5000000"),
    ] {
        let rows = app.audit(event).await;
        assert_eq!(rows.len(), 1, "{event}");
        let (user, actor, ip, meta) = &rows[0];
        assert_eq!(
            (*user, *actor),
            (Some(app.user.id), Some(admin.id)),
            "{event}"
        );
        assert_eq!(ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(meta["from"].to_string().trim_matches('"'), from);
        assert_eq!(meta["to"].to_string().trim_matches('"'), to);
    }

    // The audit log through the API, filtered by user and event.
    let resp = admin
        .client
        .get(app.url(&format!(
            "/api/admin/audit-log?user_id={}&event_type=role_changed",
            app.user.id
        )))
        .send()
        .await
        .unwrap();
    let log: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["actor_id"], admin.id.to_string());
    let resp = admin
        .client
        .get(app.url("/api/admin/audit-log?limit=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_removed() {
    let app = TestApp::spawn().await;
    let admin = app.new_admin("root").await;
    for body in [json!({ "is_active": false }), json!({ "role": "user" })] {
        let resp = admin
            .client
            .patch(app.url(&format!("/api/admin/users/{}", admin.id)))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 409, "{body}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "last_admin");
    }
    let (active, role): (bool, String) =
        sqlx::query_as("SELECT is_active, role FROM users WHERE id = $1")
            .bind(admin.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        active && role == "admin",
        "the refused change was rolled back"
    );
    assert!(app.audit("user_deactivated").await.is_empty());
    // The admin can still sign in.
    assert_eq!(app.login("root", PASSWORD, None).await.0, 200);
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = TestApp::spawn().await;
    let a = app.new_admin("root-a").await;
    let b = app.new_admin("root-b").await;
    for round in 0..10 {
        sqlx::query("UPDATE users SET role = 'admin' WHERE handle IN ('root-a', 'root-b')")
            .execute(&app.db)
            .await
            .unwrap();
        let demote = |by: &crate::helpers::TestUser, whom: uuid::Uuid| {
            by.client
                .patch(app.url(&format!("/api/admin/users/{whom}")))
                .json(&json!({ "role": "user" }))
                .send()
        };
        let (ra, rb) = tokio::join!(demote(&a, b.id), demote(&b, a.id));
        let statuses = [ra.unwrap().status().as_u16(), rb.unwrap().status().as_u16()];
        let admins: i64 =
            sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND is_active")
                .fetch_one(&app.db)
                .await
                .unwrap();
        // Before the fix both could succeed and leave none.
        assert_eq!(admins, 1, "round {round}: {statuses:?}");
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        // The other was refused: as the last admin (409) or, if it arrived after the demotion,
        // as no longer an admin (403).
        assert!(
            statuses.iter().all(|s| [200, 403, 409].contains(s)),
            "round {round}: {statuses:?}"
        );
    }
}
