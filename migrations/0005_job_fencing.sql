-- Hardening of the pipeline (issue 11).
--
-- Never edit this file once it has landed: add a new migration instead.

ALTER TABLE documents
    -- The text hit EXTRACT_MAX_TEXT_BYTES and was cut there (a 2,000-page book, say): the
    -- document is classified on what was kept, and the reader is told it is not all.
    ADD COLUMN text_truncated boolean NOT NULL DEFAULT false,
    -- Attempts that ended without a result — an error, a panic, or a worker that died or hung
    -- with the job (its lease expired and another worker took the document over). They count
    -- against JOB_MAX_ATTEMPTS. `attempts` stays the fencing token: it only ever grows (a
    -- graceful give-back and a reclassification no longer lower or reset it), so an old
    -- attempt number can never match the row again.
    ADD COLUMN failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0);

-- `/metrics` counts the documents waiting (ix_documents_due) and the failed ones on every
-- scrape; with this index the second count reads only the failed rows, not the whole table.
CREATE INDEX ix_documents_failed ON documents (status) WHERE status = 'failed';
