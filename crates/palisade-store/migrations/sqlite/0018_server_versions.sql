-- Each server's version: it moves whenever anything a policy snapshot reads of the server
-- changes (its row, its interfaces, the addresses allocated to them, its tags), by the triggers
-- below, so no write path can forget it. A snapshot whose organization's servers' revision moved
-- (0017) reads the servers' versions and then only the servers whose version it has not kept.
ALTER TABLE servers ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- A write of the row itself (a rename, a server group, or its server group's deletion setting
-- it to NULL). The trigger's own update changes the version, so it does not fire again.
CREATE TRIGGER servers_version AFTER UPDATE ON servers FOR EACH ROW WHEN NEW.version = OLD.version
BEGIN
    UPDATE servers SET version = version + 1 WHERE id = NEW.id;
END;

CREATE TRIGGER interfaces_inserted_version AFTER INSERT ON interfaces FOR EACH ROW
BEGIN
    UPDATE servers SET version = version + 1 WHERE id = NEW.server_id;
END;
CREATE TRIGGER interfaces_updated_version AFTER UPDATE ON interfaces FOR EACH ROW
BEGIN
    UPDATE servers SET version = version + 1 WHERE id IN (OLD.server_id, NEW.server_id);
END;
CREATE TRIGGER interfaces_deleted_version AFTER DELETE ON interfaces FOR EACH ROW
BEGIN
    UPDATE servers SET version = version + 1 WHERE id = OLD.server_id;
END;

CREATE TRIGGER server_tags_inserted_version AFTER INSERT ON server_tags FOR EACH ROW
BEGIN
    UPDATE servers SET version = version + 1 WHERE id = NEW.server_id;
END;
CREATE TRIGGER server_tags_updated_version AFTER UPDATE ON server_tags FOR EACH ROW
BEGIN
    UPDATE servers SET version = version + 1 WHERE id IN (OLD.server_id, NEW.server_id);
END;
CREATE TRIGGER server_tags_deleted_version AFTER DELETE ON server_tags FOR EACH ROW
BEGIN
    UPDATE servers SET version = version + 1 WHERE id = OLD.server_id;
END;

-- Addresses: those of a server (allocated to one of its interfaces) before or after the write.
CREATE TRIGGER ip_addresses_inserted_version AFTER INSERT ON ip_addresses FOR EACH ROW
    WHEN NEW.server_id IS NOT NULL
BEGIN
    UPDATE servers SET version = version + 1 WHERE id = NEW.server_id;
END;
CREATE TRIGGER ip_addresses_updated_version AFTER UPDATE ON ip_addresses FOR EACH ROW
    WHEN OLD.server_id IS NOT NULL OR NEW.server_id IS NOT NULL
BEGIN
    UPDATE servers SET version = version + 1 WHERE id IN (OLD.server_id, NEW.server_id);
END;
CREATE TRIGGER ip_addresses_deleted_version AFTER DELETE ON ip_addresses FOR EACH ROW
    WHEN OLD.server_id IS NOT NULL
BEGIN
    UPDATE servers SET version = version + 1 WHERE id = OLD.server_id;
END;
