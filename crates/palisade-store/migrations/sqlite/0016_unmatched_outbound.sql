-- Outbound flows that no rule matches may pass while a group keeps its outbound rules (issue 15:
-- ZStack's egress). ZStack's agents end a NIC's egress chain in the NIC's egress policy, ALLOW
-- unless changed, after the rules of its groups; Palisade enforced a ZStack group's egress as its
-- rules alone, so a VM with the default rules could reach only its own group. ZStack groups now
-- carry the flag. Those created before are the groups with an address family: only the ZStack
-- face has ever set one (it defaults to 4). Their organizations' policy revisions move, so that
-- agents fetch the wider egress.
ALTER TABLE security_groups ADD COLUMN allow_unmatched_outbound INTEGER NOT NULL DEFAULT 0;

UPDATE security_groups SET allow_unmatched_outbound = 1 WHERE ip_version IS NOT NULL;

INSERT INTO policy_revisions (organization_id, revision)
SELECT DISTINCT organization_id, 1 FROM security_groups WHERE allow_unmatched_outbound = 1
ON CONFLICT (organization_id) DO UPDATE SET revision = revision + 1;
