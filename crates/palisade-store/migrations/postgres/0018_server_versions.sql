-- Each server's version: it moves whenever anything a policy snapshot reads of the server
-- changes (its row, its interfaces, the addresses allocated to them, its tags), by the triggers
-- below, so no write path can forget it. A snapshot whose organization's servers' revision moved
-- (0017) reads the servers' versions and then only the servers whose version it has not kept.
ALTER TABLE servers ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- A write of the row itself (a rename, a server group, or its server group's deletion setting
-- it to NULL); an update that already moves the version (the triggers below) is left as it is.
CREATE FUNCTION servers_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version = OLD.version THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER servers_version BEFORE UPDATE ON servers FOR EACH ROW EXECUTE FUNCTION servers_version();

-- A child row of a server (an interface, a tag, an address allocated to it) written: its server
-- before and after the write moves.
CREATE FUNCTION server_child_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.server_id IS NOT NULL THEN
        UPDATE servers SET version = version + 1 WHERE id = OLD.server_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.server_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.server_id IS DISTINCT FROM OLD.server_id) THEN
        UPDATE servers SET version = version + 1 WHERE id = NEW.server_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER interfaces_version AFTER INSERT OR UPDATE OR DELETE ON interfaces
    FOR EACH ROW EXECUTE FUNCTION server_child_version();
CREATE TRIGGER server_tags_version AFTER INSERT OR UPDATE OR DELETE ON server_tags
    FOR EACH ROW EXECUTE FUNCTION server_child_version();
CREATE TRIGGER ip_addresses_version AFTER INSERT OR UPDATE OR DELETE ON ip_addresses
    FOR EACH ROW EXECUTE FUNCTION server_child_version();
