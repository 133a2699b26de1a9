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
    network_id  BLOB NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    prefix      TEXT NOT NULL,
    -- Sequential allocation cursor: offset of the next never-tried address.
    next_offset INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (network_id, position)
) STRICT;

CREATE TABLE network_reserved (
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

-- Every address in use: held by an organization, possibly allocated to an interface.
CREATE TABLE ip_addresses (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    network_id      BLOB NOT NULL REFERENCES networks (id),
    address         BLOB NOT NULL,    -- octets, 4 or 16: byte order is numeric order
    prefix_len      INTEGER NOT NULL, -- of the prefix it came from
    vip             INTEGER NOT NULL DEFAULT 0,
    label           TEXT,
    reverse_dns     TEXT NOT NULL,
    interface_id    BLOB REFERENCES interfaces (id) ON DELETE SET NULL,
    server_id       BLOB REFERENCES servers (id) ON DELETE SET NULL,
    server_owned    INTEGER NOT NULL DEFAULT 0, -- claimed with its server, released with it
    created_at      INTEGER NOT NULL
) STRICT;
-- An address is used at most once per network: this index is what makes allocation safe.
CREATE UNIQUE INDEX ip_addresses_in_network ON ip_addresses (network_id, address);
CREATE INDEX ip_addresses_organization ON ip_addresses (organization_id);
CREATE INDEX ip_addresses_interface ON ip_addresses (interface_id);

-- Released addresses of sequentially allocated prefixes, handed out again lowest first.
CREATE TABLE released_addresses (
    network_id BLOB NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    address    BLOB NOT NULL,
    PRIMARY KEY (network_id, address)
) STRICT;
