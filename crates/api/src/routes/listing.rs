//! What the listing routes share (documents, search, shared with me, history): page sizes,
//! opaque keyset cursors, and the filters a list or a search narrows to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;
use docuvault_core::db::documents::{Filters, FolderFilter};

/// The filters of `GET /api/documents` and `GET /api/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Only your documents filed directly in this folder, or `root` for those in no folder
    /// (documents shared with you are in none of your folders); without it, everywhere.
    #[param(
        pattern = "^(root|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub folder_id: Option<String>,
    /// Only the documents with this topic (one of yours).
    pub topic_id: Option<Uuid>,
    /// Only the documents in this state.
    #[param(inline)]
    pub status: Option<StatusParam>,
    /// Uploaded on or after this day (`YYYY-MM-DD`, UTC) or instant (RFC 3339).
    pub from: Option<String>,
    /// Uploaded on or before this day (`YYYY-MM-DD`, UTC), or before this instant (RFC 3339).
    pub to: Option<String>,
}

/// A document's processing state, as a filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusParam {
    Pending,
    Processing,
    Classified,
    Failed,
}

impl StatusParam {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Classified => "classified",
            Self::Failed => "failed",
        }
    }
}

impl FilterParams {
    /// The filters these parameters ask for.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        let folder = match self.folder_id.as_deref() {
            None => FolderFilter::Any,
            Some("root") => FolderFilter::Root,
            Some(id) => FolderFilter::In(Uuid::parse_str(id).map_err(|_| {
                ApiError::new("invalid_folder_id", "folder_id is a folder's id or `root`")
            })?),
        };
        let from = self
            .from
            .as_deref()
            .map(|v| parse_bound(v, false))
            .transpose()?;
        let to = self
            .to
            .as_deref()
            .map(|v| parse_bound(v, true))
            .transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(ApiError::new(
                "invalid_date_range",
                "`from` must be before `to`",
            ));
        }
        Ok(Filters {
            folder,
            topic: self.topic_id,
            status: self.status.map(|s| s.as_str().to_owned()),
            from,
            to,
        })
    }
}

/// A day (`to`: the whole day is included, so the bound is the next midnight) or an instant.
fn parse_bound(raw: &str, end: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::new(
            "invalid_date",
            "dates are YYYY-MM-DD or RFC 3339 (2026-05-01T12:00:00Z)",
        )
    })?;
    let day = if end {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A keyset cursor over (instant, id), opaque to clients.
pub(crate) fn encode_time_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{id}", at.timestamp_micros()))
}

pub(crate) fn decode_time_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let invalid = || ApiError::new("invalid_cursor", "cursor is not one this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once('.').ok_or_else(invalid)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((at, id))
}

/// The page size of a list: 1 to 100, 50 unless asked.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::new(
            "invalid_limit",
            "limit must be between 1 and 100",
        ));
    }
    Ok(limit)
}
