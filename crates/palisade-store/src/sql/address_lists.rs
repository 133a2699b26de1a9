//! Address lists (an organization's, or global ones) and their entries.

use std::collections::HashMap;

use async_trait::async_trait;
use palisade_core::error::{Error, Result};
use palisade_core::grant::ListGrant;
use palisade_core::id::{AddressListEntryId, AddressListId, OrganizationId};
use palisade_core::policy::{AddressList, AddressListEntry, Annotation};
use palisade_core::store::{AddressListReads, AddressListWrites};
use palisade_core::{Page, PageRequest};
use uuid::Uuid;

use super::db::{self, SEQ};
use super::grants::{ENTRY_OWNER, LIST_OWNER};
use super::rows::get;
use super::{
    by_id, constraint_error, count, delete_by_id, execute, fetch_all, found, insert_rows, limit, lock_row,
    offset, page_of, Connection, Tx, Unique, WriteTx,
};

const LIST: &str = "address list";

fn annotations_json(annotations: &[Annotation]) -> String {
    serde_json::to_string(annotations).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn entry_from(row: &db::Row) -> Result<AddressListEntry> {
    Ok(AddressListEntry {
        id: AddressListEntryId::from_uuid(get(row, "id")?),
        list_id: AddressListId::from_uuid(get(row, "list_id")?),
        address: get(row, "address")?,
        name: get(row, "name")?,
    })
}

/// A list from its row, without its entries.
pub(crate) fn list_from(row: &db::Row) -> Result<AddressList> {
    Ok(AddressList {
        id: AddressListId::from_uuid(get(row, "id")?),
        organization_id: get::<Option<Uuid>>(row, "organization_id")?.map(OrganizationId::from_uuid),
        name: get(row, "name")?,
        annotations: serde_json::from_str(&get::<String>(row, "annotations")?).map_err(Error::internal)?,
        entries: Vec::new(),
        created_at: db::time_of(row, "created_at")?,
    })
}

/// Lists from their rows, with the entries of all of them read in one query (a page of lists
/// costs the same two queries whatever its size).
async fn lists_from_rows(conn: &mut db::Conn, rows: &[db::Row]) -> Result<Vec<AddressList>> {
    let mut lists = rows.iter().map(list_from).collect::<Result<Vec<_>>>()?;
    if lists.is_empty() {
        return Ok(lists);
    }
    let ids: Vec<Uuid> = lists.iter().map(|l| l.id.as_uuid()).collect();
    let index: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let sql = format!(
        "SELECT * FROM address_list_entries WHERE list_id {} ORDER BY list_id, {SEQ}",
        db::in_list(1, ids.len())
    );
    for row in fetch_all(conn, db::bind_list(sqlx::query(&sql), &ids)).await? {
        let entry = entry_from(&row)?;
        if let Some(&i) = index.get(&entry.list_id.as_uuid()) {
            lists[i].entries.push(entry);
        }
    }
    Ok(lists)
}

async fn insert_entries(conn: &mut db::Conn, entries: &[AddressListEntry]) -> Result<()> {
    insert_rows(
        conn,
        "address_list_entries (id, list_id, address, name)",
        entries,
        |q, _, e| q.bind(e.id.as_uuid()).bind(e.list_id.as_uuid()).bind(&e.address).bind(&e.name),
        |err| constraint_error(err, &[Unique::ListEntryAddress], LIST),
    )
    .await
}

#[async_trait]
impl<S: Connection> AddressListReads for Tx<S> {
    async fn address_list(&mut self, id: AddressListId) -> Result<Option<AddressList>> {
        let rows =
            fetch_all(self, sqlx::query("SELECT * FROM address_lists WHERE id = $1").bind(id.as_uuid()))
                .await?;
        Ok(lists_from_rows(self, &rows).await?.pop())
    }

    /// A page of an organization's lists, or of the global ones when `org` is `None`.
    async fn list_address_lists(
        &mut self,
        org: Option<OrganizationId>,
        page: PageRequest,
    ) -> Result<Page<AddressList>> {
        let owner = org.map(|o| o.as_uuid());
        let condition = "organization_id IS NOT DISTINCT FROM $1";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM address_lists WHERE {condition}"))
            .bind(owner)
            .fetch_one(&mut **self)
            .await
            .map_err(db::db_error)?;
        let sql = format!("SELECT * FROM address_lists WHERE {condition} ORDER BY {SEQ} LIMIT $2 OFFSET $3");
        let rows =
            fetch_all(self, sqlx::query(&sql).bind(owner).bind(limit(page)).bind(offset(page))).await?;
        let items = lists_from_rows(self, &rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }

    async fn address_list_entry(&mut self, id: AddressListEntryId) -> Result<Option<AddressListEntry>> {
        by_id(self, "address_list_entries", id.as_uuid(), entry_from).await
    }

    async fn list_address_list_entries(
        &mut self,
        list: AddressListId,
        page: PageRequest,
    ) -> Result<Page<AddressListEntry>> {
        let from = "FROM address_list_entries WHERE list_id = $1";
        page_of(self, page, Some(list.as_uuid()), from, entry_from).await
    }
}

#[async_trait]
impl AddressListWrites for WriteTx {
    async fn insert_address_list(&mut self, grant: &ListGrant, list: &AddressList) -> Result<()> {
        if list.organization_id != grant.owner() || list.entries.iter().any(|e| e.list_id != list.id) {
            return Err(Error::not_found(AddressListId::KIND));
        }
        sqlx::query(
            "INSERT INTO address_lists (id, organization_id, name, annotations, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(list.id.as_uuid())
        .bind(list.organization_id.map(|o| o.as_uuid()))
        .bind(&list.name)
        .bind(annotations_json(&list.annotations))
        .bind(db::time(list.created_at))
        .execute(&mut **self)
        .await
        .map_err(|e| constraint_error(e, &[], "organization"))?;
        insert_entries(self, &list.entries).await?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn address_list_for_update(&mut self, id: AddressListId) -> Result<Option<AddressList>> {
        lock_row(self, "address_lists", id.as_uuid()).await?;
        self.address_list(id).await
    }

    async fn update_address_list(&mut self, grant: &ListGrant, list: &AddressList) -> Result<()> {
        self.owned_list(grant, LIST_OWNER, list.id.as_uuid(), AddressListId::KIND).await?;
        let update = sqlx::query("UPDATE address_lists SET name = $1, annotations = $2 WHERE id = $3")
            .bind(&list.name)
            .bind(annotations_json(&list.annotations))
            .bind(list.id.as_uuid());
        found(execute(self, update).await?, LIST)?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn delete_address_list(&mut self, grant: &ListGrant, id: AddressListId) -> Result<()> {
        self.owned_list(grant, LIST_OWNER, id.as_uuid(), AddressListId::KIND).await?;
        delete_by_id(self, "address_lists", id.as_uuid(), AddressListId::KIND).await?;
        self.touch_list_owner(grant);
        Ok(())
    }

    /// Removes the entries with the `remove` addresses, then adds `add`.
    async fn change_address_list_entries(
        &mut self,
        grant: &ListGrant,
        list: AddressListId,
        add: &[AddressListEntry],
        remove: &[String],
    ) -> Result<()> {
        self.owned_list(grant, LIST_OWNER, list.as_uuid(), AddressListId::KIND).await?;
        if add.iter().any(|e| e.list_id != list) {
            return Err(Error::not_found(AddressListId::KIND));
        }
        if !remove.is_empty() {
            let sql = format!(
                "DELETE FROM address_list_entries WHERE list_id = $1 AND address {}",
                db::in_list(2, remove.len())
            );
            execute(self, db::bind_list(sqlx::query(&sql).bind(list.as_uuid()), remove)).await?;
        }
        insert_entries(self, add).await?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn address_list_entry_for_update(
        &mut self,
        id: AddressListEntryId,
    ) -> Result<Option<AddressListEntry>> {
        lock_row(self, "address_list_entries", id.as_uuid()).await?;
        by_id(self, "address_list_entries", id.as_uuid(), entry_from).await
    }

    async fn update_address_list_entry(&mut self, grant: &ListGrant, e: &AddressListEntry) -> Result<()> {
        self.owned_list(grant, ENTRY_OWNER, e.id.as_uuid(), AddressListEntryId::KIND).await?;
        self.owned_list(grant, LIST_OWNER, e.list_id.as_uuid(), AddressListEntryId::KIND).await?;
        let done = sqlx::query("UPDATE address_list_entries SET address = $1, name = $2 WHERE id = $3")
            .bind(&e.address)
            .bind(e.name.as_deref())
            .bind(e.id.as_uuid())
            .execute(&mut **self)
            .await
            .map_err(|err| constraint_error(err, &[Unique::ListEntryAddress], LIST))?;
        found(done, AddressListEntryId::KIND)?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn delete_address_list_entry(&mut self, grant: &ListGrant, id: AddressListEntryId) -> Result<()> {
        self.owned_list(grant, ENTRY_OWNER, id.as_uuid(), AddressListEntryId::KIND).await?;
        delete_by_id(self, "address_list_entries", id.as_uuid(), AddressListEntryId::KIND).await?;
        self.touch_list_owner(grant);
        Ok(())
    }
}
