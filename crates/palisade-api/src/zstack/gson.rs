//! ZStack's JSON as its management node writes it (Gson, `CloudBusGson.httpGson`): objects in
//! the inventory classes' field order, null fields omitted, integers as integers, dates in Java
//! 8's default `DateFormat` (`Jun 7, 2017 9:21:20 PM`), UUIDs as 32 lowercase hex characters.
//!
//! Inventories are built as [`Obj`], an ordered list of fields, rather than typed structs,
//! because queries address their fields by name: conditions (`q=name=web`), `sort` and `fields`
//! all read and pick fields of the same objects the answer serializes.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use time::macros::format_description;
use time::OffsetDateTime;
use uuid::Uuid;

/// A JSON value of an inventory.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Node>),
    Obj(Obj),
}

/// A JSON object whose fields keep their order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj(pub Vec<(&'static str, Node)>);

impl Obj {
    /// Adds a field; `None` is omitted, as Gson omits nulls.
    pub fn with(mut self, name: &'static str, value: impl Into<Option<Node>>) -> Self {
        if let Some(value) = value.into() {
            self.0.push((name, value));
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&Node> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Only the named fields, in the object's own order (a query's `fields=`).
    pub fn only(self, names: &[String]) -> Self {
        Obj(self.0.into_iter().filter(|(n, _)| names.iter().any(|m| m == n)).collect())
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Node::Str(s.to_owned())
    }
}

impl From<String> for Node {
    fn from(s: String) -> Self {
        Node::Str(s)
    }
}

impl From<i64> for Node {
    fn from(n: i64) -> Self {
        Node::Int(n)
    }
}

impl From<Obj> for Node {
    fn from(o: Obj) -> Self {
        Node::Obj(o)
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Str(v) => s.serialize_str(v),
            Node::Int(v) => s.serialize_i64(*v),
            Node::Bool(v) => s.serialize_bool(*v),
            Node::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Obj(obj) => obj.serialize(s),
        }
    }
}

impl Serialize for Obj {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A date as Gson writes it on the management node (`MMM d, yyyy h:mm:ss a`). ZStack uses the
/// node's local time zone and writes no zone; Palisade's is UTC.
pub fn date(at: OffsetDateTime) -> Node {
    let format = format_description!(
        "[month repr:short] [day padding:none], [year] [hour repr:12 padding:none]:[minute]:[second] [period]"
    );
    let at = at.to_offset(time::UtcOffset::UTC);
    Node::Str(at.format(&format).unwrap_or_default())
}

/// A date [`date`] wrote, read back (to order and compare dates in queries).
pub fn parse_date(text: &str) -> Option<OffsetDateTime> {
    let format = format_description!(
        "[month repr:short] [day padding:none], [year] [hour repr:12 padding:none]:[minute]:[second] [period]"
    );
    time::PrimitiveDateTime::parse(text, &format).ok().map(|d| d.assume_utc())
}

/// A UUID as ZStack writes it: 32 lowercase hex characters.
pub fn uuid(id: Uuid) -> Node {
    Node::Str(hex(id))
}

pub fn hex(id: Uuid) -> String {
    crate::frame::vendor_ids::zstack::render(id.as_bytes())
}

/// A UUID ZStack's way (32 hex characters, no dashes); ZStack's own ids are lowercase, and any
/// case is read.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| Uuid::try_parse(text).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_java_8_default_format() {
        let at = time::macros::datetime!(2017-06-07 21:21:20 UTC);
        assert_eq!(date(at), Node::Str("Jun 7, 2017 9:21:20 PM".into()));
        let morning = time::macros::datetime!(2017-01-01 09:05:06 UTC);
        assert_eq!(date(morning), Node::Str("Jan 1, 2017 9:05:06 AM".into()));
        let midnight = time::macros::datetime!(2017-12-31 00:00:00 UTC);
        assert_eq!(date(midnight), Node::Str("Dec 31, 2017 12:00:00 AM".into()));
    }

    #[test]
    fn objects_keep_their_order_and_omit_nulls() {
        let obj =
            Obj::default().with("uuid", Node::from("b")).with("description", None).with("a", Node::Int(1));
        assert_eq!(serde_json::to_string(&obj).unwrap(), r#"{"uuid":"b","a":1}"#);
        assert_eq!(
            parse_uuid("7bb070cdebf44fd8af354f25344d758b").map(hex).as_deref(),
            Some("7bb070cdebf44fd8af354f25344d758b")
        );
        assert_eq!(parse_uuid("7bb070cd-ebf4-4fd8-af35-4f25344d758b"), None);
        assert_eq!(parse_uuid("zzb070cdebf44fd8af354f25344d758b"), None);
    }
}
