//! Full-text search over the caller's documents and those shared with them.
//!
//! Each document's `search_vector` holds its filename (weight A) and a bounded prefix of its text
//! (weight D), analysed by both `docuvault_en` and `docuvault_de` (migration 0011). A query is
//! parsed by `websearch_to_tsquery` ("quoted phrase", `-word`, `or`) in both configurations and
//! the two are OR-ed: a document matches if it matches as English or as German. The last word of
//! a query still being typed also matches as a prefix. Ranking (`ts_rank`) reads the vector of
//! every match; the snippet (`ts_headline`, which re-parses the text) is made only for the rows
//! of the page.

use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use super::documents::{COLUMNS, DocumentRow, Filters};
use crate::Result;

/// Marks around a highlighted word in a snippet: control characters, which extraction never
/// keeps in a document's text, so the API can split the snippet without parsing HTML.
pub const HIT_START: char = '\u{2}';
pub const HIT_END: char = '\u{3}';

/// How much of a document's text the snippet is looked for in: `ts_headline` re-parses it.
const SNIPPET_SOURCE_CHARS: i32 = 50_000;

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

/// One page of matches, best first. The folder filter applies to the caller's own documents
/// only (a shared document is in none of the caller's folders), so with it shared documents are
/// left out.
pub async fn search(
    pool: &PgPool,
    caller: Uuid,
    q: &SearchQuery<'_>,
    filters: &Filters,
    after: Option<RankAfter>,
    limit: i64,
) -> Result<Vec<HitRow>> {
    let (en, de) = (tsquery("docuvault_en", q), tsquery("docuvault_de", q));
    let filter = Filters::SQL;
    let folder = filters.folder.sql();
    let shared_branch = if filters.folder.is_any() {
        format!(
            "UNION ALL
             SELECT d.id, ts_rank(d.search_vector, q.query, 1) AS rank
               FROM shares s JOIN documents d ON d.id = s.document_id, q
              WHERE s.recipient_id = $1 AND d.search_vector @@ q.query {filter}"
        )
    } else {
        String::new()
    };
    let sql = format!(
        "WITH q AS MATERIALIZED (
              SELECT en, de, en || de AS query FROM (SELECT {en} AS en, {de} AS de) parsed),
              hits AS (
              SELECT d.id, ts_rank(d.search_vector, q.query, 1) AS rank
                FROM documents d, q
               WHERE d.user_id = $1 AND d.search_vector @@ q.query {filter} {folder}
              {shared_branch}),
              page AS (
              SELECT id, rank FROM hits
               WHERE $9::real IS NULL OR (rank, id) < ($9, $10)
               ORDER BY rank DESC, id DESC
               LIMIT $11)
         SELECT doc.*, page.rank,
                (SELECT handle FROM users WHERE users.id = doc.user_id) AS owner_handle,
                CASE WHEN strpos(h.en, chr(2)) > 0 OR doc.body IS NULL THEN h.en
                     ELSE ts_headline('docuvault_de', doc.body, q.de, $12) END AS snippet
           FROM page
           JOIN LATERAL (SELECT {COLUMNS}, left(extracted_text, {SNIPPET_SOURCE_CHARS}) AS body
                           FROM documents WHERE id = page.id) doc ON true
           CROSS JOIN q
           CROSS JOIN LATERAL (SELECT ts_headline('docuvault_en', doc.body, q.en, $12) AS en) h
          ORDER BY page.rank DESC, page.id DESC"
    );
    let options = format!(
        "StartSel={HIT_START}, StopSel={HIT_END}, MaxFragments=2, MaxWords=24, MinWords=8, \
         FragmentDelimiter=\" … \""
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
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
        .fetch_all(pool)
        .await?)
}
