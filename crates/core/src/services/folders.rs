//! Folders: create, list, rename, move (no cycles, bounded depth, names unique among
//! siblings), delete (refused while not empty unless the caller says what becomes of the
//! contents: moved up to the parent, or deleted with their quota given back).

use uuid::Uuid;

use super::Vault;
use super::documents::invalid;
use crate::db::folders::{self as q, FolderRow};
use crate::error::{Error, Result};
use docuvault_domain::ObjectKey;

/// Folders nest at most this deep.
pub const MAX_DEPTH: i32 = 32;
pub const MAX_NAME_CHARS: usize = 128;

/// What a folder's delete does with what is inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// Refuse unless the folder is empty.
    MustBeEmpty,
    MoveToParent,
    Delete,
}

/// A change of a folder; `parent` is `Some(None)` for "to the root".
#[derive(Debug, Clone, Default)]
pub struct FolderChanges {
    pub name: Option<String>,
    pub parent: Option<Option<Uuid>>,
}

fn checked_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(invalid(
            "invalid_folder_name",
            format!("a folder name has 1 to {MAX_NAME_CHARS} characters and no control characters"),
        ));
    }
    Ok(name.to_owned())
}

impl Vault {
    pub async fn folders(&self, owner: Uuid) -> Result<Vec<FolderRow>> {
        q::list(&self.db, owner).await
    }

    pub async fn create_folder(
        &self,
        owner: Uuid,
        name: &str,
        parent: Option<Uuid>,
    ) -> Result<FolderRow> {
        let name = checked_name(name)?;
        let mut tx = self.db.begin().await?;
        q::lock_tree(&mut tx, owner).await?;
        if let Some(parent) = parent {
            let depth = q::depth(&mut *tx, owner, parent)
                .await?
                .ok_or(Error::NotFound("folder"))?;
            if depth + 1 > MAX_DEPTH {
                return Err(too_deep());
            }
        }
        let row = q::insert(&mut *tx, owner, parent, &name).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn update_folder(
        &self,
        owner: Uuid,
        id: Uuid,
        changes: FolderChanges,
    ) -> Result<FolderRow> {
        let name = changes.name.as_deref().map(checked_name).transpose()?;
        let mut tx = self.db.begin().await?;
        q::lock_tree(&mut tx, owner).await?;
        q::get(&mut *tx, owner, id)
            .await?
            .ok_or(Error::NotFound("folder"))?;
        if let Some(parent) = changes.parent {
            if let Some(parent) = parent {
                if q::is_within(&mut *tx, owner, id, parent).await? {
                    return Err(Error::conflict(
                        "folder_cycle",
                        "a folder cannot move into itself or one of its subfolders",
                    ));
                }
                let depth = q::depth(&mut *tx, owner, parent)
                    .await?
                    .ok_or(Error::NotFound("folder"))?;
                if depth + q::height(&mut *tx, owner, id).await? > MAX_DEPTH {
                    return Err(too_deep());
                }
            }
            q::set_parent(&mut *tx, owner, id, parent).await?;
        }
        if let Some(name) = &name {
            q::rename(&mut *tx, owner, id, name).await?;
        }
        let row = q::get(&mut *tx, owner, id)
            .await?
            .ok_or(Error::NotFound("folder"))?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn delete_folder(&self, owner: Uuid, id: Uuid, contents: Contents) -> Result<()> {
        let mut tx = self.db.begin().await?;
        q::lock_tree(&mut tx, owner).await?;
        let folder = q::get(&mut *tx, owner, id)
            .await?
            .ok_or(Error::NotFound("folder"))?;
        let keys = match contents {
            Contents::MustBeEmpty => {
                if !q::is_empty(&mut *tx, owner, id).await? {
                    return Err(Error::conflict(
                        "folder_not_empty",
                        "the folder is not empty: say whether its contents move to the parent or are deleted (contents=move_to_parent|delete)",
                    ));
                }
                q::delete_moving_contents(&mut tx, owner, id, folder.parent_id).await?;
                Vec::new()
            }
            Contents::MoveToParent => {
                q::delete_moving_contents(&mut tx, owner, id, folder.parent_id).await?;
                Vec::new()
            }
            Contents::Delete => {
                let _queued = self.quota_gates.enter(owner).await;
                q::delete_with_contents(&mut *tx, owner, id).await?
            }
        };
        tx.commit().await?;
        tracing::info!(folder_id = %id, documents_deleted = keys.len(), "folder deleted");
        for key in keys {
            self.drop_scheduled_object(&ObjectKey::from_stored(key))
                .await;
        }
        Ok(())
    }
}

fn too_deep() -> Error {
    Error::conflict(
        "folder_too_deep",
        format!("folders nest at most {MAX_DEPTH} levels deep"),
    )
}
