//! Katapult-style identifiers: `<prefix>_<base62>` (the codec is the frame's [`base62`](crate::frame::base62), shared
//! with Hostway), the prefix of each kind, and the ids of things Palisade keeps without one.

pub use crate::frame::base62::{parse, render};

pub const ORGANIZATION: &str = "org";
pub const NETWORK: &str = "netw";
pub const DATA_CENTER: &str = "loc";
pub const COUNTRY: &str = "ctry";
pub const IP_ADDRESS: &str = "ip";
pub const SERVER: &str = "vm";
pub const SECURITY_GROUP: &str = "sg";
pub const RULE: &str = "sgr";
pub const SERVER_GROUP: &str = "vmgrp";
pub const TAG: &str = "tag";
pub const ADDRESS_LIST: &str = "adlst";
pub const ADDRESS_LIST_ENTRY: &str = "adle";

/// Subnets (a network's prefixes) have no id of their own either; derive one from the network
/// and the prefix.
pub fn subnet(network: &[u8; 16], prefix: &str) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(network);
    hasher.update(prefix.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    render("sbnt", &bytes)
}

/// Countries have no id of their own in Palisade; Katapult shows one, so derive it from the
/// ISO code (stable across nodes and restarts).
pub fn country(iso_code2: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("country:{iso_code2}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    render(COUNTRY, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable() {
        assert_eq!(country("GB"), country("GB"));
        assert_ne!(country("GB"), country("FR"));
        let network = [7u8; 16];
        assert_eq!(subnet(&network, "192.0.2.0/24"), subnet(&network, "192.0.2.0/24"));
        assert!(parse("sbnt", &subnet(&network, "192.0.2.0/24")).is_some());
    }
}
