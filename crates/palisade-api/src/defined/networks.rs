//! `GET /v1/networks`: the networks an organization's hosts can join. Clients use it to find a
//! `networkID`. A Defined network is a canonical network; its `cidr` is its first IPv4 prefix
//! and its signing CA id is derived from the network (Palisade does not run a Nebula CA).

use axum::extract::State;
use axum::response::Response;
use palisade_core::model::Network;
use serde::Serialize;
use sha2::Digest;
use time::OffsetDateTime;

use super::error::DefinedError;
use super::ids;
use super::paging::{list_metadata, list_request, ListQuery, QueryResult};
use super::Caller;
use crate::AppState;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkView {
    id: String,
    cidr: Option<String>,
    #[serde(rename = "organizationID")]
    organization_id: String,
    #[serde(rename = "signingCAID")]
    signing_ca_id: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    name: String,
}

fn view(n: &Network, org: &[u8; 16]) -> NetworkView {
    let digest = sha2::Sha256::digest([b"ca:".as_slice(), n.id.as_bytes().as_slice()].concat());
    let mut ca = [0u8; 16];
    ca.copy_from_slice(&digest[..16]);
    NetworkView {
        id: ids::render(ids::NETWORK, n.id.as_bytes()),
        cidr: n.prefixes.iter().find(|p| p.addr().is_ipv4()).map(ToString::to_string),
        organization_id: ids::render(ids::ORGANIZATION, org),
        signing_ca_id: ids::render(ids::SIGNING_CA, &ca),
        created_at: n.created_at,
        name: n.name.clone(),
    }
}

pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    query: QueryResult<ListQuery>,
) -> Result<Response, DefinedError> {
    let (request, counts) = list_request(query)?;
    let page = s.core.list_usable_networks(&caller.actor, caller.org, request).await?;
    let metadata = list_metadata(&page, counts);
    let owner = caller.org.as_bytes();
    Ok(super::page(page.items.iter().map(|n| view(n, owner)).collect(), metadata))
}
