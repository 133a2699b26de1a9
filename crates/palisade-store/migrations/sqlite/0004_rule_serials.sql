-- Serial numbers of rules: small positive numbers for vendors whose rule ids are numbers
-- (Hostway's "145"). AUTOINCREMENT never reuses a number, even after the highest rule is
-- deleted, so a client holding an old id can never reach a newer rule with it. The trigger
-- numbers every rule however it is inserted; existing rules are numbered in creation order.

CREATE TABLE rule_serials (
    serial  INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id BLOB NOT NULL UNIQUE REFERENCES security_group_rules (id) ON DELETE CASCADE
) STRICT;

INSERT INTO rule_serials (rule_id) SELECT id FROM security_group_rules ORDER BY rowid;

CREATE TRIGGER security_group_rules_serial AFTER INSERT ON security_group_rules
BEGIN
    INSERT INTO rule_serials (rule_id) VALUES (NEW.id);
END;
