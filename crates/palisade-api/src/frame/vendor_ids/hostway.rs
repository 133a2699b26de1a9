//! Hostway group ids: `group` + creation date (`2012May11`, UTC) + `_` + the 128-bit id in 22
//! base62 characters (Hostway shows 9, which cannot carry 128 bits). Parsing checks the shape
//! and yields the id and the date, which the core compares with the group's own.

use palisade_core::id::SecurityGroupId;
use time::OffsetDateTime;

use crate::frame::base62;

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `group2012May11_<22 base62>`.
pub fn render(id: SecurityGroupId, created_at: OffsetDateTime) -> String {
    let day = created_at.to_offset(time::UtcOffset::UTC);
    let month = MONTHS[usize::from(u8::from(day.month())) - 1];
    base62::render(&format!("group{:04}{month}{:02}", day.year(), day.day()), id.as_bytes())
}

/// The group id and the creation day inside a Hostway group id, if the text has that shape.
pub fn parse(text: &str) -> Option<(SecurityGroupId, time::Date)> {
    let rest = text.strip_prefix("group")?;
    let (date, _) = rest.split_once('_')?;
    let ok = date.len() == 9
        && date.is_char_boundary(4)
        && date.is_char_boundary(7)
        && date[..4].bytes().all(|b| b.is_ascii_digit())
        && MONTHS.contains(&&date[4..7])
        && date[7..].bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == &date[4..7]).and_then(|i| u8::try_from(i + 1).ok())?;
    let day = time::Date::from_calendar_date(
        date[..4].parse().ok()?,
        time::Month::try_from(month).ok()?,
        date[7..].parse().ok()?,
    )
    .ok()?;
    base62::parse(&format!("group{date}"), text).map(|bytes| (SecurityGroupId::from_bytes(bytes), day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_date_and_round_trip() {
        let id = SecurityGroupId::random();
        let at = time::macros::datetime!(2012-05-11 23:59 UTC);
        let text = render(id, at);
        assert!(text.starts_with("group2012May11_") && text.len() == "group2012May11_".len() + 22, "{text}");
        assert_eq!(parse(&text), Some((id, time::macros::date!(2012 - 05 - 11))));
        assert_eq!(render(id, time::macros::datetime!(2012-05-12 01:00 +02:00)), text, "dates are UTC");
        for bad in [
            "group2012May11_OK30Zs7Ju",
            "group2012Mai11_0000000000000000000000",
            "group12May11_0000000000000000000000",
            "grp2012May11_0000000000000000000000",
            "group2012May11-0000000000000000000000",
            "group2012May1é_000000000000000000000",
            "group2012Feb30_0000000000000000000000",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
