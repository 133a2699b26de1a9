//! What a security group applies to: L3 networks (AttachSecurityGroupToL3Network,
//! DetachSecurityGroupFromL3Network) and VM NICs (AddVmNicToSecurityGroup,
//! DeleteVmNicFromSecurityGroup, QueryVmNicInSecurityGroup, GetCandidateVmNicForSecurityGroup).
//!
//! An L3 network is a canonical network and a VM NIC a canonical server interface; both are
//! group members ([`Member::Network`], [`Member::Interface`]). ZStack's classic (3.x) rules
//! apply: a network is attached once; a NIC joins only a group attached to its network;
//! detaching a network also takes the group off the NICs on it.
//!
//! Deviations: `VmNicSecurityGroupRefInventory.uuid` is derived from the group and NIC ids (the
//! canonical model keeps no row id for a membership) and its dates are the group's last change;
//! `VmNicInventory` carries what a canonical interface has (no MAC, netmask or gateway); the
//! L3 network's IP version is not compared with the group's.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use palisade_core::error::ViolationCode;
use palisade_core::id::{InterfaceId, NetworkId, SecurityGroupId};
use palisade_core::policy::{GroupKind, Member, SecurityGroup};
use palisade_core::service::{GroupRules, Job, Nic};
use palisade_core::Error;
use serde_json::Value;

use super::call::{AsyncCall, Body, Done, SyncCall};
use super::error::{json, ZStackError};
use super::groups::{group_id, organization};
use super::gson::{self, date, uuid, Node, Obj};
use super::query::{params, Query};
use super::views;
use crate::AppState;

const KIND: GroupKind = GroupKind::SecurityGroup;
const REF_CLASS: &str = "org.zstack.network.securitygroup.VmNicSecurityGroupRefInventory";
const NIC_CLASS: &str = "org.zstack.header.vm.VmNicInventory";
const REF_FIELDS: &[&str] =
    &["uuid", "vmNicUuid", "securityGroupUuid", "vmInstanceUuid", "createDate", "lastOpDate"];
const NIC_FIELDS: &[&str] =
    &["uuid", "vmInstanceUuid", "l3NetworkUuid", "ip", "ipVersion", "deviceId", "type"];

fn hex(id: uuid::Uuid) -> String {
    gson::hex(id)
}

fn operr(message: String) -> Error {
    Error::Conflict(message)
}

fn render(g: &GroupRules) -> String {
    views::inventory(views::group(&g.group, &g.rules, &g.resolved))
}

/// Runs a membership change as an asynchronous call; `empty` answers `{}` instead of the group.
async fn change(
    s: &AppState,
    call: AsyncCall,
    group: String,
    empty: bool,
    decide: impl FnOnce(&SecurityGroup, &[Nic]) -> Result<Vec<Member>, Error> + Send,
) -> Response {
    let core = &s.core;
    call.run(core, |actor, job| async move {
        let id = group_id(&group)?;
        let nothing = |_: &GroupRules| "{}".to_owned();
        let render: &(dyn Fn(&GroupRules) -> String + Send + Sync) = if empty { &nothing } else { &render };
        core.change_members(&actor, id, KIND, decide, Some(Job { id: job, render })).await?;
        Ok(Done::Recorded)
    })
    .await
}

/// `POST /security-groups/{uuid}/l3-networks/{l3NetworkUuid}` → the group, attached.
pub async fn attach_l3(
    State(s): State<AppState>,
    call: AsyncCall,
    Path((group, l3)): Path<(String, String)>,
) -> Response {
    change(&s, call, group, false, move |g, _| {
        let network =
            gson::parse_uuid(&l3).map(NetworkId::from_uuid).ok_or(Error::not_found(NetworkId::KIND))?;
        if g.members.contains(&Member::Network(network)) {
            return Err(operr(format!(
                "security group[uuid:{}] has attached to l3Network[uuid:{l3}], can't attach again",
                hex(g.id.as_uuid())
            )));
        }
        Ok(g.members.iter().copied().chain([Member::Network(network)]).collect())
    })
    .await
}

/// `DELETE /security-groups/{uuid}/l3-networks/{l3NetworkUuid}` → the group, detached from the
/// network and from the NICs on it.
pub async fn detach_l3(
    State(s): State<AppState>,
    call: AsyncCall,
    Path((group, l3)): Path<(String, String)>,
) -> Response {
    change(&s, call, group, false, move |g, nics| {
        let network = gson::parse_uuid(&l3).map(NetworkId::from_uuid);
        let Some(network) = network.filter(|n| g.members.contains(&Member::Network(*n))) else {
            return Err(operr(format!(
                "security group[uuid:{}] has not attached to l3Network[uuid:{l3}], can't detach",
                hex(g.id.as_uuid())
            )));
        };
        let on_network = |id: &InterfaceId| {
            nics.iter().any(|n| n.interface.id == *id && n.interface.network_id == network)
        };
        Ok(g.members
            .iter()
            .filter(|m| match m {
                Member::Network(n) => *n != network,
                Member::Interface(i) => !on_network(i),
                _ => true,
            })
            .copied()
            .collect())
    })
    .await
}

/// The NIC uuids of a body's `params.vmNicUuids` or of a query's `vmNicUuids` (repeated or
/// indexed); values that are no uuid name no NIC.
fn nic_ids<'a>(values: impl Iterator<Item = &'a str>) -> Vec<(String, Option<InterfaceId>)> {
    values.map(|v| (v.to_owned(), gson::parse_uuid(v).map(InterfaceId::from_uuid))).collect()
}

/// `POST /security-groups/{uuid}/vm-instances/nics` `{"params": {"vmNicUuids": [...]}}` → `{}`.
pub async fn add_nics(
    State(s): State<AppState>,
    call: AsyncCall,
    Path(group): Path<String>,
    body: Body,
) -> Response {
    let listed = body.section("params").and_then(|p| p.get("vmNicUuids")).and_then(Value::as_array).cloned();
    let given: Vec<(String, Option<InterfaceId>)> =
        listed.as_deref().map(|items| nic_ids(items.iter().filter_map(Value::as_str))).unwrap_or_default();
    change(&s, call, group, true, move |g, nics| {
        if given.is_empty() {
            return Err(Error::invalid("", ViolationCode::Required, "field[vmNicUuids] must be a nonempty list"));
        }
        let known = |id: &Option<InterfaceId>| id.and_then(|id| nics.iter().find(|n| n.interface.id == id));
        let missing: Vec<&str> = given.iter().filter(|(_, id)| known(id).is_none()).map(|(t, _)| t.as_str()).collect();
        if !missing.is_empty() {
            return Err(Error::invalid(
                "",
                ViolationCode::InvalidReference,
                format!("cannot find vm nics[uuids:[{}]]", missing.join(", ")),
            ));
        }
        let off_network: Vec<&str> = given
            .iter()
            .filter(|(_, id)| known(id).is_some_and(|n| !g.members.contains(&Member::Network(n.interface.network_id))))
            .map(|(t, _)| t.as_str())
            .collect();
        if !off_network.is_empty() {
            return Err(Error::invalid(
                "",
                ViolationCode::InvalidValue,
                format!(
                    "VM nics[uuids:[{}]] are not on L3 networks that have been attached to the security group[uuid:{}]",
                    off_network.join(", "),
                    hex(g.id.as_uuid())
                ),
            ));
        }
        let mut members = g.members.clone();
        for member in given.iter().filter_map(|(_, id)| id.map(Member::Interface)) {
            if !members.contains(&member) {
                members.push(member);
            }
        }
        Ok(members)
    })
    .await
}

/// `DELETE /security-groups/{uuid}/vm-instances/nics?vmNicUuids=…` → `{}`; NICs not in the
/// group are ignored.
pub async fn remove_nics(
    State(s): State<AppState>,
    call: AsyncCall,
    Path(group): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let given: Vec<InterfaceId> = params(raw.as_deref())
        .into_iter()
        .filter(|(k, _)| {
            k == "vmNicUuids" || k.strip_prefix("vmNicUuids.").is_some_and(|i| i.parse::<usize>().is_ok())
        })
        .filter_map(|(_, v)| gson::parse_uuid(&v).map(InterfaceId::from_uuid))
        .collect();
    change(&s, call, group, true, move |g, _| {
        Ok(g.members
            .iter()
            .filter(|m| !matches!(m, Member::Interface(i) if given.contains(i)))
            .copied()
            .collect())
    })
    .await
}

/// A `VmNicSecurityGroupRefInventory`.
fn nic_ref(group: &SecurityGroup, nic: &Nic) -> Obj {
    let derived = uuid::Uuid::from_u128(group.id.as_uuid().as_u128() ^ nic.interface.id.as_uuid().as_u128());
    Obj::default()
        .with("uuid", uuid(derived))
        .with("vmNicUuid", uuid(nic.interface.id.as_uuid()))
        .with("securityGroupUuid", uuid(group.id.as_uuid()))
        .with("vmInstanceUuid", uuid(nic.server.as_uuid()))
        .with("createDate", date(group.updated_at))
        .with("lastOpDate", date(group.updated_at))
}

/// A `VmNicInventory`, with what a canonical interface has.
fn nic_view(nic: &Nic) -> Obj {
    let address = nic.interface.addresses.first();
    Obj::default()
        .with("uuid", uuid(nic.interface.id.as_uuid()))
        .with("vmInstanceUuid", uuid(nic.server.as_uuid()))
        .with("l3NetworkUuid", uuid(nic.interface.network_id.as_uuid()))
        .with("ip", address.map(|a| Node::Str(a.to_string())))
        .with("ipVersion", Node::Int(if address.is_some_and(|a| a.is_ipv6()) { 6 } else { 4 }))
        .with("deviceId", Node::Int(i64::try_from(nic.device).unwrap_or(i64::MAX)))
        .with("type", Node::from("VNIC"))
}

/// `GET /security-groups/vm-instances/nics[?q=…]` → `{"inventories": [VmNicSecurityGroupRef…]}`.
pub async fn query_nics(
    State(s): State<AppState>,
    call: SyncCall,
    RawQuery(raw): RawQuery,
) -> Result<Response, ZStackError> {
    let query = Query::parse(raw.as_deref())?;
    query.check_fields(REF_FIELDS)?;
    let org = organization(&call.actor)?;
    let (groups, nics) = s.core.groups_and_nics(&call.actor, org, KIND).await?;
    let refs = groups
        .iter()
        .flat_map(|g| {
            g.members.iter().filter_map(|m| match m {
                Member::Interface(id) => nics.iter().find(|n| n.interface.id == *id).map(|n| nic_ref(g, n)),
                _ => None,
            })
        })
        .collect();
    Ok(json(StatusCode::OK, query.answer(refs, |i, _| vec![(format!("inventories[{i}]"), REF_CLASS)])))
}

/// `GET /security-groups/{uuid}/vm-instances/candidate-nics` → the NICs on networks attached to
/// the group that are not in it yet; an unknown group is `SYS.1003`.
pub async fn candidate_nics(
    State(s): State<AppState>,
    call: SyncCall,
    Path(group): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ZStackError> {
    let query = Query::parse(raw.as_deref())?;
    query.check_fields(NIC_FIELDS)?;
    let org = organization(&call.actor)?;
    let (groups, nics) = s.core.groups_and_nics(&call.actor, org, KIND).await?;
    let id = group_id(&group)?;
    let group = groups.iter().find(|g| g.id == id).ok_or(Error::not_found(SecurityGroupId::KIND))?;
    let candidates = nics
        .iter()
        .filter(|n| group.members.contains(&Member::Network(n.interface.network_id)))
        .filter(|n| !group.members.contains(&Member::Interface(n.interface.id)))
        .map(nic_view)
        .collect();
    Ok(json(StatusCode::OK, query.answer(candidates, |i, _| vec![(format!("inventories[{i}]"), NIC_CLASS)])))
}
