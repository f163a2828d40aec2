//! Sealing small secrets at rest (AI API keys, TOTP secrets, cloud credentials later) with a key derived by
//! HKDF-SHA256 from `SECRET_KEY`, a purpose and the owner — never one global key (DESIGN.md).
//! XChaCha20-Poly1305 with a random 24-byte nonce stored in front of the ciphertext.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use uuid::Uuid;

use crate::Secret;

const SALT: &[u8] = b"docuvault/seal/v1";
const NONCE_LEN: usize = 24;

/// What a sealed value is for; part of the derived key, so a value sealed for one purpose
/// cannot be opened as another.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    AiApiKey,
    TotpSecret,
    /// A mail account's password, bound to the account's id.
    MailPassword,
    /// A cloud connection's credentials, bound to the connection's id; sealed with a key-version
    /// byte in front ([`Sealer::seal_versioned`]).
    CloudCredentials,
}

impl Purpose {
    const fn label(self) -> &'static str {
        match self {
            Self::AiApiKey => "ai-api-key",
            Self::TotpSecret => "totp-secret",
            Self::MailPassword => "mail-password",
            Self::CloudCredentials => "cloud-credentials",
        }
    }
}

#[derive(Clone)]
pub struct Sealer {
    hkdf: Hkdf<Sha256>,
    /// The key id of `SECRET_KEY` (the first byte of versioned values sealed under it).
    key_id: u8,
    /// The key `SECRET_KEY` replaced (`SECRET_KEY_PREVIOUS`), to open values sealed before a
    /// rotation, with its key id.
    previous: Option<(Hkdf<Sha256>, u8)>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sealed value cannot be opened (wrong SECRET_KEY, owner or purpose, or tampered data)")]
pub struct OpenError;

impl Sealer {
    pub fn new(secret_key: &Secret<String>) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), secret_key.expose().as_bytes());
        Self {
            key_id: key_id(&hkdf),
            hkdf,
            previous: None,
        }
    }

    /// The sealer of a configuration: `SECRET_KEY`, and `SECRET_KEY_PREVIOUS` if set.
    pub fn from_config(config: &crate::Config) -> Self {
        let sealer = Self::new(&config.secret_key);
        match &config.secret_key_previous {
            Some(previous) => sealer.with_previous(previous),
            None => sealer,
        }
    }

    /// Also opens versioned values sealed under `previous`, the `SECRET_KEY` before a rotation.
    pub fn with_previous(mut self, previous: &Secret<String>) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), previous.expose().as_bytes());
        let id = key_id(&hkdf);
        self.previous = Some((hkdf, id));
        self
    }

    /// Seals like [`seal_bound`](Self::seal_bound), with one byte in front naming the key it was
    /// sealed under (derived from the key, so no counter has to be kept): after `SECRET_KEY`
    /// is rotated, a value is opened with the key it names (`SECRET_KEY_PREVIOUS`) until it is
    /// sealed again under the new one.
    pub fn seal_versioned(
        &self,
        purpose: Purpose,
        owner: Uuid,
        bound: Uuid,
        plaintext: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        let mut out = vec![self.key_id];
        out.extend(seal_with(
            &self.hkdf,
            purpose,
            owner,
            Some(bound),
            plaintext,
        )?);
        Ok(out)
    }

    /// Opens a value sealed by [`seal_versioned`](Self::seal_versioned), with whichever of the
    /// current and the previous key its first byte names.
    pub fn open_versioned(
        &self,
        purpose: Purpose,
        owner: Uuid,
        bound: Uuid,
        sealed: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        let (&id, rest) = sealed.split_first().ok_or(OpenError)?;
        let keys = std::iter::once((&self.hkdf, self.key_id))
            .chain(self.previous.as_ref().map(|(h, id)| (h, *id)));
        // Two keys may share an id (1 in 256): each one the id names is tried.
        keys.filter(|(_, key)| *key == id)
            .find_map(|(hkdf, _)| open_with(hkdf, purpose, owner, Some(bound), rest).ok())
            .ok_or(OpenError)
    }

    /// Whether a versioned value was sealed under the current key (else `secrets rotate`
    /// seals it again).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.first() == Some(&self.key_id)
    }

    /// A 256-bit key for `label` (JWT signing, CSRF tokens), independent of every other label's.
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        // Only fails for outputs longer than 255 * 32 bytes.
        if self
            .hkdf
            .expand(format!("key:{label}").as_bytes(), &mut key)
            .is_err()
        {
            unreachable!("a 32-byte HKDF-SHA256 output is always valid");
        }
        key
    }

    /// Seals `plaintext` for `owner`; the result starts with the random nonce.
    pub fn seal(&self, purpose: Purpose, owner: Uuid, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.seal_bound(purpose, owner, None, plaintext)
    }

    pub fn open(&self, purpose: Purpose, owner: Uuid, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        self.open_bound(purpose, owner, None, sealed)
    }

    /// Seals `plaintext` for `owner` and, as associated data, the record it belongs to (`bound`,
    /// e.g. a mail account's id): copied onto another record, it does not open.
    pub fn seal_bound(
        &self,
        purpose: Purpose,
        owner: Uuid,
        bound: Option<Uuid>,
        plaintext: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        seal_with(&self.hkdf, purpose, owner, bound, plaintext)
    }

    /// Opens a value sealed by [`seal_bound`](Self::seal_bound), with `SECRET_KEY` or, after a
    /// rotation, `SECRET_KEY_PREVIOUS` (such values carry no key id: both are tried).
    pub fn open_bound(
        &self,
        purpose: Purpose,
        owner: Uuid,
        bound: Option<Uuid>,
        sealed: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        open_with(&self.hkdf, purpose, owner, bound, sealed).or_else(|e| match &self.previous {
            Some((previous, _)) => open_with(previous, purpose, owner, bound, sealed),
            None => Err(e),
        })
    }

    /// Whether an unversioned value opens with the current `SECRET_KEY` (else `secrets rotate`
    /// seals it again).
    pub fn opens_with_current(
        &self,
        purpose: Purpose,
        owner: Uuid,
        bound: Option<Uuid>,
        sealed: &[u8],
    ) -> bool {
        open_with(&self.hkdf, purpose, owner, bound, sealed).is_ok()
    }
}

/// The key id of a key: one byte of its own derivation, public by design (it only says which of
/// two keys to try).
fn key_id(hkdf: &Hkdf<Sha256>) -> u8 {
    let mut id = [0u8; 1];
    // Only fails for outputs longer than 255 * 32 bytes.
    if hkdf.expand(b"key-id", &mut id).is_err() {
        unreachable!("a 1-byte HKDF-SHA256 output is always valid");
    }
    id[0]
}

fn cipher(
    hkdf: &Hkdf<Sha256>,
    purpose: Purpose,
    owner: Uuid,
) -> Result<XChaCha20Poly1305, OpenError> {
    let info = format!("{}:{owner}", purpose.label());
    let mut key = [0u8; 32];
    // Only fails for outputs longer than 255 * 32 bytes; 32 is always fine.
    hkdf.expand(info.as_bytes(), &mut key)
        .map_err(|_| OpenError)?;
    Ok(XChaCha20Poly1305::new(&key.into()))
}

fn seal_with(
    hkdf: &Hkdf<Sha256>,
    purpose: Purpose,
    owner: Uuid,
    bound: Option<Uuid>,
    plaintext: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let aad = associated(purpose, bound);
    let ct = cipher(hkdf, purpose, owner)?
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| anyhow::anyhow!("sealing failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_with(
    hkdf: &Hkdf<Sha256>,
    purpose: Purpose,
    owner: Uuid,
    bound: Option<Uuid>,
    sealed: &[u8],
) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < NONCE_LEN {
        return Err(OpenError);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let aad = associated(purpose, bound);
    cipher(hkdf, purpose, owner)?
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| OpenError)
}

/// The associated data: the purpose, and the record the value is bound to (values sealed before
/// binding existed carry the purpose alone).
fn associated(purpose: Purpose, bound: Option<Uuid>) -> String {
    match bound {
        None => purpose.label().to_owned(),
        Some(id) => format!("{}:{id}", purpose.label()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bound_values_open_only_for_their_record() {
        let s = sealer("a");
        let (alice, account, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let sealed = s
            .seal_bound(Purpose::MailPassword, alice, Some(account), b"app-password")
            .unwrap();
        let opened = s.open_bound(Purpose::MailPassword, alice, Some(account), &sealed);
        assert_eq!(opened.unwrap(), b"app-password");
        assert!(
            s.open_bound(Purpose::MailPassword, alice, Some(other), &sealed)
                .is_err()
        );
        assert!(
            s.open_bound(Purpose::MailPassword, alice, None, &sealed)
                .is_err()
        );
        assert!(
            s.open_bound(Purpose::AiApiKey, alice, Some(account), &sealed)
                .is_err()
        );
    }

    use super::*;

    fn sealer(k: &str) -> Sealer {
        Sealer::new(&Secret::new(k.repeat(32)))
    }

    #[test]
    fn round_trips_and_binds_owner_and_key() {
        let s = sealer("a");
        let alice = Uuid::new_v4();
        let sealed = s
            .seal(Purpose::AiApiKey, alice, b"sk-123")
            .unwrap_or_default();
        assert!(!sealed.windows(6).any(|w| w == b"sk-123"));
        assert_eq!(
            s.open(Purpose::AiApiKey, alice, &sealed).ok(),
            Some(b"sk-123".to_vec())
        );
        assert!(s.open(Purpose::AiApiKey, Uuid::new_v4(), &sealed).is_err());
        assert!(s.open(Purpose::TotpSecret, alice, &sealed).is_err());
        assert!(sealer("b").open(Purpose::AiApiKey, alice, &sealed).is_err());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(s.open(Purpose::AiApiKey, alice, &tampered).is_err());
        assert!(s.open(Purpose::AiApiKey, alice, b"short").is_err());
    }

    #[test]
    fn versioned_values_open_under_the_key_they_name() {
        let (alice, conn) = (Uuid::new_v4(), Uuid::new_v4());
        let old = sealer("a");
        let sealed = old
            .seal_versioned(Purpose::CloudCredentials, alice, conn, b"pw")
            .unwrap();
        assert!(old.is_current(&sealed));
        let open =
            |s: &Sealer, bound| s.open_versioned(Purpose::CloudCredentials, alice, bound, &sealed);
        assert_eq!(open(&old, conn).unwrap(), b"pw");
        assert!(open(&old, Uuid::new_v4()).is_err());
        // After a rotation: the new key alone cannot open it, with the previous key it opens,
        // and it is not current.
        let rotated = sealer("b");
        assert!(open(&rotated, conn).is_err());
        let rotated = rotated.with_previous(&Secret::new("a".repeat(32)));
        assert_eq!(open(&rotated, conn).unwrap(), b"pw");
        assert!(!rotated.is_current(&sealed) || rotated.key_id == old.key_id);
        let resealed = rotated
            .seal_versioned(Purpose::CloudCredentials, alice, conn, b"pw")
            .unwrap();
        assert!(rotated.is_current(&resealed));
        assert!(
            old.open_versioned(Purpose::CloudCredentials, alice, conn, &resealed)
                .is_err()
        );
        assert!(
            rotated
                .open_versioned(Purpose::CloudCredentials, alice, conn, &[])
                .is_err()
        );
    }

    #[test]
    fn nonces_differ() {
        let s = sealer("a");
        let a = s.seal(Purpose::AiApiKey, Uuid::nil(), b"x").ok();
        let b = s.seal(Purpose::AiApiKey, Uuid::nil(), b"x").ok();
        assert!(a.is_some() && a != b);
    }
}
