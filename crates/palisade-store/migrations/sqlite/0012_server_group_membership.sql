-- A server's server group (Katapult's `VirtualMachine.group`, at most one per server): a column
-- of the server rather than a table of memberships. Deleting the group leaves its servers in
-- none. That the group is of the server's own organization is the store's check on every write.
ALTER TABLE servers ADD COLUMN server_group_id BLOB REFERENCES server_groups (id) ON DELETE SET NULL;
CREATE INDEX servers_server_group ON servers (server_group_id);
