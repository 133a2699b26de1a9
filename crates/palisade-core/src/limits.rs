//! How much one request may ask for: the largest lists and texts the core accepts, whatever
//! the face.
//!
//! The body limit (`--max-body-bytes`) bounds the bytes of a request; these bound the *work*.
//! Every list below is counted in validation before any of its items is looked at (no store
//! lookup, no parsing, no per-item violation), so refusing an oversized request costs the same
//! whether it lists a hundred items or a hundred thousand. Issue 11 measured 11.8 s to refuse a
//! server with 36,000 interfaces when each interface's network was looked up first.
//!
//! The numbers are generous for real use (vendors document none of them) and small enough that
//! the per-item work of an accepted request stays in the milliseconds.

/// Interfaces of one server.
pub const MAX_INTERFACES: usize = 16;
/// Addresses of one interface (or one host).
pub const MAX_ADDRESSES: usize = 64;
/// Tags of one server or host, and tags one Defined rule requires.
pub const MAX_TAGS: usize = 64;
/// Prefixes of one network.
pub const MAX_PREFIXES: usize = 64;
/// Reserved ranges of one network.
pub const MAX_RESERVED: usize = 256;
/// Underlay `ip:port` endpoints of one host.
pub const MAX_STATIC_ADDRESSES: usize = 64;
/// Rules given in one request (a group created with its rules, Defined's full replacement).
pub const MAX_RULES: usize = 256;
/// Remotes (targets) of one rule; each may be looked up.
pub const MAX_REMOTES: usize = 64;
/// Port ranges of one rule (`"80,443,8000-8080"`).
pub const MAX_PORT_RANGES: usize = 64;
/// Members (associations) given in one request; each is looked up.
pub const MAX_MEMBERS: usize = 256;
/// Annotations of one group or address list, and annotations a listing filters by.
pub const MAX_ANNOTATIONS: usize = 64;
/// Characters of one annotation value.
pub const MAX_ANNOTATION_VALUE: usize = 1024;
/// Address-list entries added, or addresses removed, in one request.
pub const MAX_ENTRIES: usize = 1000;
/// Scopes of one API token (the catalogue has fewer).
pub const MAX_SCOPES: usize = 128;
/// Source networks of one API token.
pub const MAX_ALLOWED_NETWORKS: usize = 64;
/// Entries of a host's Nebula configuration overrides.
pub const MAX_CONFIG_OVERRIDES: usize = 256;
/// Bytes of a host's configuration overrides as stored (compact JSON).
pub const MAX_CONFIG_OVERRIDES_BYTES: usize = 64 * 1024;
