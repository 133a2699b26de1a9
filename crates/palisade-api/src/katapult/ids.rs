//! Katapult-style identifiers: `<prefix>_<base62>`.
//!
//! Katapult's own IDs carry 16 base62 characters (~95 bits); Palisade's are 128 random bits, so
//! they take 22. Clients treat IDs as opaque; the prefix and the alphabet match.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const WIDTH: usize = 22;

pub fn render(prefix: &str, bytes: &[u8; 16]) -> String {
    let mut n = u128::from_be_bytes(*bytes);
    let mut digits = [b'0'; WIDTH];
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    let mut out = String::with_capacity(prefix.len() + 1 + WIDTH);
    out.push_str(prefix);
    out.push('_');
    out.extend(digits.iter().map(|&b| b as char));
    out
}

/// The 16 bytes behind `<prefix>_<22 base62>`, or `None` if the text is not such an id.
pub fn parse(prefix: &str, text: &str) -> Option<[u8; 16]> {
    let digits = text.strip_prefix(prefix)?.strip_prefix('_')?;
    if digits.len() != WIDTH {
        return None;
    }
    let mut n: u128 = 0;
    for b in digits.bytes() {
        let value = ALPHABET.iter().position(|&a| a == b)? as u128;
        n = n.checked_mul(62)?.checked_add(value)?;
    }
    Some(n.to_be_bytes())
}

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
    fn round_trip_and_rejects() {
        for bytes in [[0u8; 16], [255u8; 16], *b"0123456789abcdef"] {
            let text = render("sg", &bytes);
            assert!(text.starts_with("sg_") && text.len() == 3 + WIDTH, "{text}");
            assert_eq!(parse("sg", &text), Some(bytes));
            assert_eq!(parse("sgr", &text), None);
        }
        assert_eq!(parse("sg", "sg_short"), None);
        assert_eq!(parse("sg", "sg_zzzzzzzzzzzzzzzzzzzzzz"), None, "overflows 128 bits");
        assert_eq!(parse("sg", "sg_!!!!!!!!!!!!!!!!!!!!!!"), None);
        assert_eq!(country("GB"), country("GB"));
    }
}
