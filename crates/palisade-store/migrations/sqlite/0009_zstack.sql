-- The ZStack face (issue 13): sessions, asynchronous job records, a group's state and IP
-- version, and a user's second password verifier.

-- ZStack's `state` (Enabled/Disabled: a disabled group's rules stop applying) and 3.1-3.9's
-- `ipVersion` (NULL: a group of another face, both families). `seq` numbers groups in creation
-- order, as PostgreSQL's identity column does (ZStack's `internalId`); a trigger fills it from
-- the rowid, which is what SQLite orders by.
ALTER TABLE security_groups ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE security_groups ADD COLUMN ip_version INTEGER CHECK (ip_version IN (4, 6));
ALTER TABLE security_groups ADD COLUMN seq INTEGER;
UPDATE security_groups SET seq = rowid;
CREATE TRIGGER security_groups_seq AFTER INSERT ON security_groups
BEGIN
    UPDATE security_groups SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END;

-- Argon2id of the SHA-512 hex of the user's password: what a ZStack client sends at login.
-- NULL until the user's next password change or HTTP Basic login.
ALTER TABLE users ADD COLUMN zstack_password_phc TEXT;

-- Sessions are kept as the SHA-256 of their uuid only; the uuid is shown once, at login.
CREATE TABLE sessions (
    id_sha256       BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- A finished asynchronous call: the answer its poll gives (status and body), written in the
-- transaction of the operation it reports. `organization_id` is NULL for calls refused before
-- any organization was known (an invalid session).
CREATE TABLE jobs (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB REFERENCES organizations (id) ON DELETE CASCADE,
    status          INTEGER NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_expires ON jobs (expires_at);
