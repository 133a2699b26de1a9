//! `<prefix>_<22 base62 characters>`: the id codec of the faces that show ids as a prefix and
//! base62 digits (Katapult's `sg_…`, Hostway's `group2012May11_…`).
//!
//! It lives in the frame rather than in either face so that faces never import each other.
//! Katapult's own ids carry 16 base62 characters (~95 bits); Palisade's are 128 random bits, so
//! they take 22. Clients treat ids as opaque; the prefix and the alphabet match.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Digits after the prefix and `_`: the fewest base62 digits that carry 128 bits.
pub const WIDTH: usize = 22;

/// `<prefix>_<22 base62>` for 16 bytes (big-endian, zero-padded).
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
    }
}
