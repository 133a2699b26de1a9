//! Katapult's port strings: `"22"`, `"80,443"`, `"2000-3000"`, and `null` (or `""` in a
//! request) for all ports. This is the vendor's wire format, so it lives in its face: the core
//! holds port lists as [`PortRange`]s and the store keeps them as typed rows.

use palisade_core::policy::PortRange;

/// Parses a port string. Empty means all ports (no ranges). Parts are comma-separated, each a
/// port or a `from-to` range of ports between 1 and 65535; spaces around them are ignored.
pub(super) fn parse(text: &str) -> Result<Vec<PortRange>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-').map(|(a, b)| (a.trim(), b.trim())).unwrap_or((part, part));
        let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n >= 1);
        match (port(from), port(to)) {
            (Some(from), Some(to)) if from <= to => out.push(PortRange { from, to }),
            (Some(_), Some(_)) => return Err(format!("range {part} runs backwards")),
            _ => return Err(format!("{part} is not a port or range between 1 and 65535")),
        }
    }
    Ok(out)
}

/// `"80,443,2000-3000"`; `None` for all ports.
pub(super) fn render(ports: &[PortRange]) -> Option<String> {
    let part =
        |p: &PortRange| if p.from == p.to { p.from.to_string() } else { format!("{}-{}", p.from, p.to) };
    (!ports.is_empty()).then(|| ports.iter().map(part).collect::<Vec<_>>().join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn katapult_port_strings() {
        assert_eq!(parse("22").unwrap(), vec![PortRange { from: 22, to: 22 }]);
        assert_eq!(render(&parse("80,443").unwrap()).as_deref(), Some("80,443"));
        assert_eq!(render(&parse("2000-3000").unwrap()).as_deref(), Some("2000-3000"));
        assert_eq!(render(&parse(" 80 , 1000 - 2000 ").unwrap()).as_deref(), Some("80,1000-2000"));
        assert_eq!(render(&parse("").unwrap()), None);
        assert!(parse("0").is_err());
        assert!(parse("70000").is_err());
        assert!(parse("30-20").is_err());
        assert!(parse("http").is_err());
    }

    proptest! {
        #[test]
        fn port_lists_round_trip(ranges in proptest::collection::vec((1u16..=65535, 0u16..100), 0..6)) {
            let ranges: Vec<PortRange> = ranges.into_iter().map(|(a, w)| PortRange { from: a, to: a.saturating_add(w) }).collect();
            let text = render(&ranges).unwrap_or_default();
            prop_assert_eq!(parse(&text).unwrap(), ranges);
        }
    }
}
