//! Address lists: named, reusable sets of addresses and networks that rules can target.
//! An organization's lists are its own; global lists (no organization) are the operator's and
//! readable by every organization's tokens that hold an address-list scope.

use super::lookup::OrganizationRef;
use super::tenancy::NAME_MAX;
use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::audit::{self, Change, ObjectKind, Verb};
use crate::auth::Principal;
use crate::error::{Error, Result, ViolationCode};
use crate::grant::ListGrant;
use crate::id::{AddressListEntryId, AddressListId};
use crate::limits::MAX_ENTRIES;
use crate::model::now;
use crate::page::{Page, PageRequest};
use crate::policy::{AddressList, AddressListEntry, Annotation, CidrError, Remote};
use crate::store::Writes;
use crate::validate::Violations;

fn list_op(action: Action) -> Operation {
    Operation::new(Resource::AddressList, action)
}

/// An entry to add: an address or CIDR and an optional name.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub address: String,
    pub name: Option<String>,
}

fn check_entry(v: &mut Violations, path: &str, entry: &NewEntry) {
    match Remote::cidr(&entry.address) {
        Ok(_) => {}
        Err(CidrError::Malformed) => v.push(
            format!("{path}address"),
            ViolationCode::InvalidValue,
            "must be an IP address or a CIDR network",
        ),
        Err(e) => v.push(format!("{path}address"), ViolationCode::InvalidValue, e.message()),
    }
    if let Some(name) = &entry.name {
        v.text(&format!("{path}name"), name, 0, NAME_MAX);
    }
}

/// A list found (or not) if the caller may read it: its own organization's, or a global one;
/// else not found.
fn readable_list(actor: &Principal, list: Option<AddressList>) -> Result<AddressList> {
    let list = list.ok_or(Error::not_found(AddressListId::KIND))?;
    if let Some(org) = list.organization_id {
        actor.authorize_object(org, list_op(Action::Read), AddressListId::KIND)?;
    }
    Ok(list)
}

/// A list found (or not) if the caller may change it, with the grant its writes take: its own
/// organization's, or a global one for the operator; else not found.
fn writable_list(actor: &Principal, list: Option<AddressList>) -> Result<(AddressList, ListGrant)> {
    let list = list.ok_or(Error::not_found(AddressListId::KIND))?;
    let grant = match list.organization_id {
        Some(org) => ListGrant::Organization(actor.authorize_object(
            org,
            list_op(Action::Update),
            AddressListId::KIND,
        )?),
        None => ListGrant::Global(actor.require_operator()?),
    };
    Ok((list, grant))
}

/// An entry's list looked at as the list's own checks do, reported as the entry not found.
fn as_entry<T>(outcome: Result<T>) -> Result<T> {
    outcome.map_err(|e| match e {
        Error::NotFound { .. } => Error::not_found(AddressListEntryId::KIND),
        other => other,
    })
}

impl Core {
    async fn authorized_list(&self, actor: &Principal, id: AddressListId) -> Result<AddressList> {
        actor.require_scopes(list_op(Action::Read))?;
        readable_list(actor, self.read().await?.address_list(id).await?)
    }

    /// A list the caller may change, locked in `tx` until commit.
    async fn locked_list(
        tx: &mut dyn Writes,
        actor: &Principal,
        id: AddressListId,
    ) -> Result<(AddressList, ListGrant)> {
        actor.require_scopes(list_op(Action::Update))?;
        writable_list(actor, tx.address_list_for_update(id).await?)
    }

    pub async fn create_address_list(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        name: String,
        annotations: Vec<Annotation>,
        entries: Vec<NewEntry>,
    ) -> Result<AddressList> {
        let org = self.resolve_organization(&org.into()).await?;
        let grant = ListGrant::Organization(actor.authorize(org, list_op(Action::Create))?);
        let mut v = Violations::new();
        v.text("name", &name, 1, NAME_MAX);
        Core::check_annotations(&mut v, &annotations);
        if v.count("entries", entries.len(), MAX_ENTRIES) {
            for (i, e) in entries.iter().enumerate() {
                check_entry(&mut v, &format!("entries[{i}]."), e);
            }
        }
        v.finish()?;
        let id = AddressListId::random();
        let entries = entries
            .into_iter()
            .map(|e| AddressListEntry {
                id: AddressListEntryId::random(),
                list_id: id,
                address: e.address,
                name: e.name,
            })
            .collect();
        let list =
            AddressList { id, organization_id: Some(org), name, annotations, entries, created_at: now() };
        let created = Change::created(Some(org), ObjectKind::AddressList, id, &list);
        write_one!(self, actor, in org, created, insert_address_list(&grant, &list))?;
        Ok(list)
    }

    pub async fn address_list(&self, actor: &Principal, id: AddressListId) -> Result<AddressList> {
        self.authorized_list(actor, id).await
    }

    /// An organization's lists, or with `None` the global ones.
    pub async fn list_address_lists(
        &self,
        actor: &Principal,
        org: Option<OrganizationRef>,
        page: PageRequest,
    ) -> Result<Page<AddressList>> {
        match org {
            Some(org) => {
                let (org, mut reads) = self.read_in_organization(actor, &org, list_op(Action::List)).await?;
                reads.list_address_lists(Some(org), page).await
            }
            None => {
                actor.require_scopes(list_op(Action::List))?;
                self.read().await?.list_address_lists(None, page).await
            }
        }
    }

    pub async fn update_address_list(
        &self,
        actor: &Principal,
        id: AddressListId,
        name: Option<String>,
        annotations: Option<Vec<Annotation>>,
    ) -> Result<AddressList> {
        let mut tx = self.write(actor).await?;
        let (mut list, grant) = Self::locked_list(&mut *tx, actor, id).await?;
        let before = audit::state(&list);
        let mut v = Violations::new();
        if let Some(name) = &name {
            v.text("name", name, 1, NAME_MAX);
        }
        if let Some(annotations) = &annotations {
            Core::check_annotations(&mut v, annotations);
        }
        v.finish()?;
        list.name = name.unwrap_or(list.name);
        list.annotations = annotations.unwrap_or(list.annotations);
        tx.update_address_list(&grant, &list).await?;
        tx.record(Change::updated(grant.owner(), ObjectKind::AddressList, id, &before, &list)).await?;
        tx.commit().await?;
        Ok(list)
    }

    pub async fn delete_address_list(&self, actor: &Principal, id: AddressListId) -> Result<AddressList> {
        let mut tx = self.write(actor).await?;
        let (list, grant) = Self::locked_list(&mut *tx, actor, id).await?;
        tx.delete_address_list(&grant, id).await?;
        tx.record(Change::deleted(grant.owner(), ObjectKind::AddressList, id, &list)).await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Adds `add` and removes the entries whose address is in `remove`, atomically.
    pub async fn change_address_list_entries(
        &self,
        actor: &Principal,
        id: AddressListId,
        add: Vec<NewEntry>,
        remove: Vec<String>,
    ) -> Result<Vec<AddressListEntry>> {
        let mut tx = self.write(actor).await?;
        let (_, grant) = Self::locked_list(&mut *tx, actor, id).await?;
        let mut v = Violations::new();
        if v.count("add", add.len(), MAX_ENTRIES) {
            for (i, e) in add.iter().enumerate() {
                check_entry(&mut v, &format!("add[{i}]."), e);
            }
        }
        if v.count("remove", remove.len(), MAX_ENTRIES) {
            for (i, address) in remove.iter().enumerate() {
                v.name_chars(&format!("remove[{i}]"), address);
            }
        }
        v.finish()?;
        let entries: Vec<AddressListEntry> = add
            .into_iter()
            .map(|e| AddressListEntry {
                id: AddressListEntryId::random(),
                list_id: id,
                address: e.address,
                name: e.name,
            })
            .collect();
        tx.change_address_list_entries(&grant, id, &entries, &remove).await?;
        let mut change = Change::new(grant.owner(), Verb::Update, ObjectKind::AddressList, id);
        if !entries.is_empty() {
            change = change.field("entries_added", (), &entries);
        }
        if !remove.is_empty() {
            change = change.field("entries_removed", &remove, ());
        }
        tx.record(change).await?;
        tx.commit().await?;
        Ok(entries)
    }

    pub async fn address_list_entry(
        &self,
        actor: &Principal,
        id: AddressListEntryId,
    ) -> Result<AddressListEntry> {
        actor.require_scopes(list_op(Action::Read))?;
        let mut r = self.read().await?;
        let entry = r.address_list_entry(id).await?.ok_or(Error::not_found(AddressListEntryId::KIND))?;
        as_entry(readable_list(actor, r.address_list(entry.list_id).await?))?;
        Ok(entry)
    }

    /// An entry the caller may change, locked in `tx` until commit (its list is only read, so
    /// that entry writes never wait for a list's lock while holding an entry's).
    async fn locked_entry(
        tx: &mut dyn Writes,
        actor: &Principal,
        id: AddressListEntryId,
    ) -> Result<(AddressListEntry, ListGrant)> {
        actor.require_scopes(list_op(Action::Update))?;
        let entry =
            tx.address_list_entry_for_update(id).await?.ok_or(Error::not_found(AddressListEntryId::KIND))?;
        let (_, grant) = as_entry(writable_list(actor, tx.address_list(entry.list_id).await?))?;
        Ok((entry, grant))
    }

    pub async fn list_address_list_entries(
        &self,
        actor: &Principal,
        list: AddressListId,
        page: PageRequest,
    ) -> Result<Page<AddressListEntry>> {
        self.authorized_list(actor, list).await?;
        self.read().await?.list_address_list_entries(list, page).await
    }

    pub async fn update_address_list_entry(
        &self,
        actor: &Principal,
        id: AddressListEntryId,
        address: Option<String>,
        name: Option<Option<String>>,
    ) -> Result<AddressListEntry> {
        let mut tx = self.write(actor).await?;
        let (mut entry, grant) = Self::locked_entry(&mut *tx, actor, id).await?;
        let before = audit::state(&entry);
        entry.address = address.unwrap_or(entry.address);
        entry.name = name.unwrap_or(entry.name);
        let mut v = Violations::new();
        check_entry(&mut v, "", &NewEntry { address: entry.address.clone(), name: entry.name.clone() });
        v.finish()?;
        tx.update_address_list_entry(&grant, &entry).await?;
        tx.record(Change::updated(grant.owner(), ObjectKind::AddressListEntry, id, &before, &entry)).await?;
        tx.commit().await?;
        Ok(entry)
    }

    pub async fn delete_address_list_entry(
        &self,
        actor: &Principal,
        id: AddressListEntryId,
    ) -> Result<AddressListEntry> {
        let mut tx = self.write(actor).await?;
        let (entry, grant) = Self::locked_entry(&mut *tx, actor, id).await?;
        tx.delete_address_list_entry(&grant, id).await?;
        tx.record(Change::deleted(grant.owner(), ObjectKind::AddressListEntry, id, &entry)).await?;
        tx.commit().await?;
        Ok(entry)
    }
}
