-- Indexes that let a page of a listing stop after its rows (issue 12, point 7). A page is read
-- in creation order (`ORDER BY seq`); an index on the listing's filter followed by `seq` hands
-- the rows over in that order, so PostgreSQL reads the page and stops, where the unique
-- constraints on (…, name) or (…, address) made it sort every row of the organization (or
-- list) first. Security groups, rules, server groups and address lists had such indexes.

CREATE INDEX tags_organization_seq ON tags (organization_id, seq);
CREATE INDEX address_list_entries_list_seq ON address_list_entries (list_id, seq);
