-- A person's own cloud as the place their documents are kept (issue 16). Until now
-- `cloud_connections`, `users.default_storage_backend` and `documents.storage_backend` existed
-- and nothing used them; they are replaced here by the shape the code uses.
--
-- Where a document's bytes are is one string, `documents.object_key` (its locator): a key in
-- DocuVault's own store (`{user}/{document}/{uuid}.ext`), or `cloud:{connection}:{path}` in one
-- of the owner's connections. One string, so the clean-up list (`object_cleanup`, keyed by it)
-- and every path that already follows `object_key` know which backend an object is in.
-- `documents.storage_connection_id` says the same as a foreign key, which keeps a connection
-- from being deleted while documents are kept there (checked at the end of a statement, so
-- deleting a user deletes both); a CHECK holds the two together.
--
-- Never edit this file once it has landed: add a new migration instead.

DROP TABLE cloud_connections;
ALTER TABLE users DROP COLUMN default_storage_backend;
ALTER TABLE documents DROP COLUMN storage_backend;

CREATE TABLE cloud_connections (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     text NOT NULL CONSTRAINT cloud_connections_provider_check
                     CHECK (provider IN ('webdav', 'nextcloud', 'onedrive', 'gdrive')),
    display_name text NOT NULL CONSTRAINT cloud_connections_display_name_check
                     CHECK (length(display_name) BETWEEN 1 AND 100),
    -- The server's URL (WebDAV, Nextcloud) or the account's name at the provider; not secret.
    endpoint     text NOT NULL CONSTRAINT cloud_connections_endpoint_check
                     CHECK (length(endpoint) BETWEEN 1 AND 2000),
    username     text,
    -- Sealed with the owner's key for this purpose and the connection's id as associated data;
    -- the first byte names the SECRET_KEY it was sealed under (see crypto.rs).
    credentials_enc bytea NOT NULL,
    status       text NOT NULL DEFAULT 'active' CONSTRAINT cloud_connections_status_check
                     CHECK (status IN ('active', 'error', 'revoked')),
    -- Why the connection is in `error`, in words for its owner.
    last_error   text,
    checked_at   timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_cloud_connections_user ON cloud_connections (user_id);

-- Where the owner's new uploads go; NULL: DocuVault's own store.
ALTER TABLE users ADD COLUMN default_connection_id uuid
    REFERENCES cloud_connections (id) ON DELETE SET NULL;

ALTER TABLE documents ADD COLUMN storage_connection_id uuid
    REFERENCES cloud_connections (id);
ALTER TABLE documents ADD CONSTRAINT documents_storage_locator_check CHECK (
    CASE WHEN storage_connection_id IS NULL THEN object_key NOT LIKE 'cloud:%'
         ELSE starts_with(object_key, 'cloud:' || storage_connection_id::text || ':') END);
CREATE INDEX ix_documents_storage_connection ON documents (storage_connection_id)
    WHERE storage_connection_id IS NOT NULL;

-- A document being moved from one backend to another. The worker copies it to `to_locator`
-- (put on the clean-up list before the first byte is sent), checks size and SHA-256, switches
-- the row, and only then deletes the old copy; a worker killed at any step leaves this row,
-- and the next one starts the copy again under the same locator. One move per document.
CREATE TABLE storage_moves (
    document_id      uuid PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL: DocuVault's own store.
    to_connection_id uuid REFERENCES cloud_connections (id) ON DELETE CASCADE,
    to_locator       text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    -- A worker holds the move until then; after it, another may take it over.
    leased_until     timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_storage_moves_due ON storage_moves (leased_until);
CREATE INDEX ix_storage_moves_user ON storage_moves (user_id);
-- A move's target is on the clean-up list while it is copied; the clean-up leaves it alone while
-- the move is there (found by this index), and deletes it if the move is dropped.
CREATE UNIQUE INDEX ux_storage_moves_to_locator ON storage_moves (to_locator);

-- A document's history tells where it was moved, and why a move could not be made.
ALTER TABLE document_activity DROP CONSTRAINT document_activity_kind_check;
ALTER TABLE document_activity ADD CONSTRAINT document_activity_kind_check CHECK (kind IN (
    'uploaded', 'classified', 'failed', 'reclassify_requested', 'renamed',
    'moved', 'topics_set', 'shared', 'share_revoked', 'viewed', 'downloaded',
    'storage_moved', 'storage_move_failed'));
