-- Rule numbers per organization (issue 11). Hostway shows rules by number ("145"); numbers
-- from one global counter (`seq`, 0004) let a tenant watch the gaps grow and count everybody
-- else's rule creations. A new rule now takes its organization's next number, assigned in the
-- rule's insert transaction from the organization's counter (its row lock serializes concurrent
-- inserts of one organization), which only moves forward, so a number is never reused.
-- Numbers are unique per organization (the primary key); lookups are by organization and
-- number. `seq` stays: it is the rules' creation order.
--
-- Existing rules keep their numbers (clients have stored them). Organizations that exist now
-- continue above every number the global counter ever handed out, so none comes back; a new
-- organization starts at 1.

CREATE TABLE rule_numbers (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    number          bigint NOT NULL CHECK (number > 0),
    rule_id         uuid NOT NULL UNIQUE REFERENCES security_group_rules (id) ON DELETE CASCADE,
    PRIMARY KEY (organization_id, number)
);

CREATE TABLE rule_number_counters (
    organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    last_number     bigint NOT NULL
);

INSERT INTO rule_numbers (organization_id, number, rule_id)
SELECT g.organization_id, r.seq, r.id
FROM security_group_rules r
JOIN security_groups g ON g.id = r.group_id;

INSERT INTO rule_number_counters (organization_id, last_number)
SELECT id, GREATEST(
    COALESCE(pg_sequence_last_value(pg_get_serial_sequence('security_group_rules', 'seq')), 0),
    COALESCE((SELECT MAX(seq) FROM security_group_rules), 0))
FROM organizations;
