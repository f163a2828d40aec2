-- Ingest (issue 18): the watch folder (and mail ingest) import each file once per user. The
-- content's SHA-256 is recorded with the document row in the same statement, so a file whose
-- import was interrupted after its row was written is recognised as imported when the importer
-- comes back, and two importers racing on one file cannot both store it (the unique index).
-- Uploads through the API leave it empty: a person may keep two copies on purpose.
--
-- Never edit this file once it has landed: add a new migration instead.

ALTER TABLE documents ADD COLUMN content_sha256 bytea
    CONSTRAINT documents_content_sha256_check CHECK (length(content_sha256) = 32);
CREATE UNIQUE INDEX ux_documents_user_content_sha256 ON documents (user_id, content_sha256)
    WHERE content_sha256 IS NOT NULL;
