//! AI settings: which provider classifies documents, with which model and endpoint.

use url::Url;

use crate::ValidationError;

/// The AI providers DocuVault can talk to. `Local` needs no network and no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AiProviderKind {
    #[default]
    Local,
    OpenAi,
    Anthropic,
}

impl AiProviderKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "local" => Ok(Self::Local),
            "openai" => Ok(Self::OpenAi),
            "anthropic" => Ok(Self::Anthropic),
            _ => Err(ValidationError::new(
                "invalid_provider",
                "provider must be one of: local, openai, anthropic",
            )),
        }
    }
}

pub const MAX_MODEL_CHARS: usize = 200;
pub const MAX_API_KEY_BYTES: usize = 4096;

/// A validated change to the AI settings. `api_key`: `None` keeps the stored key,
/// `Some(None)` removes it, `Some(Some(k))` replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiSettingsUpdate {
    pub provider: AiProviderKind,
    pub model: Option<String>,
    pub base_url: Option<Url>,
    pub api_key: Option<Option<String>>,
}

impl AiSettingsUpdate {
    pub fn parse(
        provider: &str,
        model: Option<&str>,
        base_url: Option<&str>,
        api_key: Option<Option<&str>>,
    ) -> Result<Self, ValidationError> {
        let provider = AiProviderKind::parse(provider)?;
        let model = model.map(str::trim).filter(|m| !m.is_empty());
        if let Some(m) = model
            && (m.chars().count() > MAX_MODEL_CHARS || m.chars().any(char::is_control))
        {
            return Err(ValidationError::new(
                "invalid_model",
                format!("model must be at most {MAX_MODEL_CHARS} printable characters"),
            ));
        }
        let base_url = base_url
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(parse_base_url)
            .transpose()?;
        let api_key = match api_key {
            None => None,
            Some(None) => Some(None),
            Some(Some(k)) if k.trim().is_empty() => Some(None),
            Some(Some(k)) => {
                let k = k.trim();
                if k.len() > MAX_API_KEY_BYTES || k.chars().any(char::is_control) {
                    return Err(ValidationError::new(
                        "invalid_api_key",
                        "API key must be printable and at most 4096 bytes",
                    ));
                }
                Some(Some(k.to_owned()))
            }
        };
        Ok(Self {
            provider,
            model: model.map(str::to_owned),
            base_url,
            api_key,
        })
    }
}

fn parse_base_url(raw: &str) -> Result<Url, ValidationError> {
    let invalid = || {
        ValidationError::new(
            "invalid_base_url",
            "base URL must be an absolute http(s) URL without credentials, e.g. http://127.0.0.1:11434/v1",
        )
    };
    let url = Url::parse(raw).map_err(|_| invalid())?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none();
    ok.then_some(url).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_update() {
        let u = AiSettingsUpdate::parse(
            "openai",
            Some(" gpt-4o-mini "),
            Some("http://127.0.0.1:11434/v1"),
            Some(Some("sk-test")),
        );
        let u = u.map_err(|e| e.code);
        assert_eq!(u.as_ref().map(|u| u.provider), Ok(AiProviderKind::OpenAi));
        assert_eq!(
            u.as_ref().map(|u| u.model.clone()),
            Ok(Some("gpt-4o-mini".into()))
        );
        assert_eq!(u.map(|u| u.api_key), Ok(Some(Some("sk-test".into()))));
    }

    #[test]
    fn refuses_bad_values() {
        let code = |r: Result<AiSettingsUpdate, ValidationError>| r.err().map(|e| e.code);
        assert_eq!(
            code(AiSettingsUpdate::parse("gpt", None, None, None)),
            Some("invalid_provider")
        );
        assert_eq!(
            code(AiSettingsUpdate::parse(
                "local",
                None,
                Some("file:///etc/passwd"),
                None
            )),
            Some("invalid_base_url")
        );
        assert_eq!(
            code(AiSettingsUpdate::parse(
                "local",
                None,
                Some("http://u:p@host/"),
                None
            )),
            Some("invalid_base_url")
        );
        assert_eq!(
            code(AiSettingsUpdate::parse(
                "local",
                Some(&"m".repeat(201)),
                None,
                None
            )),
            Some("invalid_model")
        );
    }

    #[test]
    fn empty_key_clears_and_absent_key_keeps() {
        let keep = AiSettingsUpdate::parse("local", None, None, None).map(|u| u.api_key);
        assert_eq!(keep, Ok(None));
        let clear =
            AiSettingsUpdate::parse("local", None, None, Some(Some(" "))).map(|u| u.api_key);
        assert_eq!(clear, Ok(Some(None)));
    }
}
