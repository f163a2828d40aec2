//! AI settings. The API key is write-only: it is sealed before it is stored and the read side
//! only ever says whether one is set.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Vault;
use super::accounts::Caller;
use crate::ai::egress;
use crate::crypto::Purpose;
use crate::db::ai_settings::{self as q, AiSettingsRow, KeyChange};
use crate::error::Result;
use docuvault_domain::{AiProviderKind, AiSettingsUpdate, Role, ValidationError};

/// The settings as shown to their owner: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiSettingsView {
    pub provider: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_set: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<AiSettingsRow> for AiSettingsView {
    fn from(r: AiSettingsRow) -> Self {
        Self {
            provider: r.provider,
            model: r.model,
            base_url: r.base_url,
            api_key_set: r.api_key_enc.is_some(),
            updated_at: Some(r.updated_at),
        }
    }
}

impl Vault {
    pub async fn ai_settings(&self, owner: Uuid) -> Result<AiSettingsView> {
        Ok(match q::get(&self.db, owner).await? {
            Some(row) => row.into(),
            // Nothing saved yet: the privacy-first default.
            None => AiSettingsView {
                provider: AiProviderKind::Local.as_str().to_owned(),
                model: None,
                base_url: None,
                api_key_set: false,
                updated_at: None,
            },
        })
    }

    pub async fn update_ai_settings(
        &self,
        caller: &Caller,
        update: AiSettingsUpdate,
    ) -> Result<AiSettingsView> {
        let owner = caller.id;
        let limited = !self.ai_allow_private && caller.role != Role::Admin;
        if limited
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
        let key = match &update.api_key {
            None => KeyChange::Keep,
            Some(None) => KeyChange::Clear,
            Some(Some(k)) => {
                KeyChange::Set(self.sealer.seal(Purpose::AiApiKey, owner, k.as_bytes())?)
            }
        };
        let row = q::upsert(
            &self.db,
            owner,
            update.provider.as_str(),
            update.model.as_deref(),
            update.base_url.as_ref().map(url::Url::as_str),
            key,
        )
        .await?;
        Ok(row.into())
    }
}
