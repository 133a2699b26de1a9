//! ZStack's query API (`APIQueryMessage`, reference §2.8) over inventories.
//!
//! `q=<field><op><value>` (repeatable, ANDed; operators checked in ZStack's order `!=`, `>=`,
//! `<=`, `!?=`, `!~=`, `~=`, `?=`, `=`, `>`, `<`, `is null`, `not null`; dotted fields such as
//! `rules.protocol` match when any nested object does), `limit` (default 1000), `start`,
//! `count`, `replyWithCount`, `sort=±field`, `fields=a,b`. Unknown parameters are ignored, as
//! ZStack ignores them.
//!
//! The query string is read as the SDKs send it: the Python SDK does not URL-encode it, so a `+`
//! is a plus sign (`sort=+name`), never a space; `%XX` escapes are decoded.

use std::cmp::Ordering;

use axum::http::StatusCode;
use palisade_core::error::ViolationCode;
use palisade_core::Error;
use serde::Serialize;

use super::error::ZStackError;
use super::gson::{Node, Obj};

/// ZStack's condition operators, in the order it looks for them.
const OPERATORS: [&str; 10] = ["!=", ">=", "<=", "!?=", "!~=", "~=", "?=", "=", ">", "<"];

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub op: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub conditions: Vec<Condition>,
    pub limit: usize,
    pub start: usize,
    pub count: bool,
    pub reply_with_count: bool,
    /// Field and whether descending.
    pub sort: Option<(String, bool)>,
    pub fields: Option<Vec<String>>,
}

fn front(text: String) -> ZStackError {
    ZStackError::Front(StatusCode::BAD_REQUEST, text)
}

/// Decodes `%XX` escapes; `+` stays a plus sign.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string's parameters in order, decoded.
pub fn params(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ZStackError> {
        let mut query = Query {
            conditions: Vec::new(),
            limit: 1000,
            start: 0,
            count: false,
            reply_with_count: false,
            sort: None,
            fields: None,
        };
        let integer = |name: &str, value: &str| {
            value
                .parse::<usize>()
                .map_err(|_| front(format!("Invalid query parameter. '{name}' must be an integer")))
        };
        let boolean = |value: &str| value.eq_ignore_ascii_case("true");
        for (key, value) in params(raw) {
            match key.as_str() {
                // ZStack tests `"q".startsWith(name)`: `q` and the empty name are conditions.
                "q" | "" => query.conditions.push(condition(&value)?),
                "limit" => query.limit = integer("limit", &value)?,
                "start" => query.start = integer("start", &value)?,
                "count" => query.count = boolean(&value),
                "replyWithCount" => query.reply_with_count = boolean(&value),
                "sort" => {
                    let (field, descending) = match value.as_bytes().first() {
                        Some(b'-') => (&value[1..], true),
                        Some(b'+') => (&value[1..], false),
                        _ => (value.as_str(), false),
                    };
                    query.sort = Some((field.to_owned(), descending));
                }
                "fields" => {
                    query.fields = Some(
                        value.split(',').map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect(),
                    )
                }
                _ => {}
            }
        }
        Ok(query)
    }

    /// Every field the query names must be one of `known` (dotted names: their first part).
    pub fn check_fields(&self, known: &[&str]) -> Result<(), Error> {
        let named = self
            .conditions
            .iter()
            .map(|c| c.field.as_str())
            .chain(self.sort.iter().map(|(f, _)| f.as_str()))
            .chain(self.fields.iter().flatten().map(String::as_str));
        for field in named {
            let head = field.split('.').next().unwrap_or(field);
            if !known.contains(&head) {
                return Err(Error::invalid(
                    "",
                    ViolationCode::InvalidValue,
                    format!("condition name[{field}] is invalid, no such field on inventory"),
                ));
            }
        }
        Ok(())
    }

    /// The answer to this query over `all`: `{"inventories": [...], "total"?, "schema"}`, or
    /// `{"total": n}` for `count=true`. `schema` names each inventory's class.
    pub fn answer(
        &self,
        all: Vec<Obj>,
        schema: impl Fn(usize, &Obj) -> Vec<(String, &'static str)>,
    ) -> String {
        let mut matching: Vec<Obj> =
            all.into_iter().filter(|o| self.conditions.iter().all(|c| c.matches(o))).collect();
        let total = matching.len();
        if self.count {
            return serde_json::json!({ "total": total }).to_string();
        }
        if let Some((field, descending)) = &self.sort {
            matching.sort_by(|a, b| {
                let order = compare(a.get(field), b.get(field));
                if *descending {
                    order.reverse()
                } else {
                    order
                }
            });
        }
        let page: Vec<Obj> = matching
            .into_iter()
            .skip(self.start)
            .take(self.limit)
            .map(|o| match &self.fields {
                Some(fields) => o.only(fields),
                None => o,
            })
            .collect();
        let classes = Schema(page.iter().enumerate().flat_map(|(i, o)| schema(i, o)).collect());
        #[derive(Serialize)]
        struct Answer {
            inventories: Vec<Obj>,
            #[serde(skip_serializing_if = "Option::is_none")]
            total: Option<usize>,
            schema: Schema,
        }
        let answer =
            Answer { inventories: page, total: self.reply_with_count.then_some(total), schema: classes };
        serde_json::to_string(&answer).unwrap_or_default()
    }
}

/// A query answer's `schema`: JSON paths to the Java classes of the objects there, in order.
struct Schema(Vec<(String, &'static str)>);

impl Serialize for Schema {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (path, class) in &self.0 {
            map.serialize_entry(path, class)?;
        }
        map.end()
    }
}

fn condition(text: &str) -> Result<Condition, ZStackError> {
    for suffix in [" is null", " not null"] {
        if let Some(field) = text.strip_suffix(suffix) {
            let op = if suffix == " is null" { "is null" } else { "not null" };
            return Ok(Condition { field: field.to_owned(), op, value: String::new() });
        }
    }
    for op in OPERATORS {
        if let Some((field, value)) = text.split_once(op) {
            return Ok(Condition { field: field.to_owned(), op, value: value.to_owned() });
        }
    }
    Err(front(format!(
        "condition[{text}] doesn't contain any query operator. Valid operators are [{}, is null, not null]",
        OPERATORS.join(", ")
    )))
}

/// The values a (possibly dotted) field has in `obj`: one, or one per nested object.
fn values<'a>(obj: &'a Obj, field: &str) -> Vec<&'a Node> {
    let (head, rest) = field.split_once('.').map_or((field, None), |(h, r)| (h, Some(r)));
    match (obj.get(head), rest) {
        (None, _) => Vec::new(),
        (Some(node), None) => vec![node],
        (Some(Node::Obj(inner)), Some(rest)) => values(inner, rest),
        (Some(Node::List(items)), Some(rest)) => items
            .iter()
            .flat_map(|item| match item {
                Node::Obj(inner) => values(inner, rest),
                _ => Vec::new(),
            })
            .collect(),
        (Some(_), Some(_)) => Vec::new(),
    }
}

fn text(node: &Node) -> String {
    match node {
        Node::Str(s) => s.clone(),
        Node::Int(n) => n.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::List(_) | Node::Obj(_) => String::new(),
    }
}

/// SQL `LIKE`: `%` any run, `_` one character.
fn like(value: &str, pattern: &str) -> bool {
    fn go(v: &[char], p: &[char]) -> bool {
        match p.first() {
            None => v.is_empty(),
            Some('%') => (0..=v.len()).any(|i| go(&v[i..], &p[1..])),
            Some('_') => !v.is_empty() && go(&v[1..], &p[1..]),
            Some(c) => v.first() == Some(c) && go(&v[1..], &p[1..]),
        }
    }
    let (v, p): (Vec<char>, Vec<char>) = (value.chars().collect(), pattern.chars().collect());
    go(&v, &p)
}

/// Orders two values: integers as numbers, Gson dates as instants, else as text.
fn compare(a: Option<&Node>, b: Option<&Node>) -> Ordering {
    match (a, b) {
        (Some(Node::Int(x)), Some(Node::Int(y))) => x.cmp(y),
        (Some(x), Some(y)) => match (super::gson::parse_date(&text(x)), super::gson::parse_date(&text(y))) {
            (Some(dx), Some(dy)) => dx.cmp(&dy),
            _ => text(x).cmp(&text(y)),
        },
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

impl Condition {
    pub fn matches(&self, obj: &Obj) -> bool {
        let found = values(obj, &self.field);
        match self.op {
            "is null" => found.is_empty(),
            "not null" => !found.is_empty(),
            "!=" => found.iter().all(|n| text(n) != self.value),
            "!?=" => found.iter().all(|n| !self.value.split(',').any(|v| v == text(n))),
            "!~=" => found.iter().all(|n| !like(&text(n), &self.value)),
            op => found.iter().any(|n| {
                let literal = Node::Str(self.value.clone());
                let wanted = match n {
                    Node::Int(_) => self.value.parse::<i64>().map(Node::Int).unwrap_or(literal),
                    _ => literal,
                };
                match op {
                    "=" => text(n) == self.value,
                    "?=" => self.value.split(',').any(|v| v == text(n)),
                    "~=" => like(&text(n), &self.value),
                    ">" => compare(Some(n), Some(&wanted)) == Ordering::Greater,
                    "<" => compare(Some(n), Some(&wanted)) == Ordering::Less,
                    ">=" => compare(Some(n), Some(&wanted)) != Ordering::Less,
                    "<=" => compare(Some(n), Some(&wanted)) != Ordering::Greater,
                    _ => false,
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, n: i64) -> Obj {
        Obj::default()
            .with("name", Node::from(name))
            .with("internalId", Node::Int(n))
            .with("rules", Node::List(vec![Node::Obj(Obj::default().with("protocol", Node::from("TCP")))]))
    }

    #[test]
    fn conditions_use_zstacks_operators_in_its_order() {
        let c = |t: &str| condition(t).unwrap();
        assert_eq!(c("name!=web").op, "!=");
        assert_eq!(c("name~=we%").op, "~=");
        assert_eq!(c("name!~=we%").op, "!~=");
        assert_eq!(c("uuid?=a,b").op, "?=");
        assert_eq!(c("uuid!?=a,b").op, "!?=");
        assert_eq!(c("internalId>=3").op, ">=");
        assert_eq!(c("description is null").op, "is null");
        assert_eq!(c("name=a=b").value, "a=b");
        assert!(condition("name").is_err());
        let web = obj("web", 3);
        assert!(c("name=web").matches(&web));
        assert!(c("name~=w_b").matches(&web));
        assert!(c("name~=%e%").matches(&web));
        assert!(!c("name!~=w%").matches(&web));
        assert!(c("internalId>2").matches(&web));
        assert!(!c("internalId<3").matches(&web));
        assert!(c("internalId<=3").matches(&web));
        assert!(c("rules.protocol=TCP").matches(&web));
        assert!(c("description is null").matches(&web));
        assert!(c("name not null").matches(&web));
        assert!(c("name?=db,web").matches(&web));
        assert!(!c("name!?=db,web").matches(&web));
    }

    #[test]
    fn parameters_are_read_as_the_sdks_send_them() {
        let q = Query::parse(Some("q=name=web&q=state=Enabled&limit=20&start=1&replyWithCount=true&sort=+name&fields=uuid,name&sessionId=x")).unwrap();
        assert_eq!(q.conditions.len(), 2);
        assert_eq!((q.limit, q.start, q.reply_with_count, q.count), (20, 1, true, false));
        assert_eq!(q.sort, Some(("name".into(), false)));
        assert_eq!(q.fields, Some(vec!["uuid".into(), "name".into()]));
        assert_eq!(Query::parse(Some("sort=-createDate")).unwrap().sort, Some(("createDate".into(), true)));
        assert_eq!(Query::parse(Some("sort=%2Bname")).unwrap().sort, Some(("name".into(), false)));
        assert_eq!(Query::parse(None).unwrap().limit, 1000);
        assert!(Query::parse(Some("limit=ten")).is_err());
        assert_eq!(params(Some("q=name%3Dmy%20web")), vec![("q".into(), "name=my web".into())]);
    }
}
