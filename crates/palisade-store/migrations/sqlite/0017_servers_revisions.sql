-- The revision at which each organization's servers last changed: their rows, interfaces,
-- interface addresses or tags (issue 15, the provider-size snapshot). A policy snapshot keeps the
-- servers it read while this stays the same, so after a write of groups or rules only it reads
-- none of them again. 0 until a write that may change servers commits after this migration.
ALTER TABLE policy_revisions ADD COLUMN servers_revision INTEGER NOT NULL DEFAULT 0;
