//! The accounts migration (0004) on a database that was used before accounts existed: nothing
//! is lost, everything gets an owner, and the operator can claim that owner from the shell.

use docuvault_core::auth::Passwords;
use docuvault_core::db::MIGRATOR;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::helpers::{stack_var, with_database};

#[tokio::test]
async fn ownerless_rows_get_an_owner_the_operator_can_claim() {
    let db = format!("dvt_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&stack_var("DOCUVAULT_TEST_PG_ADMIN_URL"))
        .await
        .unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "CREATE DATABASE {db} OWNER docuvault_migrate"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let url = with_database(&stack_var("DATABASE_MIGRATE_URL"), &db);
    let result = async move {
        let conn = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        // The single-owner schema, with data in it.
        MIGRATOR.run_to(3, &conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO documents (filename, object_key, content_type) VALUES ('old.pdf', 'null-user/x/y.pdf', 'application/pdf');
             INSERT INTO topics (name) VALUES ('Taxes');
             INSERT INTO ai_settings (provider, model, api_key_enc) VALUES ('openai', 'gpt-x', '\\x0102');",
        )
        .execute(&conn)
        .await
        .unwrap();

        MIGRATOR.run(&conn).await.unwrap();
        let (owner, handle, role, hash): (Uuid, String, String, String) =
            sqlx::query_as("SELECT id, handle, role, password_hash FROM users")
                .fetch_one(&conn)
                .await
                .unwrap();
        assert_eq!(
            (handle.as_str(), role.as_str(), hash.as_str()),
            ("owner", "admin", "!")
        );
        let owners: Vec<Option<Uuid>> = sqlx::query_scalar(
            "SELECT user_id FROM documents UNION ALL SELECT user_id FROM topics UNION ALL SELECT user_id FROM ai_settings",
        )
        .fetch_all(&conn)
        .await
        .unwrap();
        assert_eq!(owners, vec![Some(owner); 3]);
        let (model, key): (Option<String>, Option<Vec<u8>>) =
            sqlx::query_as("SELECT model, api_key_enc FROM ai_settings")
                .fetch_one(&conn)
                .await
                .unwrap();
        assert_eq!(model.as_deref(), Some("gpt-x"), "settings kept");
        assert_eq!(
            key, None,
            "the key sealed for no owner is dropped, not mis-opened"
        );
        let key_of_old: String = sqlx::query_scalar("SELECT object_key FROM documents")
            .fetch_one(&conn)
            .await
            .unwrap();
        assert_eq!(
            key_of_old, "null-user/x/y.pdf",
            "stored objects keep their keys"
        );
        // Ownerless rows can no longer be made.
        let refused = sqlx::query("INSERT INTO topics (name) VALUES ('Nobody''s')")
            .execute(&conn)
            .await;
        assert!(refused.is_err());
        // The '!' hash matches no password, so nobody can sign in as `owner` until the
        // operator sets one.
        assert!(!Passwords::new().verify("!", Some(hash)).await.unwrap());
        assert_eq!(
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM quotas")
                .fetch_one(&conn)
                .await
                .unwrap(),
            1
        );
        // 0006: the quota starts from what is stored; 0007: whoever had chosen a remote AI
        // provider keeps choosing it.
        let (used, self_service): (i64, bool) = sqlx::query_as(
            "SELECT q.used_bytes, u.ai_self_service FROM quotas q JOIN users u ON u.id = q.user_id",
        )
        .fetch_one(&conn)
        .await
        .unwrap();
        let stored: i64 = sqlx::query_scalar("SELECT sum(size_bytes)::bigint FROM documents")
            .fetch_one(&conn)
            .await
            .unwrap();
        assert_eq!((used, self_service), (stored, true));
        conn.close().await;
    };
    // Run, then drop the database whatever happened.
    let outcome = tokio::spawn(result).await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    outcome.unwrap();
}
