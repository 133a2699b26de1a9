-- Servers that are hosts of an overlay network (Defined Networking's hosts, Nebula underneath).
-- The server row stays the one source of the host's identity, addresses and tags; this table
-- holds only what Nebula needs beyond them. A host's role is its membership of a role group.
CREATE TABLE host_attributes (
    server_id        uuid PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    network_id       uuid NOT NULL REFERENCES networks (id),
    -- The server's name, mirrored (and written in the same transaction) so that this constraint
    -- keeps names unique per organization and network: concurrent creates have one winner.
    name             text NOT NULL,
    listen_port      integer NOT NULL,
    is_lighthouse    boolean NOT NULL,
    is_relay         boolean NOT NULL,
    static_addresses jsonb NOT NULL, -- array of "ip:port"
    config_overrides jsonb NOT NULL, -- array, as sent
    modified_at      timestamptz NOT NULL,
    CONSTRAINT host_attributes_name_key UNIQUE (organization_id, network_id, name)
);
