//! The audit trail (issue 16, point 4): who changed what, when, and through which face.
//!
//! Every write the core commits records what it did in the same transaction as the change
//! ([`crate::service`]'s write transactions refuse to commit without an account of their
//! writes), so an event exists exactly when its change does. An event names:
//!
//! - the principal ([`Actor`]: the operator, an API token, or a user by id);
//! - the face the request came through and its request id, from the [`Origin`] the HTTP layer
//!   sets around each request ([`within`]); writes made outside a request (the offline
//!   `palisade admin` commands) have the origin their caller gives;
//! - the operation, the kind and id of the object, its organization (none for
//!   installation-wide objects);
//! - the fields that changed, before → after, as JSON. They come from the objects' `Serialize`
//!   forms, and no secret has one: token secrets, password digests and session ids are other
//!   types than the model's objects ([`crate::secret`]), so a secret cannot reach an event
//!   without a type error. Creation and update timestamps are left out (`#[serde(skip)]`):
//!   the event's own time says when.
//!
//! Events are kept when their organization or object is deleted: the trail outlives what it
//! describes.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::auth::Principal;
use crate::id::{ApiTokenId, AuditEventId, OrganizationId, UserId};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The operator's token, or the administrator at the database (`palisade admin`).
    Operator,
    Token(ApiTokenId),
    User(UserId),
}

impl Actor {
    /// The kind of principal: `operator`, `token` or `user`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Token(_) => "token",
            Self::User(_) => "user",
        }
    }

    /// The principal's id (none for the operator).
    pub fn uuid(&self) -> Option<uuid::Uuid> {
        match self {
            Self::Operator => None,
            Self::Token(id) => Some(id.as_uuid()),
            Self::User(id) => Some(id.as_uuid()),
        }
    }

    /// The principal's id as text (none for the operator).
    pub fn id(&self) -> Option<String> {
        self.uuid().map(|id| id.hyphenated().to_string())
    }

    /// The actor a stored kind and id name.
    pub fn parse(kind: &str, id: Option<&str>) -> Option<Self> {
        match (kind, id) {
            ("operator", None) => Some(Self::Operator),
            ("token", Some(id)) => id.parse().ok().map(Self::Token),
            ("user", Some(id)) => id.parse().ok().map(Self::User),
            _ => None,
        }
    }
}

/// `operator`, `token:<id>` or `user:<id>`: how the API and the CLI name a principal.
impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id() {
            None => f.write_str(self.kind()),
            Some(id) => write!(f, "{}:{id}", self.kind()),
        }
    }
}

impl std::str::FromStr for Actor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.split_once(':') {
            None => Self::parse(s, None),
            Some((kind, id)) => Self::parse(kind, Some(id)),
        }
        .ok_or(())
    }
}

impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Self {
        match principal {
            Principal::Operator => Self::Operator,
            Principal::Token(token) => Self::Token(token.token_id),
            Principal::User(user) => Self::User(user.user_id),
        }
    }
}

macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),*
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            pub const fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text),*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

names!(
    /// What kind of object an event is about.
    ObjectKind {
        Organization = "organization",
        ApiToken = "api_token",
        User = "user",
        OperatorToken = "operator_token",
        DataCenter = "data_center",
        Network = "network",
        Server = "server",
        Host = "host",
        IpAddress = "ip_address",
        SecurityGroup = "security_group",
        Role = "role",
        Rule = "rule",
        ServerGroup = "server_group",
        Tag = "tag",
        AddressList = "address_list",
        AddressListEntry = "address_list_entry",
        Session = "session",
    }
);

names!(
    /// What was done (an event's `operation`).
    Verb {
        Create = "create",
        Update = "update",
        Delete = "delete",
        /// A token was revoked (it stays listed).
        Revoke = "revoke",
        /// A user's password was set.
        SetPassword = "set_password",
        /// A member was added to a group.
        AddMember = "add_member",
        /// A user signed in (a session was opened) or out.
        SignIn = "sign_in",
        SignOut = "sign_out",
        /// A new operator token replaced the stored one.
        Rotate = "rotate",
    }
);

impl From<crate::policy::GroupKind> for ObjectKind {
    fn from(kind: crate::policy::GroupKind) -> Self {
        match kind {
            crate::policy::GroupKind::SecurityGroup => Self::SecurityGroup,
            crate::policy::GroupKind::Role => Self::Role,
        }
    }
}

/// Where a change came from: the face and request it was made through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `native`, `katapult`, `defined`, `hostway`, `zstack`, or `cli` for the offline commands.
    pub face: String,
    pub request_id: Option<String>,
}

impl Origin {
    /// A change made without a request: by the server or an offline command.
    pub fn offline(face: &str) -> Self {
        Self { face: face.to_owned(), request_id: None }
    }
}

tokio::task_local! {
    static ORIGIN: Origin;
}

/// Runs `future` (a request) with `origin` as the origin of the changes it makes.
pub async fn within<F: std::future::Future>(origin: Origin, future: F) -> F::Output {
    ORIGIN.scope(origin, future).await
}

/// The current request's origin; a change outside any request is the server's own.
pub(crate) fn current_origin() -> Origin {
    ORIGIN.try_with(Clone::clone).unwrap_or_else(|_| Origin::offline("server"))
}

/// One field's value before and after; `null` where it had none (creation, deletion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: OffsetDateTime,
    /// The organization the object belongs to (an organization's own events: itself); `None`
    /// for installation-wide objects (data centers, networks, global address lists).
    pub organization_id: Option<OrganizationId>,
    pub actor: Actor,
    pub face: String,
    pub request_id: Option<String>,
    pub operation: Verb,
    pub object_kind: ObjectKind,
    pub object_id: String,
    pub changes: Vec<FieldChange>,
}

/// What a write did, before it is stamped with its actor, origin and time: what core methods
/// record ([`crate::service`]'s `Tx::record`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub organization_id: Option<OrganizationId>,
    pub operation: Verb,
    pub object_kind: ObjectKind,
    pub object_id: String,
    pub changes: Vec<FieldChange>,
}

impl Change {
    /// `operation` on the object, with no field changes (yet: see [`Change::field`]).
    pub fn new(
        org: Option<OrganizationId>,
        operation: Verb,
        kind: ObjectKind,
        id: impl fmt::Display,
    ) -> Self {
        Self {
            organization_id: org,
            operation,
            object_kind: kind,
            object_id: id.to_string(),
            changes: Vec::new(),
        }
    }

    /// A creation: every field of `after`.
    pub fn created(
        org: Option<OrganizationId>,
        kind: ObjectKind,
        id: impl fmt::Display,
        after: &impl Serialize,
    ) -> Self {
        Self { changes: diff(&Value::Null, &state(after)), ..Self::new(org, Verb::Create, kind, id) }
    }

    /// An update: the fields of `after` that differ from `before` (taken with [`state`] before
    /// the object was changed).
    pub fn updated(
        org: Option<OrganizationId>,
        kind: ObjectKind,
        id: impl fmt::Display,
        before: &Value,
        after: &impl Serialize,
    ) -> Self {
        Self { changes: diff(before, &state(after)), ..Self::new(org, Verb::Update, kind, id) }
    }

    /// A deletion: every field the object had.
    pub fn deleted(
        org: Option<OrganizationId>,
        kind: ObjectKind,
        id: impl fmt::Display,
        before: &impl Serialize,
    ) -> Self {
        Self { changes: diff(&state(before), &Value::Null), ..Self::new(org, Verb::Delete, kind, id) }
    }

    /// The change with another field's before and after.
    pub fn field(mut self, field: &str, before: impl Serialize, after: impl Serialize) -> Self {
        let (before, after) = (state(&before), state(&after));
        if before != after {
            self.changes.push(FieldChange { field: field.to_owned(), before, after });
        }
        self
    }

    /// The change as `actor` made it, now, from the current request's origin.
    pub(crate) fn by(self, actor: Actor) -> AuditEvent {
        let origin = current_origin();
        AuditEvent {
            id: AuditEventId::random(),
            at: crate::model::now(),
            organization_id: self.organization_id,
            actor,
            face: origin.face,
            request_id: origin.request_id,
            operation: self.operation,
            object_kind: self.object_kind,
            object_id: self.object_id,
            changes: self.changes,
        }
    }
}

/// An object's fields as JSON, to compare with what it becomes.
pub fn state(object: &impl Serialize) -> Value {
    // The model's types serialize infallibly (no maps with non-string keys).
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The fields whose values differ between two objects' states (`null` for no object), by
/// name; an object that is not a JSON object is one field, `value`.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let empty = Map::new();
    let fields = |v: &Value| -> Map<String, Value> {
        match v {
            Value::Object(map) => map.clone(),
            Value::Null => empty.clone(),
            other => Map::from_iter([("value".to_owned(), other.clone())]),
        }
    };
    let (before, after) = (fields(before), fields(after));
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (b, a) = (before.get(name).unwrap_or(&Value::Null), after.get(name).unwrap_or(&Value::Null));
            (b != a).then(|| FieldChange { field: name.clone(), before: b.clone(), after: a.clone() })
        })
        .collect()
}

/// Which events a listing shows; `None` does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this organization's events (an organization's token sees no others).
    pub organization_id: Option<OrganizationId>,
    pub object_kind: Option<ObjectKind>,
    pub object_id: Option<String>,
    pub actor: Option<Actor>,
    pub request_id: Option<String>,
    /// Events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Events before this time.
    pub until: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_names_the_fields_that_moved() {
        let before = json!({"name": "web", "color": "red", "tags": ["a"]});
        let after = json!({"name": "web", "color": "blue", "tags": ["a", "b"]});
        assert_eq!(
            diff(&before, &after),
            vec![
                FieldChange { field: "color".into(), before: json!("red"), after: json!("blue") },
                FieldChange { field: "tags".into(), before: json!(["a"]), after: json!(["a", "b"]) },
            ]
        );
        let created = diff(&Value::Null, &json!({"name": "web"}));
        assert_eq!(
            created,
            vec![FieldChange { field: "name".into(), before: Value::Null, after: json!("web") }]
        );
        assert!(diff(&after, &after).is_empty());
    }

    #[test]
    fn actors_read_back_as_they_are_written() {
        for actor in [Actor::Operator, Actor::Token(ApiTokenId::random()), Actor::User(UserId::random())] {
            assert_eq!(actor.to_string().parse::<Actor>(), Ok(actor));
            assert_eq!(Actor::parse(actor.kind(), actor.id().as_deref()), Some(actor));
        }
        assert!("token".parse::<Actor>().is_err());
        assert!("operator:1".parse::<Actor>().is_err());
        assert!("user:not-a-uuid".parse::<Actor>().is_err());
    }

    #[test]
    fn names_parse_back() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::parse(kind.as_str()), Some(*kind));
        }
        for op in Verb::ALL {
            assert_eq!(Verb::parse(op.as_str()), Some(*op));
        }
    }
}
