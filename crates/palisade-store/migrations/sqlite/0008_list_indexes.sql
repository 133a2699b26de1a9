-- Indexes that let a page of a listing stop after its rows (issue 12, point 7). A page is read
-- in creation order (`ORDER BY rowid`); an index whose columns are the listing's filter keeps
-- its rows in rowid order within each key, so SQLite walks it to the page and stops, where the
-- unique indexes on (…, name) or (…, address) made it sort every row of the organization (or
-- list) first. The cost of a page no longer grows with the number of rows it filters from.

CREATE INDEX security_groups_organization_kind ON security_groups (organization_id, kind);
CREATE INDEX tags_organization ON tags (organization_id);
CREATE INDEX address_list_entries_list ON address_list_entries (list_id);
