//! The Hostway face (`/accounts/{accountId}/os-security-groups`, `os-security-group-rules`):
//! Hostway's OpenStack-flavoured firewall groups, camelCase, HTTP Basic.
//!
//! Decisions (see also `docs/ARCHITECTURE.md`):
//!
//! - **One core.** A Hostway firewall group is a canonical group of kind `SecurityGroup` — the
//!   same objects the Katapult face shows. A Hostway rule is an inbound rule whose single remote is
//!   the source CIDR (kept as written, `127.0.0.1/24` included). Views show a group's inbound
//!   rules only (Hostway has no direction); a rule without a CIDR source (made through another
//!   face) shows `"cidr": null`.
//! - **Accounts.** `{accountId}` is the organization's id as the native API renders it (UUID
//!   text) or its sub-domain; `accountNumber` and the `links` always use the id. The account is
//!   resolved and checked against the caller before the body is read, so an account that is not
//!   the caller's (or does not exist) is `404 itemNotFound` whatever the body. The alias
//!   `/accounts/os-security-groups` acts in the caller's own organization.
//! - **Credentials.** `Authorization: Basic` with an organization's user (a user holds every
//!   scope within its organization) — Hostway's scheme. `Bearer` API tokens are accepted too,
//!   limited by their scopes (`security_groups`, `security_groups:read`, and `security_group` to
//!   delete, as on the Katapult face), so automation can hold least privilege. No or wrong
//!   credentials: `401` with Hostway's plain-text body.
//! - **IDs.** Groups: `group` + creation date (`2012May11`, UTC) + `_` + 22 base62 characters of
//!   the 128-bit id. Hostway shows 9 characters, which cannot carry 128 bits: a documented
//!   deviation in length only; the date is checked when parsing, so each group has exactly one
//!   id. Rules: numeric strings, the rule's number within its organization (assigned from the
//!   organization's own counter when the rule is inserted, never reused, so it reveals nothing
//!   about other accounts; `Reads::rule_numbers`). A rule is looked up by the caller's account
//!   and its number.
//! - **Paging.** The rules list and the group list take `page` and `pageSize` (both or
//!   neither, at most 200). Without them the group list answers every group, as Hostway
//!   documents it, read in batches of 200 (a few queries per batch, never one per group).
//! - **Protocols.** `TCP`/`UDP` need `1 <= fromPort <= toPort <= 65535`; `AH` (51), `ESP` (50),
//!   `GRE` (47) and `ALL` (any) take no ports (`0`/`0`, or absent). `AH+ESP` names two IP
//!   protocols, and a canonical rule has one: it is refused with a 400 that says to create an
//!   `AH` rule and an `ESP` rule, rather than silently becoming two rules with one id.
//! - **Action and priority.** `ACCEPT`/`REJECT`/`DROP` are canonical allow/reject/deny (absent:
//!   `ACCEPT`). Hostway's priority "starts at 0 = lowest", the canonical one evaluates lower
//!   first: the canonical priority is the negated Hostway priority (absent: 0).
//! - **Media type.** A write with a body must be `application/json` (`media`: Basic credentials
//!   are ambient in browsers, so a cross-site form must not be able to write); otherwise `415
//!   badMediaType`.
//! - **Errors.** OpenStack single-key faults with `details` and a fresh `errorid` (UUID) per
//!   error: `badRequest` 400, `itemNotFound` 404, `forbidden` 403, `badMethod` 405, and
//!   `computeFault` for a display name in use — status 409 with `"code": 400` inside, as the
//!   founding document shows. Unknown paths under `/accounts/` and wrong methods answer in this
//!   envelope too.

pub(crate) mod error;
mod groups;
pub use crate::frame::vendor_ids::hostway as ids;
mod lookup;
mod media;
mod rules;
mod views;

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use palisade_core::error::{BadRequest, Forbidden};
use palisade_core::id::OrganizationId;
use palisade_core::service::OrganizationRef;
use palisade_core::{Action, Error, Operation, PageRequest, Principal, Resource};
use serde_json::{Map, Value};

use self::error::HostwayError;
use crate::frame::credentials::user_or_token_caller;
use crate::frame::routes::{Guard, RouteOperation, Routes};
use crate::frame::Face;
use crate::AppState;

/// Every Hostway route and its operation. Each is also served with a trailing `/`: Hostway's
/// links end with one, and following a link must find the resource.
pub fn routes() -> Routes {
    let groups = "/accounts/{account_id}/os-security-groups";
    let group = "/accounts/{account_id}/os-security-groups/{group_id}";
    let rules = "/accounts/{account_id}/os-security-group-rules";
    let (read, list) = (groups_may(Action::Read), groups_may(Action::List));
    let (create, update, delete) =
        (groups_may(Action::Create), groups_may(Action::Update), groups_may(Action::Delete));
    Routes::new(Face::Hostway)
        .with_trailing_slash()
        .post(groups, create, groups::create)
        .get(groups, list, groups::list)
        .get(group, read, groups::get)
        .put(group, update, groups::update)
        .delete(group, delete, groups::delete)
        .get(&format!("{group}/rules"), read, rules::list)
        .post(rules, update, rules::create)
        .delete(&format!("{rules}/{{rule_id}}"), update, rules::delete)
        .put("/accounts/{account_id}/flexcloud/servers/{server_id}/os-security-group", update, groups::assign)
        .post("/accounts/os-security-groups", create, groups::create)
        .get("/accounts/os-security-groups", list, groups::list)
}

/// A route's operation: `action` on firewall groups (rules are written as their group).
fn groups_may(action: Action) -> Guard {
    Guard::Operation(Operation::new(Resource::Group(lookup::KIND), action))
}

/// Whether an unknown path is under this face (answered in its envelope).
pub fn owns(path: &str) -> bool {
    path.starts_with("/accounts/")
}

/// The authenticated caller, the account (organization) the request acts in, and the operation
/// of the route it called.
#[derive(Debug)]
pub struct Caller {
    pub actor: Principal,
    pub org: OrganizationId,
    /// `scheme://host[/prefix]` clients use, for `links`.
    pub base: String,
    operation: Operation,
}

impl Caller {
    /// The account number: the organization's id as the native API renders it.
    pub fn account(&self) -> String {
        self.org.to_string()
    }

    /// The route's operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// Authorizes the route's operation in the account. Handlers call it before they read the
    /// body or look up what the path names, so a token without the scope is refused (403)
    /// whatever it sent.
    pub fn authorize(&self) -> Result<(), Error> {
        self.actor.authorize(self.org, self.operation).map(|_grant| ())
    }

    /// `{base}/accounts/{account}/{path}/` (Hostway's links end with a slash).
    pub fn link(&self, path: &str) -> String {
        format!("{}/accounts/{}/{path}/", self.base, self.account())
    }
}

/// `scheme://host[/prefix]` for links: the configured public URL, else the request's own
/// ([`crate::forwarded`]: forwarded headers count only from trusted proxies).
fn base_url(parts: &Parts, state: &AppState) -> String {
    match &state.config.public_url {
        Some(url) => url.clone(),
        None => crate::forwarded::request_base(&parts.headers, &parts.uri, parts.extensions.get()),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = HostwayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = user_or_token_caller(&state.core, parts).await?;
        let Some(RouteOperation(operation)) = parts.extensions.get().copied() else {
            return Err(Error::internal("a Hostway route was declared without its operation").into());
        };
        let params = axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|p| p.0)
            .unwrap_or_default();
        let org = match params.get("account_id") {
            Some(account) => {
                let reference = match account.parse::<OrganizationId>() {
                    Ok(id) => OrganizationRef::Id(id),
                    Err(_) => OrganizationRef::SubDomain(account.clone()),
                };
                state.core.member_organization(&actor, &reference).await?
            }
            None => actor.organization_id().ok_or(Error::Forbidden(Forbidden::OperatorOnly))?,
        };
        Ok(Caller { actor, org, base: base_url(parts, state), operation })
    }
}

/// `?page=&pageSize=` (the rules list's, and the group list's): both or neither; pages start at
/// 1, `pageSize` is at most 200.
pub fn page_of(
    query: Result<axum::extract::Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Option<PageRequest>, Error> {
    let query = query
        .map_err(|e| {
            Error::BadRequest(BadRequest::MalformedParameter {
                name: "query".into(),
                message: crate::frame::json_words::json_words(&e.body_text()),
            })
        })?
        .0;
    let number = |name: &str| -> Result<Option<u32>, Error> {
        query
            .get(name)
            .map(|v| {
                v.trim().parse::<u32>().map_err(|_| {
                    Error::BadRequest(BadRequest::MalformedParameter {
                        name: name.into(),
                        message: "must be a positive integer".into(),
                    })
                })
            })
            .transpose()
    };
    match (number("page")?, number("pageSize")?) {
        (None, None) => Ok(None),
        (Some(page), Some(size)) => PageRequest::new(Some(page), Some(size)).map(Some),
        _ => Err(Error::BadRequest(BadRequest::MalformedParameter {
            name: "page".into(),
            message: "give both page and pageSize, or neither".into(),
        })),
    }
}

/// The path's parameters (`group_id`, `rule_id`, `server_id`); undecodable ones name nothing.
#[derive(Debug)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }
}

impl FromRequestParts<AppState> for Params {
    type Rejection = HostwayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|p| Params(p.0))
            .map_err(|_| HostwayError(Error::not_found("route")))
    }
}

/// A body whose errors wait until the caller is authorized (handlers check first).
pub type BodyResult = Result<Body, HostwayError>;

/// A JSON body: `None` when it is empty (or `{}`), which Hostway answers with a bare
/// `"Invalid"`.
#[derive(Debug)]
pub struct Body(pub Option<Map<String, Value>>);

impl FromRequest<AppState> for Body {
    type Rejection = HostwayError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        media::require_json(req.headers())?;
        let bytes = crate::body_limit::read(req, state.config.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(None));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) if map.is_empty() => Ok(Body(None)),
            Ok(Value::Object(map)) => Ok(Body(Some(map))),
            Ok(_) => Err(malformed("the request body must be a JSON object").into()),
            Err(e) => Err(malformed(format!("the request body is not valid JSON: {e}")).into()),
        }
    }
}

fn malformed(message: impl Into<String>) -> Error {
    Error::BadRequest(BadRequest::MalformedBody { path: None, message: message.into() })
}

/// The object under `key` (`securityGroup`, `securityGroupRule`) of a body.
fn wrapped<'a>(body: &'a Body, key: &str) -> Result<&'a Map<String, Value>, Error> {
    let Some(map) = &body.0 else {
        return Err(malformed(""));
    };
    match map.get(key) {
        Some(Value::Object(inner)) => Ok(inner),
        None | Some(Value::Null) => {
            Err(Error::BadRequest(BadRequest::MissingArgument { path: vec![key.to_owned()] }))
        }
        Some(_) => Err(Error::BadRequest(BadRequest::InvalidArgument {
            path: vec![key.to_owned()],
            index: None,
            issue: "invalid_object",
            message: Some("must be an object".into()),
        })),
    }
}
