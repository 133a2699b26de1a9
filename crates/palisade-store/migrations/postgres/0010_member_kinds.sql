-- Two more kinds of group member (issue 13): an L3 network (every interface on it: ZStack's
-- AttachSecurityGroupToL3Network) and one interface of a server (ZStack's VM NIC).

ALTER TABLE security_group_members
    ADD COLUMN network_id uuid REFERENCES networks (id) ON DELETE CASCADE,
    ADD COLUMN interface_id uuid REFERENCES interfaces (id) ON DELETE CASCADE;
ALTER TABLE security_group_members DROP CONSTRAINT security_group_members_check;
ALTER TABLE security_group_members ADD CONSTRAINT security_group_members_one_member
    CHECK (num_nonnulls(server_id, server_group_id, tag_id, network_id, interface_id) = 1);
CREATE INDEX security_group_members_network ON security_group_members (network_id);
CREATE INDEX security_group_members_interface ON security_group_members (interface_id);
