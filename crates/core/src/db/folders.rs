//! Queries on `folders` (see `migrations/0010_folders.sql`). Every query is scoped by owner.
//! Changes to a user's tree (create, move, delete) run in a transaction that first takes the
//! user's folder lock ([`lock_tree`]), so the cycle and depth checks read a tree no concurrent
//! move of the same user can change before the commit. SQL texts that vary are assembled only
//! from the constants here (every value is a bound parameter), which is what `AssertSqlSafe` asserts.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::Result;
use crate::error::{Error, violated_constraint};

/// A taken sibling name, or a parent that is not the owner's, as the constraints report them.
fn folder_error(e: sqlx::Error) -> Error {
    match violated_constraint(&e) {
        Some("folders_user_parent_name_key") => Error::Conflict {
            code: "folder_name_taken",
            message: "a folder with this name is already there".into(),
        },
        Some("folders_parent_same_user_fkey") => Error::NotFound("folder"),
        _ => e.into(),
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct FolderRow {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Documents directly in this folder.
    pub document_count: i64,
}

/// Serialises changes to one user's folder tree (a transaction-scoped advisory lock).
pub async fn lock_tree(tx: &mut PgConnection, owner: Uuid) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('docuvault:folders'), hashtext($1::text))")
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn list(db: impl PgExecutor<'_>, owner: Uuid) -> Result<Vec<FolderRow>> {
    Ok(sqlx::query_as(
        "SELECT f.id, f.parent_id, f.name, f.created_at,
                (SELECT count(*) FROM documents d WHERE d.user_id = f.user_id AND d.folder_id = f.id)
                    AS document_count
           FROM folders f WHERE f.user_id = $1
          ORDER BY lower(f.name), f.id",
    )
    .bind(owner)
    .fetch_all(db)
    .await?)
}

pub async fn get(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<Option<FolderRow>> {
    Ok(sqlx::query_as(
        "SELECT f.id, f.parent_id, f.name, f.created_at,
                (SELECT count(*) FROM documents d WHERE d.user_id = f.user_id AND d.folder_id = f.id)
                    AS document_count
           FROM folders f WHERE f.user_id = $1 AND f.id = $2",
    )
    .bind(owner)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Whether the owner has folder `id` (without counting its documents, which `get` does).
pub async fn exists(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM folders WHERE user_id = $1 AND id = $2)")
            .bind(owner)
            .bind(id)
            .fetch_one(db)
            .await?,
    )
}

/// The folder's name, if the owner has it.
pub async fn name_of(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT name FROM folders WHERE user_id = $1 AND id = $2")
            .bind(owner)
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// How deep `id` is (a root folder is 1); `None` if the owner has no such folder.
pub async fn depth(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<Option<i32>> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE up AS (
              SELECT id, parent_id, 1 AS depth FROM folders WHERE user_id = $1 AND id = $2
              UNION ALL
              SELECT f.id, f.parent_id, up.depth + 1 FROM folders f
                JOIN up ON f.id = up.parent_id AND f.user_id = $1
               WHERE up.depth < 1000)
         SELECT max(depth) FROM up HAVING count(*) > 0",
    )
    .bind(owner)
    .bind(id)
    .fetch_optional(db)
    .await?
    .flatten())
}

/// The folder `$2` of user `$1` and everything under it, as the CTE `down (id, level)` (the
/// folder itself is level 1). The level bound only guards against a corrupt tree.
const SUBTREE: &str = "WITH RECURSIVE down AS (
              SELECT id, 1 AS level FROM folders WHERE user_id = $1 AND id = $2
              UNION ALL
              SELECT f.id, down.level + 1 FROM folders f
                JOIN down ON f.parent_id = down.id AND f.user_id = $1
               WHERE down.level < 1000)";

/// How many levels the subtree under `id` has, `id` included (a folder without subfolders: 1).
pub async fn height(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<i32> {
    let sql = format!("{SUBTREE} SELECT coalesce(max(level), 0) FROM down");
    Ok(sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .fetch_one(db)
        .await?)
}

/// Whether `candidate` is `id` itself or inside its subtree.
pub async fn is_within(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    id: Uuid,
    candidate: Uuid,
) -> Result<bool> {
    let sql = format!("{SUBTREE} SELECT EXISTS (SELECT 1 FROM down WHERE id = $3)");
    Ok(sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .bind(candidate)
        .fetch_one(db)
        .await?)
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    parent: Option<Uuid>,
    name: &str,
) -> Result<FolderRow> {
    sqlx::query_as(
        "INSERT INTO folders (user_id, parent_id, name) VALUES ($1, $2, $3)
         RETURNING id, parent_id, name, created_at, 0::bigint AS document_count",
    )
    .bind(owner)
    .bind(parent)
    .bind(name)
    .fetch_one(db)
    .await
    .map_err(folder_error)
}

pub async fn rename(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid, name: &str) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE folders SET name = $3 WHERE user_id = $1 AND id = $2")
            .bind(owner)
            .bind(id)
            .bind(name)
            .execute(db)
            .await
            .map_err(folder_error)?
            .rows_affected()
            == 1,
    )
}

pub async fn set_parent(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    id: Uuid,
    parent: Option<Uuid>,
) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE folders SET parent_id = $3 WHERE user_id = $1 AND id = $2")
            .bind(owner)
            .bind(id)
            .bind(parent)
            .execute(db)
            .await
            .map_err(folder_error)?
            .rows_affected()
            == 1,
    )
}

/// Whether the folder holds documents or subfolders.
pub async fn is_empty(db: impl PgExecutor<'_>, owner: Uuid, id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM documents WHERE user_id = $1 AND folder_id = $2)
            AND NOT EXISTS (SELECT 1 FROM folders WHERE user_id = $1 AND parent_id = $2)",
    )
    .bind(owner)
    .bind(id)
    .fetch_one(db)
    .await?)
}

/// Moves the folder's documents and subfolders up to its parent, then deletes it.
pub async fn delete_moving_contents(
    tx: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    parent: Option<Uuid>,
) -> Result<()> {
    sqlx::query("UPDATE documents SET folder_id = $3 WHERE user_id = $1 AND folder_id = $2")
        .bind(owner)
        .bind(id)
        .bind(parent)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE folders SET parent_id = $3 WHERE user_id = $1 AND parent_id = $2")
        .bind(owner)
        .bind(id)
        .bind(parent)
        .execute(&mut *tx)
        .await
        .map_err(folder_error)?;
    sqlx::query("DELETE FROM folders WHERE user_id = $1 AND id = $2")
        .bind(owner)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Deletes the folder, its subfolders and every document in them in one statement: the
/// documents' sizes go back to the quota and their objects onto the clean-up list (due now).
/// Returns the object keys to delete.
pub async fn delete_with_contents(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    id: Uuid,
) -> Result<Vec<String>> {
    let sql = format!(
        "{SUBTREE},
              gone AS (
              DELETE FROM documents d USING down
               WHERE d.user_id = $1 AND d.folder_id = down.id
           RETURNING d.object_key, d.size_bytes, d.storage_connection_id),
              released AS (
              UPDATE quotas SET used_bytes = greatest(used_bytes - (SELECT coalesce(sum(size_bytes), 0) FROM gone
                                                                     WHERE storage_connection_id IS NULL), 0)
               WHERE user_id = $1 AND EXISTS (SELECT 1 FROM gone)),
              scheduled AS (
              INSERT INTO object_cleanup (object_key, due_at) SELECT object_key, now() FROM gone
              ON CONFLICT (object_key) DO UPDATE SET due_at = EXCLUDED.due_at),
              folders_gone AS (
              DELETE FROM folders WHERE user_id = $1 AND id = $2)
         SELECT object_key FROM gone"
    );
    Ok(sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .fetch_all(db)
        .await?)
}
