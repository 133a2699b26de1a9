//! Katapult address lists and their entries.

use axum::http::StatusCode;
use axum::response::Response;
use palisade_core::id::{AddressListEntryId, AddressListId};
use palisade_core::policy::{AddressList, AddressListEntry, Annotation};
use palisade_core::service::NewEntry;
use palisade_core::Error;
use serde::Serialize;

use super::args::Args;
use super::encode::{ok, with_status};
use super::endpoints::{organization, Ctx, ORGANIZATION_KEYS};
use super::ids;
use super::views::Pagination;

type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Serialize)]
struct EntryView {
    id: String,
    address: String,
    name: Option<String>,
}

fn entry_view(e: &AddressListEntry) -> EntryView {
    EntryView {
        id: ids::render(ids::ADDRESS_LIST_ENTRY, e.id.as_bytes()),
        address: e.address.clone(),
        name: e.name.clone(),
    }
}

#[derive(Debug, Serialize)]
struct ListView {
    id: String,
    name: String,
    global: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries: Option<Vec<EntryView>>,
}

fn list_view(l: &AddressList, with_entries: bool) -> ListView {
    ListView {
        id: ids::render(ids::ADDRESS_LIST, l.id.as_bytes()),
        name: l.name.clone(),
        global: l.organization_id.is_none(),
        entries: with_entries.then(|| l.entries.iter().map(entry_view).collect()),
    }
}

#[derive(Debug, Serialize)]
struct KeyValue {
    key: String,
    value: Option<String>,
}

#[derive(Serialize)]
struct ListBody {
    address_list: ListView,
    annotations: Vec<KeyValue>,
}

fn list_body(l: &AddressList) -> ListBody {
    ListBody {
        address_list: list_view(l, true),
        annotations: l
            .annotations
            .iter()
            .map(|a| KeyValue { key: a.key.clone(), value: a.value.clone() })
            .collect(),
    }
}

#[derive(Serialize)]
struct EntryBody {
    address_list_entry: EntryView,
}

fn annotations(args: &Args) -> Result<Option<Vec<Annotation>>> {
    Ok(args
        .key_values("annotations")?
        .map(|kv| kv.into_iter().map(|(key, value)| Annotation { key, value }).collect()))
}

fn list_lookup(args: &Args) -> Result<AddressListId> {
    let lookup = args.require_lookup("address_list", &["id"])?;
    ids::parse(ids::ADDRESS_LIST, &lookup.value)
        .map(AddressListId::from_bytes)
        .ok_or(Error::not_found(AddressListId::KIND))
}

fn entry_lookup(args: &Args) -> Result<AddressListEntryId> {
    let lookup = args.require_lookup("address_list_entry", &["id"])?;
    ids::parse(ids::ADDRESS_LIST_ENTRY, &lookup.value)
        .map(AddressListEntryId::from_bytes)
        .ok_or(Error::not_found(AddressListEntryId::KIND))
}

/// `[{"address", "name"}]` arguments (bulk add and remove).
fn entries(args: &Args, name: &str) -> Result<Vec<NewEntry>> {
    let Some(items) = args.get(&[name]) else { return Ok(Vec::new()) };
    let Some(items) = items.as_array() else {
        return Err(Error::BadRequest(palisade_core::error::BadRequest::InvalidArgument {
            path: vec![name.to_owned()],
            index: None,
            issue: "array_expected",
            message: None,
        }));
    };
    Ok(items
        .iter()
        .map(|i| NewEntry {
            address: i["address"].as_str().unwrap_or_default().to_owned(),
            name: i["name"].as_str().filter(|n| !n.is_empty()).map(str::to_owned),
        })
        .collect())
}

fn page_body(page: &palisade_core::Page<AddressList>) -> Response {
    #[derive(Serialize)]
    struct Body {
        pagination: Pagination,
        address_lists: Vec<ListView>,
    }
    ok(&Body {
        pagination: page.into(),
        address_lists: page.items.iter().map(|l| list_view(l, false)).collect(),
    })
}

pub async fn list_global(ctx: Ctx<'_>) -> Result<Response> {
    let page = ctx.args.page()?;
    let page = ctx.core.list_address_lists(ctx.actor, None, page).await?;
    Ok(page_body(&page))
}

pub async fn list(ctx: Ctx<'_>) -> Result<Response> {
    let org_lookup = ctx.args.require_lookup("organization", ORGANIZATION_KEYS)?;
    let page = ctx.args.page()?;
    let org = organization(org_lookup)?;
    let page = ctx.core.list_address_lists(ctx.actor, Some(org), page).await?;
    Ok(page_body(&page))
}

pub async fn create(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let org_lookup = args.require_lookup("organization", ORGANIZATION_KEYS)?;
    args.require_object("properties")?;
    let name = args.string(&["properties", "name"])?.unwrap_or_default();
    let annotations = annotations(args)?.unwrap_or_default();
    let org = organization(org_lookup)?;
    let list = ctx.core.create_address_list(ctx.actor, org, name, annotations, Vec::new()).await?;
    Ok(with_status(StatusCode::CREATED, &list_body(&list)))
}

pub async fn get(ctx: Ctx<'_>) -> Result<Response> {
    let list = ctx.core.address_list(ctx.actor, list_lookup(ctx.args)?).await?;
    Ok(ok(&list_body(&list)))
}

pub async fn update(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let id = list_lookup(args)?;
    let name = args.string(&["properties", "name"])?;
    let annotations = annotations(args)?;
    let list = ctx.core.update_address_list(ctx.actor, id, name, annotations).await?;
    Ok(ok(&list_body(&list)))
}

pub async fn delete(ctx: Ctx<'_>) -> Result<Response> {
    let list = ctx.core.delete_address_list(ctx.actor, list_lookup(ctx.args)?).await?;
    #[derive(Serialize)]
    struct Body {
        address_list: ListView,
    }
    Ok(ok(&Body { address_list: list_view(&list, true) }))
}

pub async fn list_entries(ctx: Ctx<'_>) -> Result<Response> {
    let id = list_lookup(ctx.args)?;
    let page = ctx.args.page()?;
    let page = ctx.core.list_address_list_entries(ctx.actor, id, page).await?;
    #[derive(Serialize)]
    struct Body {
        pagination: Pagination,
        address_list_entries: Vec<EntryView>,
    }
    Ok(ok(&Body {
        pagination: (&page).into(),
        address_list_entries: page.items.iter().map(entry_view).collect(),
    }))
}

pub async fn create_entry(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let id = list_lookup(args)?;
    args.require_object("properties")?;
    let entry = NewEntry {
        address: args.string(&["properties", "address"])?.unwrap_or_default(),
        name: args.string(&["properties", "name"])?.filter(|n| !n.is_empty()),
    };
    let added = ctx.core.change_address_list_entries(ctx.actor, id, vec![entry], Vec::new()).await?;
    let entry = added.first().ok_or_else(|| Error::internal("an added entry went missing"))?;
    Ok(with_status(StatusCode::CREATED, &EntryBody { address_list_entry: entry_view(entry) }))
}

pub async fn bulk(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let id = list_lookup(args)?;
    let add = entries(args, "add")?;
    let remove = entries(args, "remove")?.into_iter().map(|e| e.address).collect();
    ctx.core.change_address_list_entries(ctx.actor, id, add, remove).await?;
    Ok(ok(&serde_json::json!({})))
}

pub async fn get_entry(ctx: Ctx<'_>) -> Result<Response> {
    let entry = ctx.core.address_list_entry(ctx.actor, entry_lookup(ctx.args)?).await?;
    Ok(ok(&EntryBody { address_list_entry: entry_view(&entry) }))
}

pub async fn update_entry(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let id = entry_lookup(args)?;
    let address = args.string(&["properties", "address"])?;
    let name = args.string(&["properties", "name"])?.map(|n| Some(n).filter(|n| !n.is_empty()));
    let entry = ctx.core.update_address_list_entry(ctx.actor, id, address, name).await?;
    Ok(ok(&EntryBody { address_list_entry: entry_view(&entry) }))
}

pub async fn delete_entry(ctx: Ctx<'_>) -> Result<Response> {
    let entry = ctx.core.delete_address_list_entry(ctx.actor, entry_lookup(ctx.args)?).await?;
    Ok(ok(&EntryBody { address_list_entry: entry_view(&entry) }))
}
