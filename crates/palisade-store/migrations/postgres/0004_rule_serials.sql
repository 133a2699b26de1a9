-- Serial numbers of rules for vendors whose rule ids are numbers (Hostway's "145"): the
-- `seq` identity every rule already has (assigned at insertion, never reused). This index
-- makes looking a rule up by it cheap and guarantees it stays unique.

CREATE UNIQUE INDEX security_group_rules_serial ON security_group_rules (seq);
