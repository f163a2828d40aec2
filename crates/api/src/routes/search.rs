//! `/api/search`: one query over your documents and those shared with you, best first, with
//! the matching passage.

use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::documents::DocumentDto;
use super::listing::{FilterParams, page_limit};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use docuvault_core::db::search::RankAfter;
use docuvault_core::services::search::SnippetPart;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to look for, 1 to 200 characters: words (German and English inflections match:
    /// `Rechnungen` finds `Rechnung`, `invoices` finds `invoice`; accents do not matter),
    /// `"a phrase"`, `-word` to leave out, `or` between alternatives. The last word also
    /// matches as the start of a word (search as you type).
    #[param(min_length = 1, max_length = 200)]
    pub q: String,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A piece of the snippet; `hit` marks the words that matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnippetPartDto {
    pub text: String,
    pub hit: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitDto {
    #[serde(flatten)]
    pub document: DocumentDto,
    /// Relevance: higher is better (a match in the filename weighs most). Only for ordering.
    pub rank: f32,
    /// The best passages of the text, in order, as plain text pieces (never HTML); empty when
    /// the document has no text yet.
    pub snippet: Vec<SnippetPartDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<SearchHitDto>,
    /// Pass as `cursor` (with the same `q` and filters) to get the next page; null on the last.
    pub next_cursor: Option<String>,
    /// More documents match than a search ranks (`SEARCH_RANKED_MATCHES`, 300 by default):
    /// the results are the best of the newest of them. More words or a date range reach older
    /// ones.
    pub newest_only: bool,
}

/// Search your documents and those shared with you.
#[utoipa::path(
    get, path = "/api/search", tag = "documents", params(SearchParams, FilterParams),
    responses(
        (status = 200, body = SearchPage),
        (status = 400, description = "a bad limit, cursor, folder id or date", body = ErrorBody),
        (status = 404, description = "no folder or topic of yours by that id", body = ErrorBody),
        (status = 422, description = "an empty or too long query (`invalid_search`)", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn search(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(p): Query<SearchParams>,
    Query(f): Query<FilterParams>,
) -> Result<Json<SearchPage>, ApiError> {
    let limit = page_limit(p.limit)?;
    let after = p.cursor.as_deref().map(decode_cursor).transpose()?;
    let filters = f.filters()?;
    let page = state
        .vault
        .search(caller.id, &p.q, &filters, after, limit)
        .await?;
    Ok(Json(SearchPage {
        items: page
            .items
            .into_iter()
            .map(|h| SearchHitDto {
                document: h.document.into(),
                rank: h.rank,
                snippet: h.snippet.into_iter().map(SnippetPartDto::from).collect(),
            })
            .collect(),
        next_cursor: page.next.map(encode_cursor),
        newest_only: page.newest_only,
    }))
}

impl From<SnippetPart> for SnippetPartDto {
    fn from(p: SnippetPart) -> Self {
        Self {
            text: p.text,
            hit: p.hit,
        }
    }
}

/// The rank's exact bits, so the next page starts exactly where this one stopped.
fn encode_cursor(after: RankAfter) -> String {
    URL_SAFE_NO_PAD.encode(format!("{:08x}.{}", after.rank.to_bits(), after.id))
}

fn decode_cursor(raw: &str) -> Result<RankAfter, ApiError> {
    let invalid = || ApiError::new("invalid_cursor", "cursor is not one this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    let (bits, id) = text.split_once('.').ok_or_else(invalid)?;
    let rank = u32::from_str_radix(bits, 16)
        .ok()
        .map(f32::from_bits)
        .filter(|r| r.is_finite())
        .ok_or_else(invalid)?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(RankAfter { rank, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_the_exact_rank() {
        let after = RankAfter {
            rank: 0.060_792_71,
            id: Uuid::new_v4(),
        };
        assert_eq!(decode_cursor(&encode_cursor(after)).ok(), Some(after));
        assert!(decode_cursor("nope").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("7fc00000.x")).is_err());
    }
}
