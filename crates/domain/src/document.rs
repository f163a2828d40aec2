//! A document's processing status.

use serde::Serialize;

/// Where a document is in the processing pipeline: `pending → processing → classified | failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Pending,
    Processing,
    Classified,
    Failed,
}

impl DocumentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Classified => "classified",
            Self::Failed => "failed",
        }
    }

    /// Parses the value stored in `documents.status` (a CHECK constraint keeps it to these four).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "processing" => Self::Processing,
            "classified" => Self::Classified,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_status() {
        for s in [
            DocumentStatus::Pending,
            DocumentStatus::Processing,
            DocumentStatus::Classified,
            DocumentStatus::Failed,
        ] {
            assert_eq!(DocumentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DocumentStatus::parse("done"), None);
    }
}
