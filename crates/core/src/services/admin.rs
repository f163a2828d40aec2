//! What an admin can do: list accounts, (de)activate them, reset their TOTP, change roles and
//! quotas, read the audit log. Nothing here reads or acts as another user's content, and there
//! is no way to obtain another user's token: no impersonation pathway exists.

use serde_json::json;
use uuid::Uuid;

use super::Vault;
use super::accounts::{Caller, RequestMeta};
use crate::db::audit::{self, AuditRow};
use crate::db::sessions;
use crate::db::users::{self, AdminUserRow};
use crate::error::{Error, Result};
use docuvault_domain::Role;

/// The changes of one `PATCH /api/admin/users/{id}`; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub is_active: Option<bool>,
    pub role: Option<Role>,
    pub reset_totp: bool,
    pub quota_bytes: Option<i64>,
}

impl Vault {
    pub async fn admin_list_users(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AdminUserRow>> {
        caller.require_admin()?;
        users::admin_list(&self.db, after, limit).await
    }

    /// Applies every change in one transaction, each audited with the admin as actor. Refused
    /// if it would leave no active admin.
    pub async fn admin_update_user(
        &self,
        caller: &Caller,
        id: Uuid,
        changes: UserChanges,
        meta: &RequestMeta,
    ) -> Result<AdminUserRow> {
        caller.require_admin()?;
        if changes.quota_bytes.is_some_and(|q| q < 0) {
            return Err(Error::Invalid(docuvault_domain::ValidationError::new(
                "invalid_quota",
                "quota_bytes must be 0 or more",
            )));
        }
        let mut tx = self.db.begin().await?;
        // Changes that can remove an admin are serialised: two admins demoting each other at
        // the same moment would otherwise each see the other still active and both succeed.
        users::lock_admin_changes(&mut *tx).await?;
        let before = users::admin_get(&mut *tx, id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let event = |t, m| meta.event(t, Some(id), Some(caller.id), m);
        if let Some(active) = changes.is_active.filter(|a| *a != before.is_active) {
            users::set_active(&mut *tx, id, active).await?;
            if !active {
                sessions::revoke_all(&mut *tx, id).await?;
            }
            let t = if active {
                "user_reactivated"
            } else {
                "user_deactivated"
            };
            audit::record(&mut *tx, &event(t, json!({}))).await?;
        }
        if let Some(role) = changes.role.filter(|r| r.as_str() != before.role) {
            users::set_role(&mut *tx, id, role.as_str()).await?;
            audit::record(
                &mut *tx,
                &event(
                    "role_changed",
                    json!({ "from": before.role, "to": role.as_str() }),
                ),
            )
            .await?;
        }
        if changes.reset_totp && before.totp_enabled {
            users::disable_totp(&mut *tx, id).await?;
            audit::record(&mut *tx, &event("totp_reset_by_admin", json!({}))).await?;
        }
        if let Some(q) = changes
            .quota_bytes
            .filter(|q| Some(*q) != before.quota_limit_bytes)
        {
            users::set_quota(&mut *tx, id, q).await?;
            audit::record(
                &mut *tx,
                &event(
                    "quota_changed",
                    json!({ "from": before.quota_limit_bytes, "to": q }),
                ),
            )
            .await?;
        }
        if users::active_admins(&mut *tx).await? == 0 {
            return Err(Error::conflict(
                "last_admin",
                "this would leave no active admin",
            ));
        }
        let after = users::admin_get(&mut *tx, id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn admin_audit_log(
        &self,
        caller: &Caller,
        user: Option<Uuid>,
        event_type: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        caller.require_admin()?;
        audit::list(&self.db, user, event_type, before, limit).await
    }

    /// Sets a password from the server's shell (`docuvault user set-password`); ends every
    /// sign-in of the account.
    pub async fn set_password_from_cli(&self, handle: &str, password: &str) -> Result<()> {
        let user = users::find_by_handle(&self.db, handle)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let event = RequestMeta::default().event(
            "password_set_by_operator",
            Some(user.id),
            None,
            json!({ "via": "cli" }),
        );
        self.replace_password(&user, password, &event).await
    }
}
