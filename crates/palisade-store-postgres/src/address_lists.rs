//! Address lists and their entries on PostgreSQL.

use palisade_core::error::{Error, Result};
use palisade_core::id::{AddressListEntryId, AddressListId, OrganizationId};
use palisade_core::policy::{AddressList, AddressListEntry, Annotation};
use palisade_core::{Page, PageRequest};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::rows::{get, uuid};
use crate::{constraint_error, db_error, found, PostgresStore};

const LIST: &str = "address list";
const UNIQUE_ADDRESS: &[(&str, &str, &str)] =
    &[("address_list_entries_address_key", "address list entry", "address")];

fn annotations_json(annotations: &[Annotation]) -> String {
    serde_json::to_string(annotations).unwrap_or_else(|_| "[]".to_owned())
}

fn annotations_from(text: &str) -> Result<Vec<Annotation>> {
    serde_json::from_str(text).map_err(Error::internal)
}

fn entry_from(row: &PgRow) -> Result<AddressListEntry> {
    Ok(AddressListEntry {
        id: AddressListEntryId::from_uuid(uuid(row, "id")?),
        list_id: AddressListId::from_uuid(uuid(row, "list_id")?),
        address: get(row, "address")?,
        name: get(row, "name")?,
    })
}

async fn load(conn: &mut PgConnection, row: &PgRow) -> Result<AddressList> {
    let id = AddressListId::from_uuid(uuid(row, "id")?);
    let entries = sqlx::query("SELECT * FROM address_list_entries WHERE list_id = $1 ORDER BY seq")
        .bind(id.as_uuid())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
        .iter()
        .map(entry_from)
        .collect::<Result<_>>()?;
    let annotations: String = get(row, "annotations")?;
    Ok(AddressList {
        id,
        organization_id: get::<Option<Uuid>>(row, "organization_id")?.map(OrganizationId::from_uuid),
        name: get(row, "name")?,
        annotations: annotations_from(&annotations)?,
        entries,
        created_at: get(row, "created_at")?,
    })
}

async fn insert_entries(conn: &mut PgConnection, entries: &[AddressListEntry]) -> Result<()> {
    for e in entries {
        sqlx::query("INSERT INTO address_list_entries (id, list_id, address, name) VALUES ($1, $2, $3, $4)")
            .bind(e.id.as_uuid())
            .bind(e.list_id.as_uuid())
            .bind(&e.address)
            .bind(e.name.as_deref())
            .execute(&mut *conn)
            .await
            .map_err(|err| constraint_error(err, UNIQUE_ADDRESS, LIST))?;
    }
    Ok(())
}

impl PostgresStore {
    pub(crate) async fn add_address_list(&self, list: &AddressList) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO address_lists (id, organization_id, name, annotations, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(list.id.as_uuid())
        .bind(list.organization_id.map(|o| o.as_uuid()))
        .bind(&list.name)
        .bind(annotations_json(&list.annotations))
        .bind(list.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &[], "organization"))?;
        insert_entries(&mut tx, &list.entries).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn get_address_list(&self, id: AddressListId) -> Result<Option<AddressList>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT * FROM address_lists WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => Ok(Some(load(&mut tx, &row).await?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn address_lists(
        &self,
        org: Option<OrganizationId>,
        page: PageRequest,
    ) -> Result<Page<AddressList>> {
        let mut tx = self.begin().await?;
        let owner = org.map(|o| o.as_uuid());
        let condition = "organization_id IS NOT DISTINCT FROM $1";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM address_lists WHERE {condition}"))
            .bind(owner)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM address_lists WHERE {condition} ORDER BY seq LIMIT $2 OFFSET $3"
        ))
        .bind(owner)
        .bind(i64::try_from(page.limit()).unwrap_or(i64::MAX))
        .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(load(&mut tx, row).await?);
        }
        Ok(Page { items, total: u64::try_from(total).unwrap_or(0), request: page })
    }

    pub(crate) async fn put_address_list(&self, list: &AddressList) -> Result<()> {
        found(
            sqlx::query("UPDATE address_lists SET name = $1, annotations = $2 WHERE id = $3")
                .bind(&list.name)
                .bind(annotations_json(&list.annotations))
                .bind(list.id.as_uuid())
                .execute(&self.pool)
                .await
                .map_err(db_error)?,
            LIST,
        )?;
        Ok(())
    }

    pub(crate) async fn change_entries(
        &self,
        list: AddressListId,
        add: &[AddressListEntry],
        remove: &[String],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM address_list_entries WHERE list_id = $1 AND address = ANY($2)")
            .bind(list.as_uuid())
            .bind(remove)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_entries(&mut tx, add).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn get_entry(&self, id: AddressListEntryId) -> Result<Option<AddressListEntry>> {
        self.row_by_id("address_list_entries", id.as_uuid(), entry_from).await
    }

    pub(crate) async fn entries(
        &self,
        list: AddressListId,
        page: PageRequest,
    ) -> Result<Page<AddressListEntry>> {
        self.simple_page(
            page,
            Some(list.as_uuid()),
            "*",
            "FROM address_list_entries WHERE list_id = $1",
            entry_from,
        )
        .await
    }

    pub(crate) async fn put_entry(&self, e: &AddressListEntry) -> Result<()> {
        found(
            sqlx::query("UPDATE address_list_entries SET address = $1, name = $2 WHERE id = $3")
                .bind(&e.address)
                .bind(e.name.as_deref())
                .bind(e.id.as_uuid())
                .execute(&self.pool)
                .await
                .map_err(|err| constraint_error(err, UNIQUE_ADDRESS, LIST))?,
            AddressListEntryId::KIND,
        )?;
        Ok(())
    }
}
