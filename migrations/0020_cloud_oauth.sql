-- OneDrive and Google Drive connections (issue 16): their tokens are sealed in
-- `credentials_enc` like any credentials; when the access token runs out is kept beside them in
-- clear, so the workers find the connections to refresh before expiry without opening every
-- sealed value. NULL for connections without tokens (WebDAV, Nextcloud).
--
-- Never edit this file once it has landed: add a new migration instead.

ALTER TABLE cloud_connections ADD COLUMN token_expires_at timestamptz;
CREATE INDEX ix_cloud_connections_token_expiry ON cloud_connections (token_expires_at)
    WHERE token_expires_at IS NOT NULL;
