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

/// One column of sealed values: the query that reads `(row key, owner, sealed)` and the one that
/// replaces a value (`$1` row key, `$2` the value read, `$3` the new one).
struct Column {
    kind: &'static str,
    purpose: Purpose,
    /// The value is bound to its row (the row key is the associated data).
    bound: bool,
    /// Stored as base64 text rather than bytes.
    base64: bool,
    /// Sealed with a key-version byte in front.
    versioned: bool,
    select: &'static str,
    update: &'static str,
}

const COLUMNS: [Column; 4] = [
    Column {
        kind: "ai_api_keys",
        purpose: Purpose::AiApiKey,
        bound: false,
        base64: false,
        versioned: false,
        select: "SELECT user_id, user_id, api_key_enc FROM ai_settings WHERE api_key_enc IS NOT NULL",
        update: "UPDATE ai_settings SET api_key_enc = $3 WHERE user_id = $1 AND api_key_enc = $2",
    },
    Column {
        kind: "totp_secrets",
        purpose: Purpose::TotpSecret,
        bound: false,
        base64: true,
        versioned: false,
        select: "SELECT id, id, convert_to(totp_secret, 'UTF8') FROM users WHERE totp_secret IS NOT NULL",
        update: "UPDATE users SET totp_secret = convert_from($3, 'UTF8')
                  WHERE id = $1 AND totp_secret = convert_from($2, 'UTF8')",
    },
    Column {
        kind: "mail_passwords",
        purpose: Purpose::MailPassword,
        bound: true,
        base64: false,
        versioned: false,
        select: "SELECT id, user_id, password_enc FROM mail_accounts",
        update: "UPDATE mail_accounts SET password_enc = $3 WHERE id = $1 AND password_enc = $2",
    },
    Column {
        kind: "cloud_credentials",
        purpose: Purpose::CloudCredentials,
        bound: true,
        base64: false,
        versioned: true,
        select: "SELECT id, user_id, credentials_enc FROM cloud_connections",
        update: "UPDATE cloud_connections SET credentials_enc = $3 WHERE id = $1 AND credentials_enc = $2",
    },
];

pub async fn rotate(db: &PgPool, sealer: &Sealer) -> Result<Rotation> {
    let mut report = Rotation::default();
    for column in &COLUMNS {
        let rows: Vec<(Uuid, Uuid, Vec<u8>)> = sqlx::query_as(column.select).fetch_all(db).await?;
        let (mut resealed, mut unreadable) = (0, 0);
        for (key, owner, stored) in rows {
            match column.reseal(sealer, key, owner, &stored)? {
                Outcome::Current => {}
                Outcome::Unreadable => unreadable += 1,
                Outcome::Resealed(new) => {
                    let done = sqlx::query(column.update)
                        .bind(key)
                        .bind(&stored)
                        .bind(new)
                        .execute(db)
                        .await?;
                    resealed += done.rows_affected();
                }
            }
        }
        report.resealed.push((column.kind, resealed));
        report.unreadable.push((column.kind, unreadable));
    }
    Ok(report)
}

enum Outcome {
    /// Sealed under the current key already.
    Current,
    /// Opens with neither key.
    Unreadable,
    /// The stored form of the value sealed again under the current key.
    Resealed(Vec<u8>),
}

impl Column {
    fn reseal(&self, sealer: &Sealer, key: Uuid, owner: Uuid, stored: &[u8]) -> Result<Outcome> {
        let sealed = if self.base64 {
            match STANDARD.decode(stored) {
                Ok(s) => s,
                Err(_) => return Ok(Outcome::Unreadable),
            }
        } else {
            stored.to_vec()
        };
        let bound = self.bound.then_some(key);
        let (current, opened) = if self.versioned {
            let opened = sealer.open_versioned(self.purpose, owner, key, &sealed);
            (sealer.is_current(&sealed) && opened.is_ok(), opened)
        } else {
            (
                sealer.opens_with_current(self.purpose, owner, bound, &sealed),
                sealer.open_bound(self.purpose, owner, bound, &sealed),
            )
        };
        let Ok(plain) = opened else {
            return Ok(Outcome::Unreadable);
        };
        if current {
            return Ok(Outcome::Current);
        }
        let new = if self.versioned {
            sealer.seal_versioned(self.purpose, owner, key, &plain)?
        } else {
            sealer.seal_bound(self.purpose, owner, bound, &plain)?
        };
        Ok(Outcome::Resealed(if self.base64 {
            STANDARD.encode(new).into_bytes()
        } else {
            new
        }))
    }
}
