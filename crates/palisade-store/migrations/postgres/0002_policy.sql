-- Security groups (and roles) with their members, annotations and rules; server groups.

CREATE TABLE server_groups (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    segregate       boolean NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX server_groups_organization ON server_groups (organization_id, seq);

CREATE TABLE tags (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    color           text NOT NULL,
    created_at      timestamptz NOT NULL,
    CONSTRAINT tags_name_key UNIQUE (organization_id, name)
);

CREATE TABLE security_groups (
    seq                bigint GENERATED ALWAYS AS IDENTITY,
    id                 uuid PRIMARY KEY,
    organization_id    uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind               text NOT NULL CHECK (kind IN ('security_group', 'role')),
    name               text NOT NULL,
    description        text,
    allow_all_inbound  boolean NOT NULL,
    allow_all_outbound boolean NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    -- Names are unique per organization and kind: concurrent creates with one name have one winner.
    CONSTRAINT security_groups_name_key UNIQUE (organization_id, kind, name)
);
CREATE INDEX security_groups_seq ON security_groups (organization_id, kind, seq);

CREATE TABLE security_group_members (
    group_id  uuid NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    server_id uuid REFERENCES servers (id) ON DELETE CASCADE,
    server_group_id uuid REFERENCES server_groups (id) ON DELETE CASCADE,
    tag_id          uuid REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, position),
    CHECK (num_nonnulls(server_id, server_group_id, tag_id) = 1)
);
CREATE INDEX security_group_members_server ON security_group_members (server_id);

CREATE TABLE security_group_annotations (
    group_id uuid NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    position integer NOT NULL,
    key      text NOT NULL,
    value    text,
    PRIMARY KEY (group_id, position)
);

CREATE TABLE security_group_rules (
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    direction   text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    action      text NOT NULL CHECK (action IN ('allow', 'deny', 'reject')),
    protocol    text NOT NULL,
    ports       text NOT NULL,   -- "80,443,2000-3000"; empty: all ports
    priority    integer,
    remotes     text[] NOT NULL, -- storage forms (all:ipv4, cidr:..., server:...)
    description text,
    created_at  timestamptz NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (group_id, seq);

CREATE TABLE address_lists (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    id              uuid PRIMARY KEY,
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,  -- NULL: global
    name            text NOT NULL,
    annotations     text NOT NULL,   -- JSON array of {"key","value"}
    created_at      timestamptz NOT NULL
);
CREATE INDEX address_lists_organization ON address_lists (organization_id, seq);

CREATE TABLE address_list_entries (
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    id         uuid PRIMARY KEY,
    list_id    uuid NOT NULL REFERENCES address_lists (id) ON DELETE CASCADE,
    address    text NOT NULL,
    name       text,
    CONSTRAINT address_list_entries_address_key UNIQUE (list_id, address)
);
