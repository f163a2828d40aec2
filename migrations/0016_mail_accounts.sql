-- Mail ingest (issue 18): a user connects an IMAP mailbox; the workers import the attachments
-- of new mail in its folder as documents and mark each mail with the keyword
-- `$DocuVaultImported` (or \Flagged where the server keeps no keywords), so it is not fetched
-- twice. Attachments are recorded with their SHA-256 (migration 0015), so an import cut short
-- stores nothing twice when the mail is read again.
--
-- The password is sealed with a key derived from SECRET_KEY, the purpose and the owner, and
-- bound to the row's id (a sealed value copied to another row does not open). It is never
-- returned by the API or logged.
--
-- Never edit this file once it has landed: add a new migration instead.

CREATE TABLE mail_accounts (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    host            text NOT NULL CONSTRAINT mail_accounts_host_check
                        CHECK (length(host) BETWEEN 1 AND 253),
    port            integer NOT NULL CONSTRAINT mail_accounts_port_check
                        CHECK (port BETWEEN 1 AND 65535),
    security        text NOT NULL CONSTRAINT mail_accounts_security_check
                        CHECK (security IN ('tls', 'starttls', 'none')),
    username        text NOT NULL CONSTRAINT mail_accounts_username_check
                        CHECK (length(username) BETWEEN 1 AND 320),
    password_enc    bytea NOT NULL,
    folder          text NOT NULL DEFAULT 'INBOX' CONSTRAINT mail_accounts_folder_check
                        CHECK (length(folder) BETWEEN 1 AND 200),
    status          text NOT NULL DEFAULT 'active' CONSTRAINT mail_accounts_status_check
                        CHECK (status IN ('active', 'error')),
    -- A sentence for the owner when the last look failed (wrong password, server down).
    last_error      text,
    last_checked_at timestamptz,
    -- When a worker looks next; a worker that takes the account moves it on first, so two
    -- workers do not read one mailbox at once.
    next_check_at   timestamptz NOT NULL DEFAULT now(),
    imported        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_mail_accounts_user ON mail_accounts (user_id, created_at);
CREATE INDEX ix_mail_accounts_due ON mail_accounts (next_check_at);
