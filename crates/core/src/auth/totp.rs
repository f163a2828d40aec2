//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step) and what enrolment shows: the
//! `otpauth://` URI and its QR code as SVG. Refusing a code twice is the caller's part: it keeps
//! the last accepted step and passes it in.

use qrcodegen::{QrCode, QrCodeEcc};
use totp_rs::{Builder, Totp};

pub const ISSUER: &str = "DocuVault";

/// A fresh 160-bit secret (RFC 4226 recommends 160 bits).
pub fn new_secret() -> anyhow::Result<[u8; 20]> {
    super::random_bytes::<20>()
}

fn totp(secret: &[u8]) -> anyhow::Result<Totp> {
    Builder::new()
        .with_secret(secret.to_vec())
        .build()
        .map_err(|e| anyhow::anyhow!("TOTP secret unusable: {e:?}"))
}

/// The time step `code` is valid for at `unix_time`, if it is valid and later than `last_step`.
pub fn check(secret: &[u8], code: &str, unix_time: u64, last_step: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = i64::try_from(totp(secret).ok()?.check(code, unix_time)?).ok()?;
    (last_step.is_none_or(|last| step > last)).then_some(step)
}

/// The code for `unix_time` (tests and the CLI's self-check).
pub fn code_at(secret: &[u8], unix_time: u64) -> anyhow::Result<String> {
    Ok(totp(secret)?.generate(unix_time).to_string())
}

pub fn now_unix() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// RFC 4648 base32 without padding, as authenticator apps expect the secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The key URI authenticator apps read (Google's key-uri format).
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(ISSUER),
        enc(account),
        base32(secret),
        enc(ISSUER)
    )
}

/// The URI as a QR code, as a self-contained SVG document.
pub fn qr_svg(text: &str) -> anyhow::Result<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| anyhow::anyhow!("QR encoding failed: {e:?}"))?;
    let border = 4;
    let size = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1, last 6 of the 8 digits.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59).unwrap(), "287082");
        assert_eq!(code_at(secret, 1_111_111_109).unwrap(), "081804");
        assert_eq!(code_at(secret, 2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn window_and_replay() {
        let secret = new_secret().unwrap();
        let t = 1_700_000_000;
        let code = code_at(&secret, t).unwrap();
        let step = check(&secret, &code, t, None).unwrap();
        assert_eq!(step, (t / 30) as i64);
        // One step either side is accepted, two are not.
        assert!(check(&secret, &code, t + 30, None).is_some());
        assert!(check(&secret, &code, t - 30, None).is_some());
        assert!(check(&secret, &code, t + 90, None).is_none());
        // The same step twice: refused.
        assert!(check(&secret, &code, t, Some(step)).is_none());
        assert!(check(&secret, "12345", t, None).is_none());
        assert!(check(&secret, "abcdef", t, None).is_none());
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn uri_and_qr() {
        let uri = otpauth_uri(b"12345678901234567890", "alice");
        assert_eq!(
            uri,
            "otpauth://totp/DocuVault:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=DocuVault&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<path d=\"M"));
    }
}
