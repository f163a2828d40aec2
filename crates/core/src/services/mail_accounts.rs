//! Mail accounts a user connects for mail ingest ([`crate::ingest::mail`]): tested when
//! added (the login and the folder must work), the password sealed and bound to the account,
//! never shown again; listed with their status; looked at again on request; removed.

use uuid::Uuid;

use super::Vault;
use super::documents::invalid;
use crate::crypto::Purpose;
use crate::db::mail_accounts::{self as q, MailAccountRow, NewMailAccount};
use crate::error::{Error, Result};
use crate::ingest::imap::{self, ImapError, Mailbox, Security};

/// How many mailboxes one user may connect.
pub const MAX_ACCOUNTS: i64 = 10;

/// What a user enters to connect a mailbox.
#[derive(Debug)]
pub struct NewMailbox {
    pub host: String,
    pub port: Option<u16>,
    pub security: String,
    pub username: String,
    pub password: String,
    pub folder: Option<String>,
}

fn refused(e: &ImapError) -> Error {
    if e.retry {
        invalid("mail_server_unreachable", e.message.clone())
    } else {
        invalid("mail_login_failed", e.message.clone())
    }
}

impl Vault {
    /// Connects a mailbox after logging in to it once.
    pub async fn add_mail_account(&self, owner: Uuid, input: NewMailbox) -> Result<MailAccountRow> {
        let host = input.host.trim().trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty()
            || host.len() > 253
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        {
            return Err(invalid(
                "invalid_mail_host",
                "the server is a host name or an IP address",
            ));
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let security = Security::parse(&input.security).ok_or_else(|| {
            invalid(
                "invalid_mail_security",
                "security is \"tls\", \"starttls\" or \"none\"",
            )
        })?;
        let port = input.port.unwrap_or(match security {
            Security::Tls => 993,
            _ => 143,
        });
        if port == 0 {
            return Err(invalid("invalid_mail_port", "the port is 1 to 65535"));
        }
        let username = input.username.trim().to_owned();
        if username.is_empty() || username.len() > 320 || username.chars().any(char::is_control) {
            return Err(invalid(
                "invalid_mail_username",
                "the user name has 1 to 320 characters",
            ));
        }
        if input.password.is_empty()
            || input.password.len() > 1024
            || input.password.contains(['\r', '\n', '\0'])
        {
            return Err(invalid(
                "invalid_mail_password",
                "the password has 1 to 1024 characters and no line breaks",
            ));
        }
        let folder = input
            .folder
            .as_deref()
            .map_or("INBOX", str::trim)
            .to_owned();
        if folder.is_empty() || folder.len() > 200 || folder.chars().any(char::is_control) {
            return Err(invalid(
                "invalid_mail_folder",
                "the folder has 1 to 200 characters",
            ));
        }
        if q::count(&self.db, owner).await? >= MAX_ACCOUNTS {
            return Err(Error::conflict(
                "too_many_mail_accounts",
                format!("you have {MAX_ACCOUNTS} mail accounts; remove one first"),
            ));
        }
        let mailbox = Mailbox {
            host: host.clone(),
            port,
            security,
            username: username.clone(),
            password: input.password,
            folder: folder.clone(),
        };
        let addr = crate::ingest::mail::resolve(self, &host, port, security)
            .await
            .map_err(|e| refused(&e))?;
        let (session, _) = imap::open(&self.mail_ingest, addr, &mailbox)
            .await
            .map_err(|e| refused(&e))?;
        imap::close(session).await;

        let id = Uuid::new_v4();
        let sealed = self.sealer.seal_bound(
            Purpose::MailPassword,
            owner,
            Some(id),
            mailbox.password.as_bytes(),
        )?;
        q::insert(
            &self.db,
            &NewMailAccount {
                id,
                user_id: owner,
                host: &host,
                port: i32::from(port),
                security: security.as_str(),
                username: &username,
                password_enc: &sealed,
                folder: &folder,
            },
        )
        .await
    }

    pub async fn mail_accounts(&self, owner: Uuid) -> Result<Vec<MailAccountRow>> {
        q::list(&self.db, owner).await
    }

    pub async fn remove_mail_account(&self, owner: Uuid, id: Uuid) -> Result<()> {
        if q::delete(&self.db, owner, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("mail account"))
        }
    }

    /// Asks the workers to look at the mailbox now.
    pub async fn check_mail_account(&self, owner: Uuid, id: Uuid) -> Result<()> {
        if q::check_soon(&self.db, owner, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("mail account"))
        }
    }
}
