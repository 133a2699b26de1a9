-- Typed rule storage (issue 12). Until now a rule held its remotes as one column of texts made
-- by the core's types (`all:ipv4`, `cidr:10.0.0.5/24`, `server:<uuid>`,
-- `hosts:{"role":…,"tags":[…]}`; a JSON array here) and its ports as Katapult's port string
-- (`80,443,2000-3000`; empty for all ports). Now each remote is a row with its kind and typed
-- columns, each port range a row, owned by the store alone. The rules written so far are
-- converted here and the two columns dropped.
--
-- Ids of the objects a remote names are not foreign keys: a rule naming a server (group, tag,
-- list) that was deleted keeps the remote as written, as it always has; a foreign key would
-- have changed what deleting the object does.

CREATE TABLE security_group_rule_remotes (
    rule_id   BLOB NOT NULL REFERENCES security_group_rules (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('all_ipv4', 'all_ipv6', 'cidr', 'server', 'group', 'server_group',
                                            'tag', 'address_list', 'hosts')),
    -- The address or CIDR as the client wrote it: faces echo it back byte for byte.
    cidr      TEXT,
    -- The server, security group, server group, tag or address list named.
    object_id BLOB CHECK (length(object_id) = 16),
    -- Hosts: the role they carry; NULL for any role.
    role_id   BLOB CHECK (length(role_id) = 16),
    PRIMARY KEY (rule_id, position),
    CHECK ((cidr IS NOT NULL) = (kind = 'cidr')),
    CHECK ((object_id IS NOT NULL) = (kind IN ('server', 'group', 'server_group', 'tag', 'address_list'))),
    CHECK (role_id IS NULL OR kind = 'hosts')
) STRICT;

-- Hosts remotes: the tags (`key:value`) a host must carry, every one of them.
CREATE TABLE security_group_rule_remote_tags (
    rule_id         BLOB NOT NULL,
    remote_position INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    tag             TEXT NOT NULL,
    PRIMARY KEY (rule_id, remote_position, position),
    FOREIGN KEY (rule_id, remote_position)
        REFERENCES security_group_rule_remotes (rule_id, position) ON DELETE CASCADE
) STRICT;

-- Inclusive port ranges; a rule with none applies to every port.
CREATE TABLE security_group_rule_ports (
    rule_id    BLOB NOT NULL REFERENCES security_group_rules (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    first_port INTEGER NOT NULL,
    last_port  INTEGER NOT NULL,
    PRIMARY KEY (rule_id, position),
    CHECK (1 <= first_port AND first_port <= last_port AND last_port <= 65535)
) STRICT;

-- Remotes: one row per element of the JSON array, at its index. An id that does not decode
-- becomes an empty BLOB, which the length checks refuse: the migration fails rather than
-- dropping or widening a remote. The role of a hosts remote is read as the core read it: a
-- string, else any role.
INSERT INTO security_group_rule_remotes (rule_id, position, kind, cidr, object_id, role_id)
SELECT r.id,
       e.key,
       CASE e.value WHEN 'all:ipv4' THEN 'all_ipv4' WHEN 'all:ipv6' THEN 'all_ipv6'
                    ELSE substr(e.value, 1, instr(e.value, ':') - 1) END,
       CASE WHEN substr(e.value, 1, 5) = 'cidr:' THEN substr(e.value, 6) END,
       CASE WHEN substr(e.value, 1, instr(e.value, ':') - 1)
                 IN ('server', 'group', 'server_group', 'tag', 'address_list')
            THEN coalesce(unhex(replace(substr(e.value, instr(e.value, ':') + 1), '-', '')), x'') END,
       CASE WHEN substr(e.value, 1, 6) = 'hosts:' AND json_type(substr(e.value, 7), '$.role') = 'text'
            THEN coalesce(unhex(replace(json_extract(substr(e.value, 7), '$.role'), '-', '')), x'') END
FROM security_group_rules r, json_each(r.remotes) e;

-- The tags of hosts remotes, at their index; like the core, strings only.
INSERT INTO security_group_rule_remote_tags (rule_id, remote_position, position, tag)
SELECT r.id, e.key, t.key, t.value
FROM security_group_rules r, json_each(r.remotes) e, json_each(substr(e.value, 7), '$.tags') t
WHERE substr(e.value, 1, 6) = 'hosts:' AND t.type = 'text';

-- Ports: `80,443,2000-3000` as the JSON array ["80","443","2000-3000"] (the string holds only
-- digits, dashes and commas), each part a port or a range. A part that is not a number casts
-- to 0, which the range check refuses.
INSERT INTO security_group_rule_ports (rule_id, position, first_port, last_port)
SELECT r.id,
       p.key,
       CAST(CASE WHEN instr(p.value, '-') > 0 THEN substr(p.value, 1, instr(p.value, '-') - 1)
                 ELSE p.value END AS INTEGER),
       CAST(CASE WHEN instr(p.value, '-') > 0 THEN substr(p.value, instr(p.value, '-') + 1)
                 ELSE p.value END AS INTEGER)
FROM security_group_rules r, json_each('["' || replace(r.ports, ',', '","') || '"]') p
WHERE r.ports <> '';

ALTER TABLE security_group_rules DROP COLUMN remotes;
ALTER TABLE security_group_rules DROP COLUMN ports;
