//! The ZStack face (`/zstack/v1/...`): ZStack's REST API for security groups, in the 3.1–3.9
//! dialect (groups and rules carry `ipVersion`), as its Python and Java SDKs drive it.
//!
//! Decisions (see also `docs/ARCHITECTURE.md` and the reference's checklist):
//!
//! - **One core.** A ZStack security group is a canonical group of kind `SecurityGroup`, the
//!   objects Katapult and Hostway show; its default "same group" rules are canonical rules.
//! - **Sessions.** `PUT /accounts/login` with a Palisade user's username and the SHA-512 hex
//!   of their password opens a session (`Core::open_session`); every other call sends
//!   `Authorization: OAuth <session uuid>`. No header or another scheme: `400` plain text. An
//!   unknown or expired session: `ID.1001`, `503` for synchronous calls, through the job for
//!   asynchronous ones. Sessions live in the database (every node sees them, restarts keep
//!   them) as hashes.
//! - **Asynchronous calls** ([`call`]): every non-query call answers `202 {"location": …}`,
//!   the poll URL built from the request's own base URL (`--public-url` when set; forwarded
//!   headers only from trusted proxies). The operation runs before the answer and writes its
//!   job's answer in its own transaction, so the poll (`/api-jobs/{uuid}`) finds it finished on
//!   any node; validation and not-found errors surface through the job, as ZStack does.
//!   Deviation: ZStack does not check who polls; Palisade shows a job of an organization only to
//!   a session of that organization (others get the `404` of an expired job), and still needs
//!   the `Authorization` header every ZStack call carries.
//! - **Errors** ([`error`]): front-end problems in plain text, failed operations as `503`
//!   `{"error": {code, description, details}}`.
//! - **JSON** ([`gson`]): Gson's conventions (nulls omitted, integers as integers, Java 8
//!   dates, in UTC).
//! - **Deviations kept on purpose**: group names are unique per organization and kind, as on
//!   every other face (ZStack allows two groups of one name; the second is refused with
//!   `SYS.1007`); descriptions are at most 255 characters (ZStack: 2048); `systemTags`,
//!   `userTags` and `tagUuids` are accepted and ignored.

pub mod accounts;
pub mod attachments;
pub mod call;
pub mod error;
pub mod groups;
pub mod gson;
pub mod query;
pub mod rules;
pub mod views;

use palisade_core::{Action, Operation, Resource};

use crate::frame::routes::{Guard, Routes};
use crate::frame::Face;

/// The context path ZStack is deployed under.
pub const PREFIX_ROOT: &str = "/zstack";
/// The API's base path.
pub const PREFIX: &str = "/zstack/v1";
/// How ZStack names its paths in messages (without the context path).
pub const API: &str = "/v1";

/// A route's operation: `action` on security groups.
fn groups_may(action: Action) -> Guard {
    Guard::Operation(Operation::new(Resource::Group(palisade_core::policy::GroupKind::SecurityGroup), action))
}

/// Every ZStack route. Literal segments win over `{uuid}` (`/security-groups/rules` is its own
/// API), as in ZStack's router.
pub fn routes() -> Routes {
    let group = "/zstack/v1/security-groups/{uuid}";
    let rules = "/zstack/v1/security-groups/rules";
    Routes::new(Face::ZStack)
        .with_request_ids()
        .put("/zstack/v1/accounts/login", Guard::Open, accounts::log_in)
        .delete("/zstack/v1/accounts/sessions/{uuid}", Guard::Open, accounts::log_out)
        .get("/zstack/v1/accounts/sessions/{uuid}/valid", Guard::Open, accounts::valid)
        .get("/zstack/v1/api-jobs/{uuid}", groups_may(Action::Read), accounts::poll)
        .post("/zstack/v1/security-groups", groups_may(Action::Create), groups::create)
        .get("/zstack/v1/security-groups", groups_may(Action::List), groups::query)
        .get(group, groups_may(Action::Read), groups::query_one)
        .delete(group, groups_may(Action::Delete), groups::delete)
        .put(&format!("{group}/actions"), groups_may(Action::Update), groups::actions)
        .post(&format!("{group}/rules"), groups_may(Action::Update), rules::add)
        .get(rules, groups_may(Action::List), rules::query)
        .get(&format!("{rules}/{{uuid}}"), groups_may(Action::Read), rules::query_one)
        .delete(rules, groups_may(Action::Update), rules::delete)
        .post(
            &format!("{group}/l3-networks/{{l3_network_uuid}}"),
            groups_may(Action::Update),
            attachments::attach_l3,
        )
        .delete(
            &format!("{group}/l3-networks/{{l3_network_uuid}}"),
            groups_may(Action::Update),
            attachments::detach_l3,
        )
        .post(&format!("{group}/vm-instances/nics"), groups_may(Action::Update), attachments::add_nics)
        .delete(&format!("{group}/vm-instances/nics"), groups_may(Action::Update), attachments::remove_nics)
        .get(
            "/zstack/v1/security-groups/vm-instances/nics",
            groups_may(Action::List),
            attachments::query_nics,
        )
        .get(
            &format!("{group}/vm-instances/candidate-nics"),
            groups_may(Action::Read),
            attachments::candidate_nics,
        )
}

/// Whether a path is under this face (answered in its envelope).
pub fn owns(path: &str) -> bool {
    path == PREFIX_ROOT || path.starts_with("/zstack/")
}
