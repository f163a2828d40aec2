-- Single sign-on (issue 18): an account's identities at an OpenID Connect provider. A person is
-- recognised by the provider's issuer and their subject there (`sub`, stable and never
-- reassigned), not by their email, which can change; the email is kept for the owner's list of
-- linked sign-ins. An identity is linked the first time someone signs in through the provider
-- with a verified email that an account here has, or when the account is created for them
-- (OIDC_AUTO_CREATE).
--
-- Never edit this file once it has landed: add a new migration instead.

CREATE TABLE user_identities (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer       text NOT NULL CONSTRAINT user_identities_issuer_check
                     CHECK (length(issuer) BETWEEN 1 AND 2000),
    subject      text NOT NULL CONSTRAINT user_identities_subject_check
                     CHECK (length(subject) BETWEEN 1 AND 255),
    email        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_identities_subject_key UNIQUE (issuer, subject)
);
CREATE INDEX ix_user_identities_user ON user_identities (user_id);
