-- Palisade foundation schema (SQLite). IDs are 16-byte BLOBs, times are Unix seconds.
-- Uniqueness lives in indexes so concurrent writers cannot both win. Lists are in insertion
-- (rowid) order; an index on the owner column carries the rowid, so it serves that order.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE organizations (
    id                           BLOB PRIMARY KEY NOT NULL,
    name                         TEXT NOT NULL,
    sub_domain                   TEXT NOT NULL,
    status                       TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'not_activated')),
    resource_creation_restricted INTEGER NOT NULL DEFAULT 0,
    created_at                   INTEGER NOT NULL,
    updated_at                   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX organizations_sub_domain ON organizations (sub_domain);

CREATE TABLE api_tokens (
    id               BLOB PRIMARY KEY NOT NULL,
    organization_id  BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    scopes           TEXT NOT NULL,   -- space-separated catalogue names
    allowed_networks TEXT NOT NULL,   -- space-separated CIDRs; empty means anywhere
    expires_at       INTEGER,
    revoked_at       INTEGER,         -- revoked tokens are kept for audit and refused
    secret_sha256    BLOB NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX api_tokens_organization ON api_tokens (organization_id);

CREATE TABLE users (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    username        TEXT NOT NULL,
    password_phc    TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_username ON users (username);
CREATE INDEX users_organization ON users (organization_id);

CREATE TABLE data_centers (
    id                BLOB PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    permalink         TEXT NOT NULL,
    country_name      TEXT NOT NULL,
    country_iso_code2 TEXT NOT NULL,
    country_iso_code3 TEXT NOT NULL,
    country_time_zone TEXT NOT NULL,
    country_eu        INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX data_centers_permalink ON data_centers (permalink);

CREATE TABLE networks (
    id              BLOB PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    permalink       TEXT,
    data_center_id  BLOB NOT NULL REFERENCES data_centers (id),
    organization_id BLOB REFERENCES organizations (id) ON DELETE CASCADE,
    is_default      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX networks_permalink ON networks (permalink);
-- One shared default network per data center.
CREATE UNIQUE INDEX networks_shared_default ON networks (data_center_id)
    WHERE is_default = 1 AND organization_id IS NULL;
CREATE INDEX networks_organization ON networks (organization_id);

CREATE TABLE network_prefixes (
    network_id BLOB NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    prefix     TEXT NOT NULL,
    PRIMARY KEY (network_id, position)
) STRICT;

CREATE TABLE servers (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX servers_organization ON servers (organization_id);

CREATE TABLE server_tags (
    server_id BLOB NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    tag       TEXT NOT NULL,
    PRIMARY KEY (server_id, position),
    UNIQUE (server_id, tag)
) STRICT;

CREATE TABLE interfaces (
    id         BLOB PRIMARY KEY NOT NULL,
    server_id  BLOB NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    network_id BLOB NOT NULL REFERENCES networks (id)
) STRICT;
CREATE INDEX interfaces_server ON interfaces (server_id, position);

CREATE TABLE interface_addresses (
    interface_id BLOB NOT NULL REFERENCES interfaces (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    network_id   BLOB NOT NULL REFERENCES networks (id),
    address      TEXT NOT NULL,
    PRIMARY KEY (interface_id, position)
) STRICT;
-- An address is used at most once per network.
CREATE UNIQUE INDEX interface_addresses_in_network ON interface_addresses (network_id, address);
