-- A rule's ICMP type and code (issue 13: ZStack's ICMP rules name them in startPort/endPort).
-- NULL type: every ICMP message; NULL code: every code of the type.
ALTER TABLE security_group_rules ADD COLUMN icmp_type INTEGER CHECK (icmp_type BETWEEN 0 AND 255);
ALTER TABLE security_group_rules ADD COLUMN icmp_code INTEGER CHECK (icmp_code BETWEEN 0 AND 255);
