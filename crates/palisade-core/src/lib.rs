//! Palisade's canonical core.
//!
//! Every API face (native, Katapult, Defined, Hostway, ZStack) translates its wire format into
//! calls on [`Core`], and every storage backend implements [`Store`]. Keeping validation,
//! authorization and the domain model here, with no web framework, database driver or nftables
//! in sight, is what lets the faces stay thin and behave identically (design invariants 1 and 2).

pub mod access;
pub mod audit;
pub mod auth;
pub mod authn;
pub mod changes;
pub mod engine;
pub mod error;
pub mod grant;
pub mod id;
pub mod ipam;
pub mod limits;
pub mod model;
pub mod page;
pub mod policy;
pub mod scope;
pub mod secret;
pub mod service;
pub mod snapshot;
pub mod store;
pub mod validate;

pub use access::{Action, Operation, Resource};
pub use auth::{Principal, TokenPrincipal, UserPrincipal};
pub use error::{Error, Result, Violation, ViolationCode};
pub use grant::{Authorized, Grant, ListGrant, OperatorGrant};
pub use page::{Page, PageRequest};
pub use scope::Scope;
pub use service::Core;
pub use store::{Reads, Store, Writes};
