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

-- Until accounts exist every document is ownerless, and PostgreSQL does not take the order of
-- (user_id, created_at, id) from `user_id IS NULL` (IS NULL is not an equality to it): the list
-- fell back to scanning and sorting every row (32 ms at 100,000 documents). A partial index
-- gives the ownerless list its order; the accounts migration makes user_id NOT NULL and drops it.
CREATE INDEX ix_documents_ownerless_created ON documents (created_at DESC, id DESC)
    WHERE user_id IS NULL;
