-- Presigned uploads (issue 12): a client asks for a URL, sends the bytes straight to the object
-- store, then says it is done. From the ask to the done the upload is a reservation: its size
-- is charged to the quota when it is made (the same conditional UPDATE as a direct upload), and
-- completing it turns the charge into the document's without charging again.
--
-- Never edit this file once it has landed: add a new migration instead.

CREATE TABLE uploads (
    -- Also the id of the document the upload becomes.
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename      text NOT NULL,
    -- The type the client announced; the bytes must turn out to be of it.
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
    object_key    text NOT NULL UNIQUE,
    -- The store's multipart upload id, for uploads sent in parts.
    multipart_id  text,
    part_bytes    bigint NOT NULL CHECK (part_bytes > 0),
    expires_at    timestamptz NOT NULL,
    -- Set by the statement that creates the document; a completed upload no longer holds
    -- quota (its document does) and is kept a while so that completing again answers the same.
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_uploads_user ON uploads (user_id);
-- The sweeper's search for reservations to release.
CREATE INDEX ix_uploads_open_expiry ON uploads (expires_at) WHERE completed_at IS NULL;

-- An object still being sent in parts is not an object yet: its parts are dropped by aborting
-- the multipart upload, which the clean-up does for entries that name one.
ALTER TABLE object_cleanup ADD COLUMN multipart_id text;
