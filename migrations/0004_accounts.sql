-- Accounts (issue 5): every document, topic and settings row gets an owner, and the columns the
-- sign-in flows need.
--
-- Never edit this file once it has landed: add a new migration instead.

-- Rows made before accounts existed (the single-owner phase) are kept, not dropped: they go to
-- the first admin, or, on an install that has no user yet, to an admin account `owner` whose
-- password hash '!' matches no password. The operator claims it from the server's shell with
-- `docuvault user set-password owner` — a server-side step, not an impersonation pathway.
DO $$
DECLARE
    heir uuid;
BEGIN
    IF EXISTS (SELECT 1 FROM documents WHERE user_id IS NULL)
       OR EXISTS (SELECT 1 FROM topics WHERE user_id IS NULL)
       OR EXISTS (SELECT 1 FROM ai_settings WHERE user_id IS NULL) THEN
        SELECT id INTO heir FROM users ORDER BY (role = 'admin') DESC, created_at LIMIT 1;
        IF heir IS NULL THEN
            INSERT INTO users (handle, email, password_hash, role)
                 VALUES ('owner', 'owner@localhost.invalid', '!', 'admin')
              RETURNING id INTO heir;
            INSERT INTO quotas (user_id) VALUES (heir);
        END IF;
        UPDATE documents SET user_id = heir WHERE user_id IS NULL;
        -- A topic whose name the heir already uses is dropped rather than renamed.
        UPDATE topics t SET user_id = heir
         WHERE user_id IS NULL
           AND NOT EXISTS (SELECT 1 FROM topics o
                            WHERE o.user_id = heir AND lower(o.name) = lower(t.name));
        DELETE FROM topics WHERE user_id IS NULL;
        -- A sealed API key is bound to its owner ("null-user"), so it cannot follow the row:
        -- the heir keeps provider, model and base URL and enters the key again.
        UPDATE ai_settings SET user_id = heir, api_key_enc = NULL
         WHERE user_id IS NULL
           AND NOT EXISTS (SELECT 1 FROM ai_settings o WHERE o.user_id = heir);
        DELETE FROM ai_settings WHERE user_id IS NULL;
    END IF;
END
$$;

ALTER TABLE documents ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE topics ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE ai_settings ALTER COLUMN user_id SET NOT NULL;
-- Only the ownerless listing used it (migration 0002).
DROP INDEX ix_documents_ownerless_created;

ALTER TABLE users
    -- Bumped by "sign out everywhere", a password change or reset and deactivation: access
    -- tokens carry the version they were issued under and stop working when it moves on.
    ADD COLUMN token_version   integer NOT NULL DEFAULT 0,
    -- The last TOTP time step accepted, so a code cannot be used twice (RFC 6238 §5.2).
    ADD COLUMN totp_last_step  bigint,
    -- SHA-256 hashes of the unused recovery codes.
    ADD COLUMN recovery_codes  text[] NOT NULL DEFAULT '{}',
    -- Set when a stolen refresh token was detected; shown (and cleared) at the next login.
    ADD COLUMN security_notice text;
-- Handles and emails are unique whatever their case.
CREATE UNIQUE INDEX users_handle_lower_key ON users (lower(handle));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Refresh tokens rotate on every use. All tokens of one sign-in share a family; presenting a
-- token that was already rotated (`used_at` set) revokes the whole family (RFC 9700 §4.14).
ALTER TABLE refresh_tokens
    ADD COLUMN family_id  uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN used_at    timestamptz,
    ADD COLUMN user_agent text,
    ADD COLUMN ip_address inet;
CREATE INDEX ix_refresh_tokens_family ON refresh_tokens (family_id);
-- Workers forget tokens a day after they expire.
CREATE INDEX ix_refresh_tokens_expires ON refresh_tokens (expires_at);

-- Password-reset links: single use, 30 minutes, only the SHA-256 of the token is stored.
CREATE TABLE password_resets (
    token_hash text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_password_resets_user ON password_resets (user_id);
