-- The processing pipeline's bookkeeping on the document row itself. A pending document IS its
-- job: the upload's INSERT is the outbox entry, committed atomically with the document, and the
-- document id is the dedupe key. Redis Streams only delivers; PostgreSQL decides.
--
--   next_attempt_at  when the job may run (now for new uploads; later after a failed attempt)
--   lease_until      while status = 'processing': the worker's lease; once past, the job is
--                    taken over (a killed worker's document is not lost)
--   published_at     when the job was last handed to Redis; the sweeper re-publishes jobs that
--                    were never published or whose message Redis lost
ALTER TABLE documents
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN lease_until     timestamptz,
    ADD COLUMN published_at    timestamptz;

-- The sweeper's scan: unfinished documents by due time.
CREATE INDEX ix_documents_due ON documents (next_attempt_at)
    WHERE status IN ('pending', 'processing');
