-- API tokens (issue 18): long-lived bearer tokens for scripts and scanners, each with a scope
-- (`upload`: send documents in; `read`: look but not change; `full`: everything a user does
-- with their documents). Never account security or administration: those need a sign-in.
--
-- Only the SHA-256 of a token is stored (it carries 256 random bits, so a fast hash is enough
-- and the lookup stays an index probe); `prefix` is its first characters, shown in the list so
-- a person can tell their tokens apart. A revoked token is kept, marked, for the record.
--
-- Never edit this file once it has landed: add a new migration instead.

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CONSTRAINT api_tokens_name_check
                     CHECK (length(name) BETWEEN 1 AND 100),
    scope        text NOT NULL CONSTRAINT api_tokens_scope_check
                     CHECK (scope IN ('upload', 'read', 'full')),
    token_hash   text NOT NULL CONSTRAINT api_tokens_token_hash_key UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX ix_api_tokens_user ON api_tokens (user_id, created_at DESC);
