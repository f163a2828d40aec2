//! `docuvault secrets rotate`: after `SECRET_KEY` is replaced (the old one kept in
//! `SECRET_KEY_PREVIOUS` meanwhile), seals every stored secret again under the new key — AI API
//! keys, TOTP secrets, mail account passwords, cloud connection credentials — so the previous key
//! can be dropped. Each row is updated only if it still holds what was read (a change made
//! meanwhile wins), and running it again changes nothing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;
use crate::crypto::{Purpose, Sealer};

/// What a rotation did, per kind of secret.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Sealed again under the current key.
    pub resealed: Vec<(&'static str, u64)>,
    /// Opened with neither key: left as they are (their owners must enter them again).
    pub unreadable: Vec<(&'static str, u64)>,
}

pub async fn rotate(db: &PgPool, sealer: &Sealer) -> Result<Rotation> {
    let mut report = Rotation::default();
    let mut tally = |kind, (resealed, unreadable): (u64, u64)| {
        report.resealed.push((kind, resealed));
        report.unreadable.push((kind, unreadable));
    };

    // AI API keys: sealed for the user, not bound to a record.
    let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT user_id, api_key_enc FROM ai_settings WHERE api_key_enc IS NOT NULL",
    )
    .fetch_all(db)
    .await?;
    let mut n = (0, 0);
    for (user, sealed) in rows {
        match reseal(sealer, Purpose::AiApiKey, user, None, &sealed)? {
            Some(new) => {
                let done = sqlx::query(
                    "UPDATE ai_settings SET api_key_enc = $3 WHERE user_id = $1 AND api_key_enc = $2",
                )
                .bind(user)
                .bind(&sealed)
                .bind(new)
                .execute(db)
                .await?;
                n.0 += done.rows_affected();
            }
            None if !sealer.opens_with_current(Purpose::AiApiKey, user, None, &sealed) => n.1 += 1,
            None => {}
        }
    }
    tally("ai_api_keys", n);

    // TOTP secrets: base64 text.
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL")
            .fetch_all(db)
            .await?;
    let mut n = (0, 0);
    for (user, stored) in rows {
        let Ok(sealed) = STANDARD.decode(&stored) else {
            n.1 += 1;
            continue;
        };
        match reseal(sealer, Purpose::TotpSecret, user, None, &sealed)? {
            Some(new) => {
                let done = sqlx::query(
                    "UPDATE users SET totp_secret = $3 WHERE id = $1 AND totp_secret = $2",
                )
                .bind(user)
                .bind(&stored)
                .bind(STANDARD.encode(new))
                .execute(db)
                .await?;
                n.0 += done.rows_affected();
            }
            None if !sealer.opens_with_current(Purpose::TotpSecret, user, None, &sealed) => {
                n.1 += 1
            }
            None => {}
        }
    }
    tally("totp_secrets", n);

    // Mail account passwords: bound to the account.
    let rows: Vec<(Uuid, Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, user_id, password_enc FROM mail_accounts")
            .fetch_all(db)
            .await?;
    let mut n = (0, 0);
    for (id, user, sealed) in rows {
        match reseal(sealer, Purpose::MailPassword, user, Some(id), &sealed)? {
            Some(new) => {
                let done = sqlx::query(
                    "UPDATE mail_accounts SET password_enc = $3 WHERE id = $1 AND password_enc = $2",
                )
                .bind(id)
                .bind(&sealed)
                .bind(new)
                .execute(db)
                .await?;
                n.0 += done.rows_affected();
            }
            None if !sealer.opens_with_current(Purpose::MailPassword, user, Some(id), &sealed) => {
                n.1 += 1
            }
            None => {}
        }
    }
    tally("mail_passwords", n);

    // Cloud credentials: versioned (the first byte names the key).
    let rows: Vec<(Uuid, Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, user_id, credentials_enc FROM cloud_connections")
            .fetch_all(db)
            .await?;
    let mut n = (0, 0);
    for (id, user, sealed) in rows {
        if sealer.is_current(&sealed)
            && sealer
                .open_versioned(Purpose::CloudCredentials, user, id, &sealed)
                .is_ok()
        {
            continue;
        }
        let Ok(plain) = sealer.open_versioned(Purpose::CloudCredentials, user, id, &sealed) else {
            n.1 += 1;
            continue;
        };
        let new = sealer.seal_versioned(Purpose::CloudCredentials, user, id, &plain)?;
        let done = sqlx::query(
            "UPDATE cloud_connections SET credentials_enc = $3 WHERE id = $1 AND credentials_enc = $2",
        )
        .bind(id)
        .bind(&sealed)
        .bind(new)
        .execute(db)
        .await?;
        n.0 += done.rows_affected();
    }
    tally("cloud_credentials", n);
    Ok(report)
}

/// The value sealed again under the current key, or `None` if it needs no change (it opens
/// with the current key) or cannot be opened at all.
fn reseal(
    sealer: &Sealer,
    purpose: Purpose,
    owner: Uuid,
    bound: Option<Uuid>,
    sealed: &[u8],
) -> Result<Option<Vec<u8>>> {
    if sealer.opens_with_current(purpose, owner, bound, sealed) {
        return Ok(None);
    }
    match sealer.open_bound(purpose, owner, bound, sealed) {
        Ok(plain) => Ok(Some(sealer.seal_bound(purpose, owner, bound, &plain)?)),
        Err(_) => Ok(None),
    }
}
