-- Notifications (issue 18): optional emails, each a user's own setting. A suspicious sign-in
-- (a refresh token used twice: it was copied) is on by default; a document that failed and a
-- document shared with the user are off until they turn them on.
--
-- Never edit this file once it has landed: add a new migration instead.

ALTER TABLE users
    ADD COLUMN notify_document_failed    boolean NOT NULL DEFAULT false,
    ADD COLUMN notify_document_shared    boolean NOT NULL DEFAULT false,
    ADD COLUMN notify_suspicious_sign_in boolean NOT NULL DEFAULT true;
