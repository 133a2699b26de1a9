//! Typed 128-bit identifiers.
//!
//! Every object gets 16 random bytes. A distinct type per resource means a `NetworkId` can
//! never be passed where an `OrganizationId` is expected. Faces render the same bytes in their
//! vendor's style (UUID text natively, `org_…` for Katapult, `role-…` for Defined); the core only
//! knows the bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Fills a fresh 16-byte identifier from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing is unrecoverable: no secure id or secret can be made.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("operating system random source unavailable");
    bytes
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The resource kind, used in error messages ("organization not found").
            pub const KIND: &'static str = $kind;

            /// A fresh random identifier.
            pub fn random() -> Self {
                Self(Uuid::from_bytes(random_bytes::<16>()))
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// An organization: a Katapult organization, a Hostway account, a ZStack account.
    OrganizationId,
    "organization"
);
typed_id!(
    /// An API token of an organization.
    ApiTokenId,
    "api token"
);
typed_id!(
    /// A user (username and password) of an organization.
    UserId,
    "user"
);
typed_id!(
    /// A data center.
    DataCenterId,
    "data center"
);
typed_id!(
    /// A network with IPv4/IPv6 prefixes.
    NetworkId,
    "network"
);
typed_id!(
    /// A server (virtual machine, host).
    ServerId,
    "server"
);
typed_id!(
    /// A network interface of a server.
    InterfaceId,
    "network interface"
);
typed_id!(
    /// An IP address held by an organization.
    IpAddressId,
    "ip address"
);

typed_id!(
    /// A security group (Katapult, Hostway, ZStack) or a role (Defined).
    SecurityGroupId,
    "security group"
);
typed_id!(
    /// A named group of servers (Katapult's virtual machine groups).
    ServerGroupId,
    "virtual machine group"
);
typed_id!(
    /// A tag of an organization (Katapult's tag objects); servers carry tags by name.
    TagId,
    "tag"
);
typed_id!(
    /// A named list of addresses and networks that rules can target.
    AddressListId,
    "address list"
);
typed_id!(
    /// One address or network of an address list.
    AddressListEntryId,
    "address list entry"
);
typed_id!(
    /// A rule of a security group.
    RuleId,
    "security group rule"
);
typed_id!(
    /// An asynchronous call's record (ZStack's API jobs): its id is the poll URL's last segment.
    JobId,
    "job"
);
typed_id!(
    /// One event of the audit trail.
    AuditEventId,
    "audit event"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_round_trip_through_text() {
        let a = OrganizationId::random();
        let b = OrganizationId::random();
        assert_ne!(a, b);
        let parsed: OrganizationId = a.to_string().parse().unwrap();
        assert_eq!(parsed, a);
        assert!("not-an-id".parse::<OrganizationId>().is_err());
    }
}
