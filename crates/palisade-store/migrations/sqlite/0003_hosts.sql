-- Servers that are hosts of an overlay network (Defined Networking's hosts, Nebula underneath).
-- The server row stays the one source of the host's identity, addresses and tags; this table
-- holds only what Nebula needs beyond them. A host's role is its membership of a role group.
CREATE TABLE host_attributes (
    server_id        BLOB PRIMARY KEY NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    organization_id  BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    network_id       BLOB NOT NULL REFERENCES networks (id),
    -- The server's name, mirrored (and written in the same transaction) so that this index keeps
    -- names unique per organization and network: concurrent creates with one name have one winner.
    name             TEXT NOT NULL,
    listen_port      INTEGER NOT NULL,
    is_lighthouse    INTEGER NOT NULL,
    is_relay         INTEGER NOT NULL,
    static_addresses TEXT NOT NULL, -- JSON array of "ip:port"
    config_overrides TEXT NOT NULL, -- JSON array, as sent
    modified_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX host_attributes_name ON host_attributes (organization_id, network_id, name);
