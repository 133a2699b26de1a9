-- The audit trail (issue 16): one row per change, written in the change's own transaction.
-- No foreign keys: events outlive the organizations, principals and objects they name. The
-- principal is a kind (`operator`, `token`, `user`) and, but for the operator, an id;
-- `changes` is a JSON array of `{"field", "before", "after"}`, never holding a secret.
-- Indexed for what is read most (an organization's trail, an object's history); every index
-- is paid by every write (three more cost a third of SQLite's write rate), so filters by principal,
-- request or time scan within those.
CREATE TABLE audit_events (
    id              BLOB PRIMARY KEY NOT NULL,
    at              INTEGER NOT NULL,
    organization_id BLOB,
    actor_kind      TEXT NOT NULL,
    actor_id        BLOB,
    face            TEXT NOT NULL,
    request_id      TEXT,
    operation       TEXT NOT NULL,
    object_kind     TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    changes         TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_organization ON audit_events (organization_id);
CREATE INDEX audit_events_object ON audit_events (object_kind, object_id);
