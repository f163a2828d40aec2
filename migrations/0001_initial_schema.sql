-- The full v1 schema (seed 004, decisions D-01..D-03), applied by `docuvault migrate` as the
-- docuvault_migrate role, which owns everything it creates. The runtime role docuvault_app only
-- gets DML (granted at the end of this file, and by default privileges for later migrations).
--
-- Never edit this file once it has landed: add a new migration instead.

-- Shared helper: keep updated_at honest without trusting application code.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    handle                  text NOT NULL UNIQUE,
    email                   text NOT NULL UNIQUE,
    password_hash           text NOT NULL,
    totp_secret             text,
    totp_enabled            boolean NOT NULL DEFAULT false,
    role                    text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    is_active               boolean NOT NULL DEFAULT true,
    ai_provider             text,
    ai_model                text,
    default_storage_backend text NOT NULL DEFAULT 'minio',
    created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE quotas (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    limit_bytes bigint NOT NULL DEFAULT 104857600 CHECK (limit_bytes >= 0),
    used_bytes  bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0)
);

CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    revoked    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_refresh_tokens_user_revoked ON refresh_tokens (user_id, revoked);

CREATE TABLE folders (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id  uuid REFERENCES folders (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- NULLS NOT DISTINCT: two root folders of one user may not share a name either.
    CONSTRAINT folders_user_parent_name_key UNIQUE NULLS NOT DISTINCT (user_id, parent_id, name)
);

CREATE TABLE documents (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Nullable until accounts exist (D-03); the accounts migration makes it NOT NULL.
    user_id         uuid REFERENCES users (id) ON DELETE CASCADE,
    folder_id       uuid REFERENCES folders (id) ON DELETE SET NULL,
    filename        text NOT NULL,
    object_key      text NOT NULL UNIQUE,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    storage_backend text NOT NULL DEFAULT 'minio',
    extracted_text  text,
    -- Processing pipeline: pending -> processing -> classified | failed.
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'classified', 'failed')),
    error           text,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    processed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_documents_user_folder ON documents (user_id, folder_id);
-- Keyset pagination walks (user_id, created_at DESC, id DESC); the id breaks ties.
CREATE INDEX ix_documents_user_created ON documents (user_id, created_at DESC, id DESC);
-- The pipeline's sweeper looks for unfinished documents only.
CREATE INDEX ix_documents_unfinished ON documents (updated_at)
    WHERE status IN ('pending', 'processing');
CREATE TRIGGER documents_set_updated_at BEFORE UPDATE ON documents
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE topics (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    description text NOT NULL DEFAULT '',
    color       varchar(7) NOT NULL DEFAULT '#6366f1' CHECK (color ~ '^#[0-9a-f]{6}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- One name per owner, compared case-insensitively; NULLS NOT DISTINCT so the ownerless
-- topics of a single-user install are unique too.
CREATE UNIQUE INDEX topics_user_name_key ON topics (user_id, lower(name)) NULLS NOT DISTINCT;
CREATE TRIGGER topics_set_updated_at BEFORE UPDATE ON topics
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE document_topics (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    topic_id    uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    PRIMARY KEY (document_id, topic_id)
);
CREATE INDEX ix_document_topics_topic ON document_topics (topic_id);

CREATE TABLE shares (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id  uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission   text NOT NULL DEFAULT 'view' CHECK (permission IN ('view')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shares_document_recipient_key UNIQUE (document_id, recipient_id)
);
CREATE INDEX ix_shares_recipient ON shares (recipient_id);

CREATE TABLE audit_log (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    event_type text NOT NULL,
    resource_id uuid,
    ip_address inet,
    metadata   jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_audit_user_created ON audit_log (user_id, created_at);
CREATE INDEX ix_audit_event_created ON audit_log (event_type, created_at);

CREATE TABLE cloud_connections (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        text NOT NULL,
    display_name    text NOT NULL,
    credentials_enc text NOT NULL,
    status          text NOT NULL DEFAULT 'ACTIVE',
    connected_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_cloud_connections_user ON cloud_connections (user_id);

-- v2 stub (D-02): empty until groups land.
CREATE TABLE groups (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- AI settings. Before accounts exist there is one ownerless row (user_id NULL); afterwards one
-- row per user. The API key is sealed with a key derived by HKDF from SECRET_KEY and the owner,
-- and is never returned by the API. The seeds kept these settings in a flat file for phase 1;
-- a row here keeps the API stateless.
CREATE TABLE ai_settings (
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    provider    text NOT NULL DEFAULT 'local' CHECK (provider IN ('local', 'openai', 'anthropic')),
    model       text,
    base_url    text,
    api_key_enc bytea,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_settings_user_key UNIQUE NULLS NOT DISTINCT (user_id)
);
CREATE TRIGGER ai_settings_set_updated_at BEFORE UPDATE ON ai_settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Least privilege for the runtime role: DML on tables, sequences for identity columns, nothing
-- else. Default privileges cover every table and sequence later migrations create.
GRANT USAGE ON SCHEMA public TO docuvault_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO docuvault_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO docuvault_app;
ALTER DEFAULT PRIVILEGES FOR ROLE docuvault_migrate IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO docuvault_app;
ALTER DEFAULT PRIVILEGES FOR ROLE docuvault_migrate IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO docuvault_app;
-- The migration ledger is the migrate role's business: the app may read it, never change it.
REVOKE ALL ON _sqlx_migrations FROM docuvault_app;
GRANT SELECT ON _sqlx_migrations TO docuvault_app;
