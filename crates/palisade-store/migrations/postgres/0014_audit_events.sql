-- The audit trail (issue 16): one row per change, written in the change's own transaction.
-- No foreign keys: events outlive the organizations, principals and objects they name. The
-- principal is a kind (`operator`, `token`, `user`) and, but for the operator, an id;
-- `changes` is a JSON array of `{"field", "before", "after"}`, never holding a secret.
-- Indexed for what is read most (an organization's trail, an object's history); every index
-- is paid by every write (three more cost a third of SQLite's write rate), so filters by principal,
-- request or time scan within those.
CREATE TABLE audit_events (
    id              uuid PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    at              timestamptz NOT NULL,
    organization_id uuid,
    actor_kind      text NOT NULL,
    actor_id        uuid,
    face            text NOT NULL,
    request_id      text,
    operation       text NOT NULL,
    object_kind     text NOT NULL,
    object_id       text NOT NULL,
    changes         jsonb NOT NULL
);
CREATE INDEX audit_events_seq ON audit_events (seq);
CREATE INDEX audit_events_organization ON audit_events (organization_id, seq);
CREATE INDEX audit_events_object ON audit_events (object_kind, object_id);
