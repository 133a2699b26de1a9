-- Security groups (and roles) with their members, annotations and rules; server groups.

CREATE TABLE server_groups (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    segregate       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX server_groups_organization ON server_groups (organization_id);

CREATE TABLE tags (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    color           TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX tags_name ON tags (organization_id, name);

CREATE TABLE security_groups (
    id                 BLOB PRIMARY KEY NOT NULL,
    organization_id    BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind               TEXT NOT NULL CHECK (kind IN ('security_group', 'role')),
    name               TEXT NOT NULL,
    description        TEXT,
    allow_all_inbound  INTEGER NOT NULL,
    allow_all_outbound INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
-- Names are unique per organization and kind: concurrent creates with one name have one winner.
CREATE UNIQUE INDEX security_groups_name ON security_groups (organization_id, kind, name);

CREATE TABLE security_group_members (
    group_id  BLOB NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    server_id BLOB REFERENCES servers (id) ON DELETE CASCADE,
    server_group_id BLOB REFERENCES server_groups (id) ON DELETE CASCADE,
    tag_id    BLOB REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, position),
    CHECK ((server_id IS NOT NULL) + (server_group_id IS NOT NULL) + (tag_id IS NOT NULL) = 1)
) STRICT;
CREATE INDEX security_group_members_server ON security_group_members (server_id);

CREATE TABLE security_group_annotations (
    group_id BLOB NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT,
    PRIMARY KEY (group_id, position)
) STRICT;

CREATE TABLE security_group_rules (
    id          BLOB PRIMARY KEY NOT NULL,
    group_id    BLOB NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    direction   TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    action      TEXT NOT NULL CHECK (action IN ('allow', 'deny', 'reject')),
    protocol    TEXT NOT NULL,
    ports       TEXT NOT NULL,   -- "80,443,2000-3000"; empty: all ports
    priority    INTEGER,
    remotes     TEXT NOT NULL,   -- JSON array of storage forms (all:ipv4, cidr:..., server:...)
    description TEXT,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX security_group_rules_group ON security_group_rules (group_id);

CREATE TABLE address_lists (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB REFERENCES organizations (id) ON DELETE CASCADE,  -- NULL: global
    name            TEXT NOT NULL,
    annotations     TEXT NOT NULL,   -- JSON array of {"key","value"}
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX address_lists_organization ON address_lists (organization_id);

CREATE TABLE address_list_entries (
    id         BLOB PRIMARY KEY NOT NULL,
    list_id    BLOB NOT NULL REFERENCES address_lists (id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    name       TEXT
) STRICT;
CREATE UNIQUE INDEX address_list_entries_address ON address_list_entries (list_id, address);
