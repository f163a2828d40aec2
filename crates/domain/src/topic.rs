//! A topic's name, description and colour, validated on the way in.

use crate::ValidationError;

pub const MAX_TOPIC_NAME_CHARS: usize = 64;
pub const MAX_TOPIC_DESCRIPTION_CHARS: usize = 2000;

/// A topic name: trimmed, 1 to 64 characters, no control characters. Uniqueness (per owner,
/// case-insensitive) is the database's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicName(String);

impl TopicName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        let len = name.chars().count();
        if len == 0 || len > MAX_TOPIC_NAME_CHARS {
            return Err(ValidationError::new(
                "invalid_topic_name",
                format!("topic name must be 1 to {MAX_TOPIC_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "invalid_topic_name",
                "topic name must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a topic is about, in the user's words; the classifier reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicDescription(String);

impl TopicDescription {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let d = raw.trim();
        if d.chars().count() > MAX_TOPIC_DESCRIPTION_CHARS {
            return Err(ValidationError::new(
                "invalid_topic_description",
                format!(
                    "topic description must be at most {MAX_TOPIC_DESCRIPTION_CHARS} characters"
                ),
            ));
        }
        Ok(Self(d.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A colour as `#rrggbb`, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicColor(String);

impl TopicColor {
    pub const DEFAULT: &'static str = "#6366f1";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = raw.len() == 7
            && raw.starts_with('#')
            && raw[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(ValidationError::new(
                "invalid_color",
                "colour must be written as #rrggbb, for example #6366f1",
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn default_color() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            TopicName::parse("  Finance ").map(|n| n.0),
            Ok("Finance".into())
        );
        assert!(TopicName::parse("   ").is_err());
        assert!(TopicName::parse(&"x".repeat(65)).is_err());
        assert!(TopicName::parse(&"ü".repeat(64)).is_ok());
        assert!(TopicName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn colours() {
        assert_eq!(
            TopicColor::parse("#A0b1C2").map(|c| c.0),
            Ok("#a0b1c2".into())
        );
        for bad in [
            "", "#fff", "a0b1c2", "#a0b1c", "#a0b1c2f", "#ggg000", "#ééé",
        ] {
            assert_eq!(
                TopicColor::parse(bad).map_err(|e| e.code),
                Err("invalid_color")
            );
        }
    }

    proptest! {
        #[test]
        fn any_hex_colour_parses(r in 0u8.., g in 0u8.., b in 0u8..) {
            let c = format!("#{r:02X}{g:02x}{b:02X}");
            prop_assert_eq!(TopicColor::parse(&c).map(|c| c.0), Ok(c.to_ascii_lowercase()));
        }

        #[test]
        fn colour_parse_never_panics(s in any::<String>()) {
            let _ = TopicColor::parse(&s);
        }
    }
}
