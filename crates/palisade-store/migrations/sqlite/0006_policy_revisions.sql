-- Policy revisions (issue 12): one counter per organization, bumped once by the commit of every
-- transaction that changed what decides its servers' effective policy, so that a host agent or a
-- cache can tell "nothing changed" from "recompute". An organization without a row is at
-- revision 0 (none of its policy writes has committed since this migration).

CREATE TABLE policy_revisions (
    organization_id BLOB PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    revision        INTEGER NOT NULL CHECK (revision > 0)
) STRICT;
