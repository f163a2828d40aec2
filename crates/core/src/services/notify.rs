//! Optional emails, each a user's own setting: a document of theirs that failed, a document
//! shared with them, a suspicious sign-in (a refresh token used twice). Sent after the change
//! they tell of is committed, off the request's path, best effort: a mail server that is down
//! is logged and delays nothing.

use sqlx::FromRow;
use uuid::Uuid;

use super::Vault;
use crate::error::{Error, Result};
use crate::mail::Mail;

/// A user's notification settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct NotificationSettings {
    pub notify_document_failed: bool,
    pub notify_document_shared: bool,
    pub notify_suspicious_sign_in: bool,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy)]
pub enum Notice {
    DocumentFailed,
    DocumentShared,
    SuspiciousSignIn,
}

impl Notice {
    const fn column(self) -> &'static str {
        match self {
            Self::DocumentFailed => "notify_document_failed",
            Self::DocumentShared => "notify_document_shared",
            Self::SuspiciousSignIn => "notify_suspicious_sign_in",
        }
    }
}

impl Vault {
    pub async fn notification_settings(&self, user: Uuid) -> Result<NotificationSettings> {
        sqlx::query_as(
            "SELECT notify_document_failed, notify_document_shared, notify_suspicious_sign_in
               FROM users WHERE id = $1",
        )
        .bind(user)
        .fetch_optional(&self.db)
        .await?
        .ok_or(Error::NotFound("user"))
    }

    pub async fn set_notification_settings(
        &self,
        user: Uuid,
        s: NotificationSettings,
    ) -> Result<NotificationSettings> {
        sqlx::query_as(
            "UPDATE users SET notify_document_failed = $2, notify_document_shared = $3,
                    notify_suspicious_sign_in = $4
              WHERE id = $1
          RETURNING notify_document_failed, notify_document_shared, notify_suspicious_sign_in",
        )
        .bind(user)
        .bind(s.notify_document_failed)
        .bind(s.notify_document_shared)
        .bind(s.notify_suspicious_sign_in)
        .fetch_optional(&self.db)
        .await?
        .ok_or(Error::NotFound("user"))
    }

    /// Emails `user` about `notice` if they asked for it; `body` is given their handle.
    pub async fn notify(
        &self,
        user: Uuid,
        notice: Notice,
        subject: String,
        body: impl FnOnce(&str) -> String,
    ) {
        let sql = format!(
            "SELECT email, handle FROM users WHERE id = $1 AND is_active AND {}",
            notice.column()
        );
        let found: std::result::Result<Option<(String, String)>, _> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(user)
                .fetch_optional(&self.db)
                .await;
        let (to, handle) = match found {
            Ok(Some(recipient)) => recipient,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, ?notice, "cannot read whom to notify");
                return;
            }
        };
        let mail = Mail {
            to,
            subject,
            body: body(&handle),
        };
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    ?notice,
                    "a notification could not be sent"
                );
            }
        });
    }

    /// A link into the app, for emails.
    pub(crate) fn app_link(&self, path: &str) -> String {
        let mut link = self.auth.public_url.clone();
        link.set_path(path);
        link.to_string()
    }

    /// Tells the owner of a document that just failed, if they asked.
    pub async fn notify_document_failed(&self, document: Uuid) {
        let row: std::result::Result<Option<(Uuid, String, Option<String>)>, _> = sqlx::query_as(
            "SELECT user_id, filename, error FROM documents WHERE id = $1 AND status = 'failed'",
        )
        .bind(document)
        .fetch_optional(&self.db)
        .await;
        let Ok(Some((owner, filename, error))) = row else {
            return;
        };
        let link = self.app_link(&format!("/documents/{document}"));
        self.notify(
            owner,
            Notice::DocumentFailed,
            format!("DocuVault could not process \"{filename}\""),
            |handle| {
                format!(
                    "Hello {handle},\n\nDocuVault could not process your document \"{filename}\":\n\n  {}\n\n\
                     It is kept as it is; open it to try again or to delete it:\n{link}\n\n\
                     You get this email because you asked for it on your Account page.\n",
                    error.as_deref().unwrap_or("no reason was recorded")
                )
            },
        )
        .await;
    }
}
