//! Account values validated on the way in: handle, email, password policy and role.

use crate::ValidationError;

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Argon2 is given at most this many bytes: a megabyte "password" must not cost a megabyte of
/// hashing work per attempt.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// A login name: 3 to 32 characters of `a-z 0-9 . _ -`, starting with a letter or digit, kept
/// in lower case so `Alice` and `alice` are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

impl Handle {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let h = raw.trim().to_lowercase();
        let ok_len = (3..=32).contains(&h.len());
        let ok_chars = h
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        let ok_start = h.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !(ok_len && ok_chars && ok_start) {
            return Err(ValidationError::new(
                "invalid_handle",
                "handle must be 3 to 32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            ));
        }
        Ok(Self(h))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, trimmed and lower-cased. Deliberately loose (one `@`, a dotted domain, no
/// spaces): the reset email is the real check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let e = raw.trim().to_lowercase();
        let valid = e.len() <= 254
            && !e.chars().any(|c| c.is_whitespace() || c.is_control())
            && match e.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if !valid {
            return Err(ValidationError::new(
                "invalid_email",
                "email must be an address like name@example.org",
            ));
        }
        Ok(Self(e))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a new password against the policy (NIST SP 800-63B: length and a blocklist, no
/// composition rules). `handle` and `email` may not be the password either.
pub fn check_new_password(
    password: &str,
    handle: &str,
    email: &str,
) -> Result<(), ValidationError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "weak_password",
            format!("password must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ValidationError::new(
            "password_too_long",
            format!("password must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let lower = password.to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if is_common_password(&lower) || lower == handle || (!local.is_empty() && lower == local) {
        return Err(ValidationError::new(
            "weak_password",
            "this password is too common or too easy to guess; choose another",
        ));
    }
    Ok(())
}

/// Whether the (lower-cased) password is on the blocklist: the most common passwords of public
/// breach corpora that are long enough to pass the length rule, and repetitions of one
/// character or of a short common sequence.
fn is_common_password(lower: &str) -> bool {
    if COMMON_PASSWORDS.binary_search(&lower).is_ok() {
        return true;
    }
    let first = lower.chars().next();
    if lower.chars().all(|c| Some(c) == first) {
        return true;
    }
    [
        "0123456789",
        "1234567890",
        "abcdefghij",
        "qwertyuiop",
        "asdfghjkl",
    ]
    .iter()
    .any(|seq| seq.starts_with(lower) || lower.starts_with(seq) && lower.len() <= seq.len() + 2)
}

/// Sorted, lower case, at least [`MIN_PASSWORD_CHARS`] long.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "abc1234567",
    "abcd123456",
    "administrator",
    "baseball123",
    "changeme123",
    "football123",
    "iloveyou12",
    "letmein123",
    "master1234",
    "monkey1234",
    "p@ssw0rd123",
    "passw0rd12",
    "password00",
    "password01",
    "password1!",
    "password12",
    "password123",
    "password1234",
    "princess12",
    "q1w2e3r4t5",
    "q1w2e3r4t5y6",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "qwertyuiop",
    "sunshine12",
    "superman123",
    "trustno1trustno1",
    "welcome123",
    "welcome1234",
    "zaq12wsxcde",
    "zxcvbnm123",
];

/// What a user may do: `admin` manages accounts (never their documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(ValidationError::new(
                "invalid_role",
                "role must be \"user\" or \"admin\"",
            )),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_lower_case_and_restricted() {
        assert_eq!(
            Handle::parse(" Alice ").map(|h| h.0),
            Ok("alice".to_owned())
        );
        assert!(Handle::parse("al").is_err());
        assert!(Handle::parse("-alice").is_err());
        assert!(Handle::parse("al ice").is_err());
        assert!(Handle::parse("ålice").is_err());
        assert!(Handle::parse(&"a".repeat(33)).is_err());
        assert!(Handle::parse("bob.smith_2-x").is_ok());
    }

    #[test]
    fn emails_are_loosely_checked() {
        assert_eq!(
            Email::parse(" Bob@Example.ORG ").map(|e| e.0),
            Ok("bob@example.org".to_owned())
        );
        for bad in [
            "bob",
            "bob@",
            "@example.org",
            "bob@example",
            "b ob@example.org",
            "a@b@c.d",
            "bob@.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_blocklist_is_sorted_and_long_enough_to_matter() {
        assert!(COMMON_PASSWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(
            COMMON_PASSWORDS
                .iter()
                .all(|p| p.chars().count() >= MIN_PASSWORD_CHARS)
        );
    }

    #[test]
    fn password_policy() {
        let check =
            |p: &str| check_new_password(p, "alice", "alice.smith@example.org").map_err(|e| e.code);
        assert_eq!(check("short"), Err("weak_password"));
        assert_eq!(check("Password123"), Err("weak_password"));
        assert_eq!(check("aaaaaaaaaaaa"), Err("weak_password"));
        assert_eq!(check("1234567890"), Err("weak_password"));
        assert_eq!(check("alice.smith"), Err("weak_password"));
        assert_eq!(check(&"x1".repeat(200)), Err("password_too_long"));
        assert_eq!(check("correct horse battery"), Ok(()));
        assert_eq!(check("ünïcödé-pässwörd"), Ok(()));
    }

    #[test]
    fn roles_round_trip() {
        for r in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert!(Role::parse("root").is_err());
    }
}
