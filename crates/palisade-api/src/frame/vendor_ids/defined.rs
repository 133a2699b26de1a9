//! Defined identifiers: `<type>-` + 26 characters of unpadded upper-case base32 (16 bytes).

use data_encoding::BASE32_NOPAD;

pub const ROLE: &str = "role";
pub const HOST: &str = "host";
pub const NETWORK: &str = "network";
pub const ORGANIZATION: &str = "org";
pub const SIGNING_CA: &str = "ca";

pub fn render(prefix: &str, bytes: &[u8; 16]) -> String {
    format!("{prefix}-{}", BASE32_NOPAD.encode(bytes))
}

pub fn parse(prefix: &str, text: &str) -> Option<[u8; 16]> {
    let body = text.strip_prefix(prefix)?.strip_prefix('-')?;
    if body.len() != 26 {
        return None;
    }
    BASE32_NOPAD.decode(body.as_bytes()).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_ids_decode_to_16_bytes() {
        for id in ["role-LO4SPDSWTZNJC676WFCZKUB3ZQ", "role-G3TWUQ4FASQEF44MGMTSRBTYKM"] {
            let bytes = parse(ROLE, id).unwrap();
            assert_eq!(render(ROLE, &bytes), id);
        }
        assert_eq!(parse(ROLE, "role-SHORT"), None);
        assert_eq!(parse(ROLE, "host-LO4SPDSWTZNJC676WFCZKUB3ZQ"), None);
    }
}
