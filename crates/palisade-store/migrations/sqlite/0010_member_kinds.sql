-- Two more kinds of group member (issue 13): an L3 network (every interface on it: ZStack's
-- AttachSecurityGroupToL3Network) and one interface of a server (ZStack's VM NIC). SQLite
-- cannot change a CHECK constraint, so the table is rebuilt with its rows and indexes.

CREATE TABLE security_group_members_new (
    group_id        BLOB NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    server_id       BLOB REFERENCES servers (id) ON DELETE CASCADE,
    server_group_id BLOB REFERENCES server_groups (id) ON DELETE CASCADE,
    tag_id          BLOB REFERENCES tags (id) ON DELETE CASCADE,
    network_id      BLOB REFERENCES networks (id) ON DELETE CASCADE,
    interface_id    BLOB REFERENCES interfaces (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, position),
    CHECK ((server_id IS NOT NULL) + (server_group_id IS NOT NULL) + (tag_id IS NOT NULL)
           + (network_id IS NOT NULL) + (interface_id IS NOT NULL) = 1)
) STRICT;
INSERT INTO security_group_members_new (group_id, position, server_id, server_group_id, tag_id)
    SELECT group_id, position, server_id, server_group_id, tag_id FROM security_group_members;
DROP TABLE security_group_members;
ALTER TABLE security_group_members_new RENAME TO security_group_members;
CREATE INDEX security_group_members_server ON security_group_members (server_id);
CREATE INDEX security_group_members_network ON security_group_members (network_id);
CREATE INDEX security_group_members_interface ON security_group_members (interface_id);
