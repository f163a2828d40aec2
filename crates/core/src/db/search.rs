//! Full-text search over the caller's documents and those shared with them.
//!
//! Each document's `search_vector` holds its filename (weight A) and a bounded prefix of its text
//! (weight D), analysed by both `docuvault_en` and `docuvault_de` (migration 0011). A query is
//! parsed by `websearch_to_tsquery` ("quoted phrase", `-word`, `or`) in both configurations and
//! the two are OR-ed: a document matches if it matches as English or as German. The last word of
//! a query still being typed also matches as a prefix.
//!
//! Ranking (`ts_rank`) reads each match's vector (kilobytes, out of line), so it is bounded:
//! the newest `ranked` matches are ranked (all of them when there are fewer). A word in half of
//! 100,000 documents took ~2.3 s to rank in full; walking the `(user_id, created_at)` index until
//! 300 matches are found and ranking those takes about 5 ms (measured per stage: ~13 µs a match
//! to read and test its vector, ~3.5 µs to rank it, ~0.15 ms a page row for its snippet). The snippet
//! (`ts_headline`, which re-parses the text) is made only for the rows of the page, from a window
//! of each text.

use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use super::documents::{COLUMNS, DocumentRow, Filters};
use crate::Result;

/// Marks around a highlighted word in a snippet: control characters, which extraction never
/// keeps in a document's text, so the API can split the snippet without parsing HTML.
pub const HIT_START: char = '\u{2}';
pub const HIT_END: char = '\u{3}';

/// `ts_headline` parses all the text it is given (about 10 ms for 50 KB), so it gets a window of
/// the text: from a little before the first place one of the query's stems occurs (found with
/// `strpos`, which is cheap), or else from the start.
const WINDOW_BEFORE: i32 = 150;
const WINDOW_CHARS: i32 = 600;
/// Folding case and accents costs per character, so it is done on this much of a text only.
const FOLDED_CHARS: i32 = 30_000;

/// A search as the database runs it.
#[derive(Debug, Clone)]
pub struct SearchQuery<'a> {
    /// `websearch_to_tsquery` syntax, without the last word when that one is a prefix.
    pub words: &'a str,
    /// The word being typed (letters and digits only), matched as a prefix.
    pub prefix: Option<&'a str>,
}

/// Where a page starts: strictly after this `(rank, id)` in best-first order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankAfter {
    pub rank: f32,
    pub id: Uuid,
}

#[derive(Debug, Clone, FromRow)]
pub struct HitRow {
    #[sqlx(flatten)]
    pub row: DocumentRow,
    pub owner_handle: String,
    pub rank: f32,
    /// How many matches were ranked (at most `ranked`: when it is reached, older matches may
    /// exist that were not ranked).
    pub ranked: i64,
    /// The best passages with [`HIT_START`]/[`HIT_END`] around the matching words; null when
    /// the document has no text (yet).
    pub snippet: Option<String>,
}

/// One configuration's query: the words (when any) AND the prefix (when any). `cfg` is one of
/// the two configuration names below, never input.
fn tsquery(cfg: &str, q: &SearchQuery<'_>) -> String {
    let words = format!("websearch_to_tsquery('{cfg}', $7)");
    let prefix = format!("to_tsquery('{cfg}', $8 || ':*')");
    match (q.words.trim().is_empty(), q.prefix.is_some()) {
        (false, true) => format!("({words} && {prefix})"),
        (true, true) => prefix,
        _ => words,
    }
}

/// One page of matches, best first, among the newest `ranked` matches. The folder filter
/// applies to the caller's own documents
/// only (a shared document is in none of the caller's folders), so with it shared documents are
/// left out.
pub async fn search(
    pool: &PgPool,
    caller: Uuid,
    q: &SearchQuery<'_>,
    filters: &Filters,
    after: Option<RankAfter>,
    limit: i64,
    ranked: i64,
) -> Result<Vec<HitRow>> {
    let (en, de) = (tsquery("docuvault_en", q), tsquery("docuvault_de", q));
    // Written out where documents are matched (not taken from the `q` CTE), and planned for the
    // values of each search (an unnamed statement): the planner then folds it into a constant
    // and knows from the column's statistics how common the words are — a common word is
    // walked newest first (stopping at `ranked` matches), a rare one looked up in the GIN index.
    let matches = format!("({en} || {de})");
    let filter = Filters::SQL;
    let folder = filters.folder.sql();
    let shared_branch = if filters.folder.is_any() {
        format!(
            "UNION ALL
                    (SELECT d.id, d.created_at, d.search_vector
                       FROM shares s JOIN documents d ON d.id = s.document_id
                      WHERE s.recipient_id = $1 AND d.search_vector @@ {matches} {filter}
                      ORDER BY d.created_at DESC, d.id DESC
                      LIMIT $13)"
        )
    } else {
        String::new()
    };
    let sql = format!(
        "WITH q AS MATERIALIZED (
              SELECT en, de, en || de AS query,
                     -- The query's lexemes (stems), to find where a text matches.
                     ARRAY(SELECT DISTINCT m[1]
                             FROM regexp_matches((en || de)::text, '''([^'']+)''', 'g') m) AS stems
                FROM (SELECT {en} AS en, {de} AS de) parsed),
              -- Each branch is limited by itself too, so the caller's own documents are
              -- walked newest first and the walk stops at `ranked` matches.
              newest AS (
              SELECT * FROM (
                    (SELECT d.id, d.created_at, d.search_vector
                       FROM documents d
                      WHERE d.user_id = $1 AND d.search_vector @@ {matches} {filter} {folder}
                      ORDER BY d.created_at DESC, d.id DESC
                      LIMIT $13)
                     {shared_branch}) m
               ORDER BY created_at DESC, id DESC
               LIMIT $13),
              hits AS MATERIALIZED (
              SELECT n.id, ts_rank(n.search_vector, q.query, 1) AS rank FROM newest n, q),
              page AS (
              SELECT id, rank FROM hits
               WHERE $9::real IS NULL OR (rank, id) < ($9, $10)
               ORDER BY rank DESC, id DESC
               LIMIT $11)
         SELECT doc.*, page.rank,
                (SELECT handle FROM users WHERE users.id = doc.user_id) AS owner_handle,
                (SELECT count(*) FROM hits) AS ranked,
                CASE WHEN strpos(h.en, chr(2)) > 0 OR doc.body IS NULL THEN h.en
                     ELSE ts_headline('docuvault_de', doc.body, q.de, $12) END AS snippet
           FROM page
           CROSS JOIN q
           JOIN LATERAL (
                SELECT {COLUMNS}, substring(t.extracted_text
                                            FROM greatest(coalesce(at.first, 1) - {WINDOW_BEFORE}, 1)
                                            FOR {WINDOW_CHARS}) AS body
                  FROM documents t
                  LEFT JOIN LATERAL (
                       SELECT coalesce(
                              -- As written (lower case, or capitalised as German nouns are):
                              -- a plain scan, cheap even through a long text.
                              (SELECT min(nullif(strpos(t.extracted_text, v), 0))
                                 FROM unnest(q.stems) stem, unnest(ARRAY[stem, initcap(stem)]) v),
                              -- Else with case and accents folded, in the first {FOLDED_CHARS}.
                              (SELECT min(nullif(strpos(folded.text, stem), 0))
                                 FROM (SELECT unaccent(lower(left(t.extracted_text, {FOLDED_CHARS})))
                                         AS text) folded,
                                      unnest(q.stems) stem)) AS first) at ON true
                 WHERE t.id = page.id) doc ON true
           CROSS JOIN LATERAL (SELECT ts_headline('docuvault_en', doc.body, q.en, $12) AS en) h
          ORDER BY page.rank DESC, page.id DESC"
    );
    let options = format!(
        "StartSel={HIT_START}, StopSel={HIT_END}, MaxFragments=2, MaxWords=24, MinWords=8, \
         FragmentDelimiter=\" … \""
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .persistent(false)
        .bind(caller)
        .bind(filters.topic)
        .bind(filters.status.as_deref())
        .bind(filters.from)
        .bind(filters.to)
        .bind(filters.folder.id())
        .bind(q.words)
        .bind(q.prefix.unwrap_or(""))
        .bind(after.map(|a| a.rank))
        .bind(after.map(|a| a.id))
        .bind(limit)
        .bind(options)
        .bind(ranked)
        .fetch_all(pool)
        .await?)
}
