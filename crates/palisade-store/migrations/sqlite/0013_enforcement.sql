-- Enforcement (issue 15). An agent token is an API token bound to one server: it may read that
-- server's policy and report what its host applied, nothing else. Deleting the server deletes
-- its agent tokens (never leaving an unbound token holding `agent`).
ALTER TABLE api_tokens ADD COLUMN server_id BLOB REFERENCES servers (id) ON DELETE CASCADE;
CREATE INDEX api_tokens_server ON api_tokens (server_id);

-- What each server's host agent last reported: the revision and content digest of the policy in
-- force on the host, and the error of its last attempt, if it failed. Reports change no policy:
-- they bump no revision.
CREATE TABLE server_enforcement (
    server_id        BLOB PRIMARY KEY NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    organization_id  BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    applied_revision INTEGER,
    applied_digest   TEXT,
    applied_at       INTEGER,
    last_error       TEXT,
    reported_at      INTEGER NOT NULL
) STRICT;
