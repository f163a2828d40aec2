//! Mail ingest: the attachments of new mail in a user's mailbox become their documents. The
//! workers take due mailboxes one at a time ([`check_due`]); each look reads at most
//! [`PER_LOOK`] messages, imports every attachment through the upload path with its SHA-256
//! (an attachment imported before a crash is not stored twice), and then marks the message
//! imported on the server. Inline pictures (a signature's logo) and forwarded messages are
//! not documents; a file type the vault does not take is skipped. An outage leaves the
//! message unmarked for the next look; a refused login marks the account `error` with the
//! reason until a look succeeds.

use std::net::SocketAddr;

use futures::StreamExt;
use mail_parser::{MessageParser, MimeHeaders};
use uuid::Uuid;

use super::imap::{self, ImapError, Mailbox, Security};
use crate::crypto::Purpose;
use crate::db::mail_accounts::{self as q, MailAccountRow};
use crate::error::Error;
use crate::services::Vault;
use crate::services::documents::Upload;

/// Messages read per look at one mailbox; the rest wait for the next.
pub const PER_LOOK: usize = 50;

/// What one look at a mailbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Look {
    pub messages: usize,
    pub imported: usize,
    pub already: usize,
    pub skipped: usize,
}

/// Where a mailbox's server is, if DocuVault may go there: private and loopback addresses only
/// with `MAIL_ALLOW_PRIVATE_ENDPOINTS`, and a connection without TLS only to those.
pub async fn resolve(
    vault: &Vault,
    host: &str,
    port: u16,
    security: Security,
) -> Result<SocketAddr, ImapError> {
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::lookup_host((host, port)),
    )
    .await;
    let addrs: Vec<SocketAddr> = match lookup {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(_)) | Err(_) => {
            return Err(ImapError {
                message: format!("the mail server {host} cannot be found"),
                retry: true,
            });
        }
    };
    let public = |a: &SocketAddr| crate::ai::egress::is_public(a.ip());
    let allowed = addrs
        .iter()
        .find(|a| vault.mail_ingest.allow_private || public(a))
        .copied();
    let Some(addr) = allowed else {
        return Err(ImapError {
            message: format!(
                "{host} is a private address; the server's operator may allow private mail servers (MAIL_ALLOW_PRIVATE_ENDPOINTS)"
            ),
            retry: false,
        });
    };
    if security == Security::None && public(&addr) {
        return Err(ImapError {
            message: "a mail server on the internet needs TLS or STARTTLS (the password would travel in the clear)".into(),
            retry: false,
        });
    }
    Ok(addr)
}

/// The account's mailbox with its password unsealed.
pub fn mailbox(vault: &Vault, row: &MailAccountRow) -> anyhow::Result<Mailbox> {
    let password = vault.sealer.open_bound(
        Purpose::MailPassword,
        row.user_id,
        Some(row.id),
        &row.password_enc,
    )?;
    Ok(Mailbox {
        host: row.host.clone(),
        port: u16::try_from(row.port)?,
        security: Security::parse(&row.security)
            .ok_or_else(|| anyhow::anyhow!("stored security {:?}", row.security))?,
        username: row.username.clone(),
        password: String::from_utf8(password)?,
        folder: row.folder.clone(),
    })
}

/// Looks at every mailbox that is due, one after another; how many were looked at.
pub async fn check_due(vault: &Vault) -> crate::Result<usize> {
    let mut looked = 0;
    while let Some(row) = q::claim_due(&vault.db, vault.mail_ingest.poll).await? {
        looked += 1;
        let outcome = match mailbox(vault, &row) {
            Ok(mailbox) => look(vault, row.user_id, &mailbox).await,
            Err(e) => {
                tracing::warn!(account = %row.id, error = %e, "cannot open a mail account's password");
                Err(ImapError {
                    message: "the stored password cannot be read (was SECRET_KEY changed?); enter it again".into(),
                    retry: false,
                })
            }
        };
        let (imported, error) = match &outcome {
            Ok(l) => (l.imported, None),
            Err(e) => (0, Some(e.message.as_str())),
        };
        match &outcome {
            Ok(l) => tracing::info!(account = %row.id, ?l, "looked at a mailbox"),
            Err(e) => {
                tracing::info!(account = %row.id, reason = %e.message, "a mailbox look failed")
            }
        }
        q::record_look(
            &vault.db,
            row.id,
            i32::try_from(imported).unwrap_or(i32::MAX),
            error,
        )
        .await?;
    }
    Ok(looked)
}

/// One look at one mailbox: imports what is new.
pub async fn look(vault: &Vault, owner: Uuid, mailbox: &Mailbox) -> Result<Look, ImapError> {
    let addr = resolve(vault, &mailbox.host, mailbox.port, mailbox.security).await?;
    let (mut session, keywords) = imap::open(&vault.mail_ingest, addr, mailbox).await?;
    let result = import_pending(vault, owner, &mut session, keywords).await;
    imap::close(session).await;
    result
}

async fn import_pending(
    vault: &Vault,
    owner: Uuid,
    session: &mut imap::Session,
    keywords: bool,
) -> Result<Look, ImapError> {
    let mut look = Look::default();
    // A message larger than an upload may be cannot hold an attachment the vault would take.
    let max = vault.max_upload_bytes.saturating_mul(2);
    for (uid, size) in imap::pending(session, keywords)
        .await?
        .into_iter()
        .take(PER_LOOK)
    {
        look.messages += 1;
        if u64::from(size) > max {
            tracing::info!(
                uid,
                size,
                "a message larger than any upload was marked, not read"
            );
            look.skipped += 1;
            imap::mark(session, uid, keywords).await?;
            continue;
        }
        let raw = imap::fetch(session, uid).await?;
        for (name, bytes) in attachments(&raw) {
            match import(vault, owner, &name, bytes).await {
                Imported::Yes => look.imported += 1,
                Imported::Already => look.already += 1,
                Imported::Skipped(why) => {
                    tracing::info!(uid, file = name, why, "attachment skipped");
                    look.skipped += 1;
                }
                Imported::Stop(e) => return Err(e),
            }
        }
        imap::mark(session, uid, keywords).await?;
    }
    Ok(look)
}

enum Imported {
    Yes,
    Already,
    Skipped(String),
    /// Stop this look and leave the message for the next (an outage, a full quota).
    Stop(ImapError),
}

async fn import(vault: &Vault, owner: Uuid, name: &str, bytes: Vec<u8>) -> Imported {
    use sha2::Digest;
    let hash: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    let size = bytes.len() as u64;
    let upload = Upload {
        filename: Some(name.to_owned()),
        declared_type: None,
        announced_bytes: Some(size),
        content_sha256: Some(hash),
        body: futures::stream::once(async move { Ok(bytes::Bytes::from(bytes)) }).boxed(),
    };
    match vault.upload(owner, upload).await {
        Ok(_) => Imported::Yes,
        Err(Error::Conflict {
            code: "already_imported",
            ..
        }) => Imported::Already,
        Err(Error::UnsupportedType { message, .. } | Error::BadRequest { message, .. }) => {
            Imported::Skipped(message)
        }
        Err(e @ Error::TooLarge { .. }) => Imported::Skipped(e.to_string()),
        Err(e @ Error::QuotaExceeded { .. }) => Imported::Stop(ImapError {
            message: format!("attachments wait: {e}"),
            retry: false,
        }),
        Err(e) => Imported::Stop(ImapError {
            message: format!("storing an attachment failed: {}", e.chain()),
            retry: true,
        }),
    }
}

/// The message's attachments that are documents: named parts, not inline pictures with a
/// Content-ID (a signature's logo), not forwarded messages.
pub fn attachments(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    message
        .attachments()
        .filter(|part| !part.is_message())
        .filter(|part| {
            let inline = part.content_disposition().is_some_and(|d| d.is_inline());
            !(inline && part.content_id().is_some())
        })
        .filter_map(|part| {
            let name = part.attachment_name()?.trim();
            (!name.is_empty()).then(|| (name.to_owned(), part.contents().to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_but_not_inline_logos_or_forwarded_mail() {
        let raw = "From: a@example.org\r\nTo: b@example.org\r\nSubject: Invoice\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
--b1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSBoZWxsbw==\r\n\
--b1\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-ID: <logo@x>\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\nFrom: c@example.org\r\nSubject: old\r\n\r\nold body\r\n\
--b1--\r\n";
        let found = attachments(raw.as_bytes());
        assert_eq!(
            found.len(),
            1,
            "{:?}",
            found.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        assert_eq!(found[0].0, "invoice.pdf");
        assert!(found[0].1.starts_with(b"%PDF-1.4"));
        assert!(attachments(b"not a mail at all").is_empty());
    }
}
