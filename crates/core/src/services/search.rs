//! Search: one box, the caller's documents and those shared with them, ranked, with the
//! matching passage. The query language is `websearch_to_tsquery`'s ("quoted phrase", `-word`,
//! `or`); the word still being typed matches as a prefix (see `split_prefix`).

use uuid::Uuid;

use super::Vault;
use super::documents::{Document, MAX_PAGE_SIZE, invalid};
use crate::db::documents::Filters;
use crate::db::search::{self as q, HIT_END, HIT_START, RankAfter, SearchQuery};
use crate::error::Result;

/// Longer queries are not searches but pasted text; refused rather than run.
pub const MAX_QUERY_CHARS: usize = 200;
/// A prefix shorter than this matches too many words to be useful (and to be fast).
const MIN_PREFIX_CHARS: usize = 3;

/// A piece of a snippet: the matching words are `hit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub document: Document,
    pub rank: f32,
    pub snippet: Vec<SnippetPart>,
}

pub struct HitPage {
    pub items: Vec<Hit>,
    pub next: Option<RankAfter>,
    /// More documents match than a search ranks: these are the best of the newest
    /// `SEARCH_RANKED_MATCHES` matches.
    pub newest_only: bool,
}

impl Vault {
    pub async fn search(
        &self,
        caller: Uuid,
        raw: &str,
        filters: &Filters,
        after: Option<RankAfter>,
        limit: i64,
    ) -> Result<HitPage> {
        let raw = raw.trim();
        if raw.is_empty() || raw.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(
                "invalid_search",
                format!("the search needs 1 to {MAX_QUERY_CHARS} characters"),
            ));
        }
        self.check_filters(caller, filters).await?;
        let (words, prefix) = split_prefix(raw);
        let query = SearchQuery {
            words,
            prefix: prefix.as_deref(),
        };
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let ranked = self.search_ranked_matches;
        let mut rows =
            q::search(&self.db, caller, &query, filters, after, limit + 1, ranked).await?;
        let newest_only = rows.first().is_some_and(|r| r.ranked >= ranked);
        let next = super::cut_page(&mut rows, limit).map(|r| RankAfter {
            rank: r.rank,
            id: r.row.id,
        });
        let meta: Vec<_> = rows
            .iter_mut()
            .map(|r| {
                let shared_by = (r.row.user_id != caller).then(|| r.owner_handle.clone());
                (shared_by, r.rank, parse_snippet(r.snippet.as_deref()))
            })
            .collect();
        let docs = self
            .with_topics(rows.into_iter().map(|r| r.row).collect())
            .await?;
        let items = docs
            .into_iter()
            .zip(meta)
            .map(|(mut document, (shared_by, rank, snippet))| {
                document.shared_by = shared_by;
                Hit {
                    document,
                    rank,
                    snippet,
                }
            })
            .collect();
        Ok(HitPage {
            items,
            next,
            newest_only,
        })
    }
}

/// Splits off the word being typed: the last word, when it is plain (letters and digits, at
/// least [`MIN_PREFIX_CHARS`]), not negated, not the `or` operator and not inside a quoted
/// phrase. Returns the rest of the query and that word.
fn split_prefix(raw: &str) -> (&str, Option<String>) {
    let open_quote = raw.chars().filter(|&c| c == '"').count() % 2 == 1;
    if open_quote || !raw.ends_with(char::is_alphanumeric) {
        return (raw, None);
    }
    let start = raw
        .rfind(char::is_whitespace)
        .map_or(0, |i| i + raw[i..].chars().next().map_or(1, char::len_utf8));
    let last = &raw[start..];
    let plain = last.chars().all(char::is_alphanumeric);
    if !plain || last.chars().count() < MIN_PREFIX_CHARS || last.eq_ignore_ascii_case("or") {
        return (raw, None);
    }
    // `-word` is split at the space before it, so a negated word never reaches here plain;
    // `word` after an `or` stays a prefix of the right-hand side.
    let rest = raw[..start].trim_end();
    let rest = rest
        .strip_suffix(" or")
        .or_else(|| rest.strip_suffix(" OR"))
        .map_or(rest, str::trim_end);
    if rest.len() < raw[..start].trim_end().len() || rest.eq_ignore_ascii_case("or") {
        // "a or wor…": an alternative being typed is not narrowed by the prefix; search the
        // whole query as typed.
        return (raw, None);
    }
    (rest, Some(last.to_lowercase()))
}

/// Splits `ts_headline`'s output at the hit marks; null (no text) is an empty snippet.
fn parse_snippet(raw: Option<&str>) -> Vec<SnippetPart> {
    let mut parts = Vec::new();
    let Some(raw) = raw else { return parts };
    let mut hit = false;
    let mut text = String::new();
    for c in raw.chars() {
        let flip = match c {
            HIT_START => Some(true),
            HIT_END => Some(false),
            _ => None,
        };
        match flip {
            Some(now_hit) => {
                if !text.is_empty() {
                    parts.push(SnippetPart {
                        text: std::mem::take(&mut text),
                        hit,
                    });
                }
                hit = now_hit;
            }
            None => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(SnippetPart { text, hit });
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_plain_word_is_a_prefix() {
        assert_eq!(split_prefix("rechnu"), ("", Some("rechnu".into())));
        assert_eq!(
            split_prefix("Strom Rechnu"),
            ("Strom", Some("rechnu".into()))
        );
        assert_eq!(split_prefix("Grü"), ("", Some("grü".into())));
    }

    #[test]
    fn operators_phrases_and_short_words_are_left_alone() {
        assert_eq!(split_prefix("\"power bill"), ("\"power bill", None));
        assert_eq!(split_prefix("\"power bill\""), ("\"power bill\"", None));
        assert_eq!(split_prefix("invoice -draft"), ("invoice -draft", None));
        assert_eq!(split_prefix("invoice or"), ("invoice or", None));
        assert_eq!(split_prefix("tax or rent"), ("tax or rent", None));
        assert_eq!(split_prefix("an"), ("an", None));
        assert_eq!(split_prefix("e-mail"), ("e-mail", None));
    }

    #[test]
    fn snippets_split_at_the_marks() {
        let raw = "the \u{2}invoice\u{3} for \u{2}May\u{3}";
        let parts = parse_snippet(Some(raw));
        let texts: Vec<(&str, bool)> = parts.iter().map(|p| (p.text.as_str(), p.hit)).collect();
        assert_eq!(
            texts,
            vec![
                ("the ", false),
                ("invoice", true),
                (" for ", false),
                ("May", true)
            ]
        );
        assert!(parse_snippet(None).is_empty());
    }
}
