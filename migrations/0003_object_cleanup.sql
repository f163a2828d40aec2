-- Objects that must not outlive their purpose. An upload records its object key here (due
-- hours later) before it stores the bytes, and the INSERT of the document removes the key in
-- the same statement. A process that dies between storing the bytes and recording the document
-- leaves the key behind; workers delete the object of every due key no document claims, so no
-- object stays without its row.
CREATE TABLE object_cleanup (
    object_key text PRIMARY KEY,
    due_at     timestamptz NOT NULL
);
CREATE INDEX ix_object_cleanup_due ON object_cleanup (due_at);
