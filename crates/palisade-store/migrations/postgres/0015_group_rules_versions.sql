-- A version of each group's rules (issue 15: a change reaches hosts within a second at provider
-- size). Every write of a group's rules (a rule inserted, replaced or deleted, the rules
-- replaced, the group changed) gives the group a new random version in the same transaction, so
-- a group's id and rules version name its rules, with their remotes and ports, exactly, on every
-- node: a policy snapshot reads the groups with their versions, and the rules only of groups
-- whose version it has not kept. Groups from before this migration share version 0 until their
-- next change; their rules are read once.
ALTER TABLE security_groups ADD COLUMN rules_version bigint NOT NULL DEFAULT 0;
