-- The ZStack face (issue 13): sessions, asynchronous job records, a group's state and IP
-- version, and a user's second password verifier.

-- ZStack's `state` (Enabled/Disabled: a disabled group's rules stop applying) and 3.1-3.9's
-- `ipVersion` (NULL: a group of another face, both families). The identity column `seq`
-- already numbers groups in creation order (ZStack's `internalId`).
ALTER TABLE security_groups ADD COLUMN enabled boolean NOT NULL DEFAULT true;
ALTER TABLE security_groups ADD COLUMN ip_version smallint CHECK (ip_version IN (4, 6));

-- Argon2id of the SHA-512 hex of the user's password: what a ZStack client sends at login.
-- NULL until the user's next password change or HTTP Basic login.
ALTER TABLE users ADD COLUMN zstack_password_phc text;

-- Sessions are kept as the SHA-256 of their uuid only; the uuid is shown once, at login.
CREATE TABLE sessions (
    id_sha256       bytea PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- A finished asynchronous call: the answer its poll gives (status and body), written in the
-- transaction of the operation it reports. `organization_id` is NULL for calls refused before
-- any organization was known (an invalid session).
CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    status          integer NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX jobs_expires ON jobs (expires_at);
