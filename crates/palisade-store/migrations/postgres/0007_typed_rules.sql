-- Typed rule storage (issue 12). Until now a rule held its remotes as one column of texts made
-- by the core's types (`all:ipv4`, `cidr:10.0.0.5/24`, `server:<uuid>`,
-- `hosts:{"role":…,"tags":[…]}`; a `text[]` here) and its ports as Katapult's port string
-- (`80,443,2000-3000`; empty for all ports). Now each remote is a row with its kind and typed
-- columns, each port range a row, owned by the store alone. The rules written so far are
-- converted here and the two columns dropped.
--
-- Ids of the objects a remote names are not foreign keys: a rule naming a server (group, tag,
-- list) that was deleted keeps the remote as written, as it always has; a foreign key would
-- have changed what deleting the object does.

CREATE TABLE security_group_rule_remotes (
    rule_id   uuid NOT NULL REFERENCES security_group_rules (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('all_ipv4', 'all_ipv6', 'cidr', 'server', 'group', 'server_group',
                                            'tag', 'address_list', 'hosts')),
    -- The address or CIDR as the client wrote it (not `cidr`, which would normalize or refuse
    -- host bits): faces echo it back byte for byte.
    cidr      text,
    -- The server, security group, server group, tag or address list named.
    object_id uuid,
    -- Hosts: the role they carry; NULL for any role.
    role_id   uuid,
    PRIMARY KEY (rule_id, position),
    CHECK ((cidr IS NOT NULL) = (kind = 'cidr')),
    CHECK ((object_id IS NOT NULL) = (kind IN ('server', 'group', 'server_group', 'tag', 'address_list'))),
    CHECK (role_id IS NULL OR kind = 'hosts')
);

-- Hosts remotes: the tags (`key:value`) a host must carry, every one of them.
CREATE TABLE security_group_rule_remote_tags (
    rule_id         uuid NOT NULL,
    remote_position integer NOT NULL,
    position        integer NOT NULL,
    tag             text NOT NULL,
    PRIMARY KEY (rule_id, remote_position, position),
    FOREIGN KEY (rule_id, remote_position)
        REFERENCES security_group_rule_remotes (rule_id, position) ON DELETE CASCADE
);

-- Inclusive port ranges; a rule with none applies to every port.
CREATE TABLE security_group_rule_ports (
    rule_id    uuid NOT NULL REFERENCES security_group_rules (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    first_port integer NOT NULL,
    last_port  integer NOT NULL,
    PRIMARY KEY (rule_id, position),
    CHECK (1 <= first_port AND first_port <= last_port AND last_port <= 65535)
);

-- Remotes: one row per array element, at its (zero-based) index. An id that does not parse
-- fails the migration rather than dropping or widening a remote. The role of a hosts remote is
-- read as the core read it: a string, else any role.
INSERT INTO security_group_rule_remotes (rule_id, position, kind, cidr, object_id, role_id)
SELECT r.id,
       u.n - 1,
       CASE u.v WHEN 'all:ipv4' THEN 'all_ipv4' WHEN 'all:ipv6' THEN 'all_ipv6'
                ELSE split_part(u.v, ':', 1) END,
       CASE WHEN split_part(u.v, ':', 1) = 'cidr' THEN substr(u.v, 6) END,
       CASE WHEN split_part(u.v, ':', 1) IN ('server', 'group', 'server_group', 'tag', 'address_list')
            THEN substr(u.v, strpos(u.v, ':') + 1)::uuid END,
       CASE WHEN split_part(u.v, ':', 1) = 'hosts' THEN
            CASE WHEN jsonb_typeof(substr(u.v, 7)::jsonb -> 'role') = 'string'
                 THEN (substr(u.v, 7)::jsonb ->> 'role')::uuid END
       END
FROM security_group_rules r, unnest(r.remotes) WITH ORDINALITY AS u(v, n);

-- The tags of hosts remotes, at their index; like the core, strings only. The JSON is parsed
-- only for hosts remotes (the CASE), whatever order the planner picks.
INSERT INTO security_group_rule_remote_tags (rule_id, remote_position, position, tag)
SELECT r.id, u.n - 1, t.n - 1, t.tag #>> '{}'
FROM security_group_rules r,
     unnest(r.remotes) WITH ORDINALITY AS u(v, n),
     jsonb_array_elements(
         CASE WHEN split_part(u.v, ':', 1) = 'hosts' THEN
              CASE WHEN jsonb_typeof(substr(u.v, 7)::jsonb -> 'tags') = 'array'
                   THEN substr(u.v, 7)::jsonb -> 'tags' END
         END
     ) WITH ORDINALITY AS t(tag, n)
WHERE jsonb_typeof(t.tag) = 'string';

-- Ports: `80,443,2000-3000`, each comma-separated part a port or a range.
INSERT INTO security_group_rule_ports (rule_id, position, first_port, last_port)
SELECT r.id,
       p.n - 1,
       split_part(p.part, '-', 1)::integer,
       coalesce(nullif(split_part(p.part, '-', 2), ''), split_part(p.part, '-', 1))::integer
FROM security_group_rules r, unnest(string_to_array(nullif(r.ports, ''), ',')) WITH ORDINALITY AS p(part, n);

ALTER TABLE security_group_rules DROP COLUMN remotes, DROP COLUMN ports;
