-- Rule numbers per organization (issue 11). Hostway shows rules by number ("145"); numbers
-- from one global counter (0004) let a tenant watch the gaps grow and count everybody else's
-- rule creations. A new rule now takes its organization's next number, assigned in the rule's
-- insert transaction from the organization's counter, which only moves forward, so a number is
-- never reused (a client holding the number of a deleted rule never reaches a newer one).
-- Numbers are unique per organization (the primary key); lookups are by organization and
-- number.
--
-- Existing rules keep their numbers (clients have stored them). Organizations that exist now
-- continue above every number the global counter ever handed out, so none comes back; a new
-- organization starts at 1.

CREATE TABLE rule_numbers (
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    number          INTEGER NOT NULL CHECK (number > 0),
    rule_id         BLOB NOT NULL UNIQUE REFERENCES security_group_rules (id) ON DELETE CASCADE,
    PRIMARY KEY (organization_id, number)
) STRICT;

CREATE TABLE rule_number_counters (
    organization_id BLOB PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    last_number     INTEGER NOT NULL
) STRICT;

INSERT INTO rule_numbers (organization_id, number, rule_id)
SELECT g.organization_id, s.serial, s.rule_id
FROM rule_serials s
JOIN security_group_rules r ON r.id = s.rule_id
JOIN security_groups g ON g.id = r.group_id;

INSERT INTO rule_number_counters (organization_id, last_number)
SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'rule_serials')
FROM organizations;

DROP TRIGGER security_group_rules_serial;
DROP TABLE rule_serials;
