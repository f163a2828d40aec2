-- The AI provider that classifies a user's documents is the admin's decision (issue 12): an
-- admin assigns a provider per user (or leaves the instance default), and allows a user to
-- choose their own only explicitly.
--
-- Never edit this file once it has landed: add a new migration instead.

ALTER TABLE users
    -- The user may change their own AI settings (`PUT /api/settings`). Admins always may.
    ADD COLUMN ai_self_service boolean NOT NULL DEFAULT false;

ALTER TABLE ai_settings
    -- The admin who assigned these settings; NULL when the user chose them (self-service).
    -- An admin's choice may point at a private endpoint (Ollama on the LAN); a user's may not.
    ADD COLUMN assigned_by uuid REFERENCES users (id) ON DELETE SET NULL;

-- Before this, every user chose their own provider. Whoever already sends documents to a
-- remote provider keeps it and may go on changing it, so an upgrade breaks no one's setup; the
-- admin sees them in the user list and can take it back. Everyone else starts locked.
UPDATE users u SET ai_self_service = true
 WHERE EXISTS (SELECT 1 FROM ai_settings s WHERE s.user_id = u.id AND s.provider <> 'local');

-- Never read or written: `ai_settings` holds the assignment.
ALTER TABLE users DROP COLUMN ai_provider, DROP COLUMN ai_model;
