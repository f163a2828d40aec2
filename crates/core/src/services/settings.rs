//! AI settings: which provider and model classify a user's documents. An admin assigns them
//! per user (or leaves the instance default) and decides whether the user may choose their
//! own; no document text goes to a provider that neither the operator, an admin, nor (where an
//! admin allowed it) the user chose. The API key is write-only: sealed for its user before it
//! is stored, and the read side only ever says whether one is set. Every change is audited.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Vault;
use super::accounts::{Caller, RequestMeta};
use crate::ai::egress;
use crate::crypto::Purpose;
use crate::db::ai_settings::{self as q, AiSettingsRow, KeyChange};
use crate::db::{audit, users};
use crate::error::{Error, Result};
use docuvault_domain::{AiSettingsUpdate, Role, ValidationError};

/// The settings in effect for a user, as shown to them or to an admin: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiSettingsView {
    pub provider: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_set: bool,
    /// `default` (the instance's), `admin` (assigned) or `user` (chosen by the user).
    pub source: &'static str,
    /// Whether the user may change them themself.
    pub self_service: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

/// An admin's decision for one user: `settings` `None` returns them to the instance default;
/// `self_service` `None` leaves that permission as it is.
#[derive(Debug, Clone)]
pub struct AiAssignment {
    pub settings: Option<AiSettingsUpdate>,
    pub self_service: Option<bool>,
}

impl Vault {
    /// The caller's own AI settings.
    pub async fn ai_settings(&self, caller: &Caller) -> Result<AiSettingsView> {
        self.ai_view(caller.id).await
    }

    async fn ai_view(&self, user: Uuid) -> Result<AiSettingsView> {
        let self_service = users::ai_self_service(&self.db, user)
            .await?
            .ok_or(Error::NotFound("user"))?;
        Ok(match q::get(&self.db, user).await? {
            Some(row) => view(row, self_service),
            None => AiSettingsView {
                provider: self.ai.default_provider.as_str().to_owned(),
                model: self.ai.default_model.clone(),
                base_url: self.ai.default_base_url.as_ref().map(|u| u.to_string()),
                api_key_set: self.ai.default_api_key.is_some(),
                source: "default",
                self_service,
                updated_at: None,
            },
        })
    }

    /// The caller chooses their own settings: admins always may, others where an admin
    /// allowed it.
    pub async fn update_ai_settings(
        &self,
        caller: &Caller,
        update: AiSettingsUpdate,
        meta: &RequestMeta,
    ) -> Result<AiSettingsView> {
        let admin = caller.role == Role::Admin;
        let allowed = admin
            || users::ai_self_service(&self.db, caller.id)
                .await?
                .unwrap_or(false);
        if !allowed {
            return Err(Error::forbidden(
                "ai_settings_locked",
                "your admin chooses the AI provider that classifies your documents",
            ));
        }
        if !self.ai_allow_private
            && !admin
            && update
                .base_url
                .as_ref()
                .is_some_and(|u| !egress::host_allowed(u))
        {
            return Err(ValidationError::new(
                "base_url_not_allowed",
                "a private or loopback address as base URL needs an admin (or AI_ALLOW_PRIVATE_ENDPOINTS=true)",
            )
            .into());
        }
        let mut tx = self.db.begin().await?;
        let row = self.store_ai(&mut tx, caller.id, &update, None).await?;
        audit::record(
            &mut *tx,
            &meta.event(
                "ai_settings_changed",
                Some(caller.id),
                Some(caller.id),
                described(&update),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(view(row, allowed))
    }

    /// A user's AI settings, for an admin.
    pub async fn admin_ai_settings(&self, caller: &Caller, user: Uuid) -> Result<AiSettingsView> {
        caller.require_admin()?;
        self.ai_view(user).await
    }

    /// An admin assigns a user's provider (or the instance default) and decides whether the
    /// user may change it; one transaction, audited with the admin as actor.
    pub async fn admin_assign_ai(
        &self,
        caller: &Caller,
        user: Uuid,
        assignment: AiAssignment,
        meta: &RequestMeta,
    ) -> Result<AiSettingsView> {
        caller.require_admin()?;
        let mut tx = self.db.begin().await?;
        let mut self_service = users::ai_self_service(&mut *tx, user)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if let Some(allowed) = assignment.self_service {
            users::set_ai_self_service(&mut *tx, user, allowed).await?;
            self_service = allowed;
        }
        let mut metadata = match &assignment.settings {
            Some(update) => {
                self.store_ai(&mut tx, user, update, Some(caller.id))
                    .await?;
                described(update)
            }
            None => {
                q::delete(&mut *tx, user).await?;
                json!({ "provider": "default" })
            }
        };
        metadata["self_service"] = json!(self_service);
        audit::record(
            &mut *tx,
            &meta.event("ai_assigned", Some(user), Some(caller.id), metadata),
        )
        .await?;
        tx.commit().await?;
        self.ai_view(user).await
    }

    async fn store_ai(
        &self,
        tx: &mut sqlx::PgTransaction<'_>,
        user: Uuid,
        update: &AiSettingsUpdate,
        assigned_by: Option<Uuid>,
    ) -> Result<AiSettingsRow> {
        let key = match &update.api_key {
            None => KeyChange::Keep,
            Some(None) => KeyChange::Clear,
            // Sealed for the user whose documents it serves, whoever enters it.
            Some(Some(k)) => {
                KeyChange::Set(self.sealer.seal(Purpose::AiApiKey, user, k.as_bytes())?)
            }
        };
        q::upsert(
            &mut **tx,
            user,
            update.provider.as_str(),
            update.model.as_deref(),
            update.base_url.as_ref().map(url::Url::as_str),
            key,
            assigned_by,
        )
        .await
    }
}

fn view(row: AiSettingsRow, self_service: bool) -> AiSettingsView {
    AiSettingsView {
        source: if row.assigned_by.is_some() {
            "admin"
        } else {
            "user"
        },
        provider: row.provider,
        model: row.model,
        base_url: row.base_url,
        api_key_set: row.api_key_enc.is_some(),
        self_service,
        updated_at: Some(row.updated_at),
    }
}

/// What the audit log keeps of a settings change: never the key, only whether it changed.
fn described(update: &AiSettingsUpdate) -> serde_json::Value {
    json!({
        "provider": update.provider.as_str(),
        "model": update.model,
        "base_url": update.base_url.as_ref().map(url::Url::as_str),
        "api_key": match &update.api_key {
            None => "kept",
            Some(None) => "removed",
            Some(Some(_)) => "replaced",
        },
    })
}
