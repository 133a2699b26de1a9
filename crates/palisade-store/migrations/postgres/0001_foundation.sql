-- Palisade foundation schema (PostgreSQL). Native uuid, cidr/inet and timestamptz.
-- Uniqueness lives in constraints so concurrent writers on any number of nodes cannot both win;
-- constraint names are mapped to the offending field in src/store_impl.rs. `seq` gives lists a
-- stable creation order.

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE organizations (
    seq                          bigint GENERATED ALWAYS AS IDENTITY,
    id                           uuid PRIMARY KEY,
    name                         text NOT NULL,
    sub_domain                   text NOT NULL CONSTRAINT organizations_sub_domain_key UNIQUE,
    status                       text NOT NULL CHECK (status IN ('active', 'suspended', 'not_activated')),
    resource_creation_restricted boolean NOT NULL DEFAULT false,
    created_at                   timestamptz NOT NULL,
    updated_at                   timestamptz NOT NULL
);
CREATE INDEX organizations_seq ON organizations (seq);

CREATE TABLE api_tokens (
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             text NOT NULL,
    scopes           text[] NOT NULL,
    allowed_networks cidr[] NOT NULL,   -- empty means anywhere
    expires_at       timestamptz,
    revoked_at       timestamptz,       -- revoked tokens are kept for audit and refused
    secret_sha256    bytea NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX api_tokens_organization ON api_tokens (organization_id, seq);

CREATE TABLE users (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    username        text NOT NULL CONSTRAINT users_username_key UNIQUE,
    password_phc    text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX users_organization ON users (organization_id, seq);

CREATE TABLE data_centers (
    seq               bigint GENERATED ALWAYS AS IDENTITY,
    id                uuid PRIMARY KEY,
    name              text NOT NULL,
    permalink         text NOT NULL CONSTRAINT data_centers_permalink_key UNIQUE,
    country_name      text NOT NULL,
    country_iso_code2 text NOT NULL,
    country_iso_code3 text NOT NULL,
    country_time_zone text NOT NULL,
    country_eu        boolean NOT NULL,
    created_at        timestamptz NOT NULL
);
CREATE INDEX data_centers_seq ON data_centers (seq);

CREATE TABLE networks (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    permalink       text CONSTRAINT networks_permalink_key UNIQUE,
    data_center_id  uuid NOT NULL REFERENCES data_centers (id),
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    is_default      boolean NOT NULL,
    created_at      timestamptz NOT NULL
);
-- One shared default network per data center.
CREATE UNIQUE INDEX networks_shared_default ON networks (data_center_id)
    WHERE is_default AND organization_id IS NULL;
CREATE INDEX networks_seq ON networks (seq);
CREATE INDEX networks_organization ON networks (organization_id);

CREATE TABLE network_prefixes (
    network_id  uuid NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    prefix      cidr NOT NULL,
    -- Sequential allocation cursor: offset of the next never-tried address. Allocators lock
    -- this row (FOR UPDATE), so the cursor moves under one writer at a time per prefix.
    next_offset bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (network_id, position)
);

CREATE TABLE network_reserved (
    network_id uuid NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    prefix     cidr NOT NULL,
    PRIMARY KEY (network_id, position)
);

CREATE TABLE servers (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX servers_organization ON servers (organization_id, seq);

CREATE TABLE server_tags (
    server_id uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    tag       text NOT NULL,
    PRIMARY KEY (server_id, position),
    CONSTRAINT server_tags_unique UNIQUE (server_id, tag)
);

CREATE TABLE interfaces (
    id         uuid PRIMARY KEY,
    server_id  uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    network_id uuid NOT NULL REFERENCES networks (id)
);
CREATE INDEX interfaces_server ON interfaces (server_id, position);

-- Every address in use: held by an organization, possibly allocated to an interface.
CREATE TABLE ip_addresses (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    network_id      uuid NOT NULL REFERENCES networks (id),
    address         inet NOT NULL,
    prefix_len      smallint NOT NULL,  -- of the prefix it came from
    vip             boolean NOT NULL DEFAULT false,
    label           text,
    reverse_dns     text NOT NULL,
    interface_id    uuid REFERENCES interfaces (id) ON DELETE SET NULL,
    server_id       uuid REFERENCES servers (id) ON DELETE SET NULL,
    server_owned    boolean NOT NULL DEFAULT false, -- claimed with its server, released with it
    created_at      timestamptz NOT NULL,
    -- An address is used at most once per network: this is what makes allocation safe across
    -- any number of nodes.
    CONSTRAINT ip_addresses_in_network UNIQUE (network_id, address)
);
CREATE INDEX ip_addresses_organization ON ip_addresses (organization_id, seq);
CREATE INDEX ip_addresses_server ON ip_addresses (server_id);

-- Released addresses of sequentially allocated prefixes, handed out again lowest first.
CREATE TABLE released_addresses (
    network_id uuid NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    address    inet NOT NULL,
    PRIMARY KEY (network_id, address)
);
