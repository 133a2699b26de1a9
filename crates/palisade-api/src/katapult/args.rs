//! Katapult (Apia) arguments: merged from the query string (Rack bracket syntax) and the JSON
//! body (body wins), with the path's wildcard segments as a fallback for lookups.
//!
//! Every failure becomes a core [`Error::BadRequest`] that the Katapult renderer turns into
//! Apia's `invalid_argument`, `missing_required_argument` or `invalid_json_body`.
//!
//! The query string is client input parsed into a tree, so its shape is bounded before anything
//! is built: at most [`MAX_DEPTH`] bracket levels per parameter and [`MAX_PARAMS`] parameters
//! (Rack's own defaults, which Apia runs on). Without the depth bound, `a[a][a]…=1` with
//! thousands of levels recursed once per level and overflowed a worker's stack, aborting the
//! whole process. JSON bodies are bounded by serde_json's 128-level recursion limit, so
//! [`deep_merge`] is bounded by the larger of the two.

use std::collections::HashMap;

use palisade_core::error::BadRequest;
use palisade_core::Error;
use serde_json::{Map, Value};

/// The merged arguments of one request.
#[derive(Debug, Default)]
pub struct Args {
    merged: Map<String, Value>,
    /// Wildcard path segments by argument name (`organization` → `_`).
    segments: HashMap<&'static str, String>,
}

/// Deepest bracket nesting accepted in one query parameter (`a[b][c]` is 2); Rack's default.
pub const MAX_DEPTH: usize = 32;

/// Most query parameters accepted in one request; Rack's default `params_limit`.
pub const MAX_PARAMS: usize = 4096;

/// One `{"key", "value"}` pair.
pub type KeyValue = (String, Option<String>);

/// A lookup object reduced to its one key and value (`{"sub_domain": "acme"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub key: &'static str,
    pub value: String,
}

fn invalid(path: &[&str], issue: &'static str, message: Option<&str>) -> Error {
    Error::BadRequest(BadRequest::InvalidArgument {
        path: path.iter().map(|s| (*s).to_owned()).collect(),
        index: None,
        issue,
        message: message.map(str::to_owned),
    })
}

fn missing(path: &[&str]) -> Error {
    Error::BadRequest(BadRequest::MissingArgument { path: path.iter().map(|s| (*s).to_owned()).collect() })
}

impl Args {
    /// Builds the arguments of a request. The body is read only when the content type is JSON;
    /// an empty JSON body is `{}` and a non-object JSON body is ignored, as Apia does.
    pub fn parse(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
        segments: HashMap<&'static str, String>,
    ) -> Result<Self, Error> {
        let mut merged = Map::new();
        if let Some(query) = query {
            for (count, (key, value)) in form_urlencoded::parse(query.as_bytes()).enumerate() {
                if count == MAX_PARAMS {
                    return Err(malformed_query("query", format!("more than {MAX_PARAMS} parameters")));
                }
                insert_param(&mut merged, &key, Value::String(value.into_owned()))?;
            }
        }
        let is_json = content_type
            .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
        if is_json && !body.iter().all(u8::is_ascii_whitespace) {
            let parsed: Value = serde_json::from_slice(body).map_err(|e| {
                Error::BadRequest(BadRequest::MalformedBody { path: None, message: e.to_string() })
            })?;
            if let Value::Object(object) = parsed {
                deep_merge(&mut merged, object);
            }
        }
        Ok(Self { merged, segments })
    }

    /// The raw value at `path`, treating `null` as absent.
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut value = self.merged.get(*first)?;
        for key in rest {
            value = value.as_object()?.get(*key)?;
        }
        (!value.is_null()).then_some(value)
    }

    /// Whether `path` was sent at all, `null` included.
    pub fn present(&self, path: &[&str]) -> bool {
        let Some((first, rest)) = path.split_first() else { return false };
        let mut value = match self.merged.get(*first) {
            Some(v) => v,
            None => return false,
        };
        for key in rest {
            match value.as_object().and_then(|o| o.get(*key)) {
                Some(v) => value = v,
                None => return false,
            }
        }
        true
    }

    /// An optional string argument. Only strings are strings (Apia's `invalid_scalar`).
    pub fn string(&self, path: &[&str]) -> Result<Option<String>, Error> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(path, "invalid_scalar", Some("Value must be a string"))),
        }
    }

    /// An optional boolean: `true/false`, `1/0`, and the strings `true/false/yes/no/1/0`.
    pub fn boolean(&self, path: &[&str]) -> Result<Option<bool>, Error> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
            Some(Value::String(s)) => match s.as_str() {
                "true" | "yes" | "1" => Ok(Some(true)),
                "false" | "no" | "0" => Ok(Some(false)),
                _ => Err(invalid(path, "invalid_scalar", Some("Value must be a boolean"))),
            },
            Some(_) => Err(invalid(path, "invalid_scalar", Some("Value must be a boolean"))),
        }
    }

    /// An optional integer: a JSON integer or a string of digits.
    pub fn integer(&self, path: &[&str]) -> Result<Option<i64>, Error> {
        let bad = || invalid(path, "invalid_scalar", Some("Value must be an integer"));
        match self.get(path) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                s.parse().map(Some).map_err(|_| bad())
            }
            Some(_) => Err(bad()),
        }
    }

    /// A required enum value from `allowed`.
    pub fn enumeration(
        &self,
        path: &[&str],
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, Error> {
        match self.string(path)? {
            None => Ok(None),
            Some(s) => allowed.iter().find(|a| **a == s).map(|a| Some(*a)).ok_or_else(|| {
                invalid(path, "invalid_enum_value", Some(&format!("Must be one of {}", allowed.join(", "))))
            }),
        }
    }

    /// An optional array of strings.
    pub fn strings(&self, path: &[&str]) -> Result<Option<Vec<String>>, Error> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(path, "invalid_scalar", Some("Value must be a string")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(path, "array_expected", None)),
        }
    }

    /// `[{"key": ..., "value": ...}]` (Katapult's `KeyValue[]`); `key` is required.
    pub fn key_values(&self, name: &str) -> Result<Option<Vec<KeyValue>>, Error> {
        match self.get(&[name]) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let Value::Object(o) = item else {
                        return Err(invalid(&[name], "object_expected", None));
                    };
                    let key = match o.get("key") {
                        Some(Value::String(k)) => k.clone(),
                        None | Some(Value::Null) => return Err(missing(&[name, "key"])),
                        Some(_) => {
                            return Err(invalid(
                                &[name, "key"],
                                "invalid_scalar",
                                Some("Value must be a string"),
                            ))
                        }
                    };
                    let value = match o.get("value") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(v)) => Some(v.clone()),
                        Some(_) => {
                            return Err(invalid(
                                &[name, "value"],
                                "invalid_scalar",
                                Some("Value must be a string"),
                            ))
                        }
                    };
                    out.push((key, value));
                }
                Ok(Some(out))
            }
            Some(_) => Err(invalid(&[name], "array_expected", None)),
        }
    }

    /// A required object argument such as `properties`.
    pub fn require_object(&self, name: &str) -> Result<(), Error> {
        match self.get(&[name]) {
            None => Err(missing(&[name])),
            Some(Value::Object(_)) => Ok(()),
            Some(_) => Err(invalid(&[name], "object_expected", None)),
        }
    }

    pub fn require<T>(&self, path: &[&str], value: Option<T>) -> Result<T, Error> {
        value.ok_or_else(|| missing(path))
    }

    /// A lookup argument (`organization`, `network`, ...) with mutually exclusive `keys`; when
    /// absent from query and body, the path segment of the same name is used as
    /// `{"<first key>": segment}`.
    pub fn lookup(&self, name: &'static str, keys: &[&'static str]) -> Result<Option<Lookup>, Error> {
        if self.get(&[name]).is_none() {
            return Ok(self
                .segments
                .get(name)
                .map(|segment| Lookup { key: keys[0], value: segment.clone() }));
        }
        self.lookup_at(&[name], keys)
    }

    /// A lookup argument nested at `path` (`properties.group`), without a path fallback;
    /// `None` when absent or `null`.
    pub fn lookup_at(&self, path: &[&str], keys: &[&'static str]) -> Result<Option<Lookup>, Error> {
        let Some(value) = self.get(path) else { return Ok(None) };
        let Value::Object(object) = value else { return Err(invalid(path, "object_expected", None)) };
        let mut found = Vec::new();
        for key in keys {
            match object.get(*key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => found.push(Lookup { key, value: s.clone() }),
                Some(Value::Number(n)) => found.push(Lookup { key, value: n.to_string() }),
                Some(_) => {
                    let at: Vec<&str> = path.iter().copied().chain([*key]).collect();
                    return Err(invalid(&at, "invalid_scalar", Some("Value must be a string")));
                }
            }
        }
        match found.len() {
            0 => Err(invalid(
                path,
                "missing_lookup_value",
                Some(&format!("One of {} must be provided", keys.join(", "))),
            )),
            1 => Ok(found.pop()),
            _ => Err(invalid(
                path,
                "ambiguous_lookup_values",
                Some(&format!("Only one of {} may be provided", keys.join(", "))),
            )),
        }
    }

    pub fn require_lookup(&self, name: &'static str, keys: &[&'static str]) -> Result<Lookup, Error> {
        self.lookup(name, keys)?.ok_or_else(|| missing(&[name]))
    }

    /// `page` and `per_page` (Apia defaults 1 and 30; must be positive, at most 200).
    pub fn page(&self) -> Result<palisade_core::PageRequest, Error> {
        let page = self.integer(&["page"])?.unwrap_or(1);
        let per_page = self.integer(&["per_page"])?.unwrap_or(30);
        if page < 1 {
            return Err(invalid(&["page"], "validation_error", Some("Must be greater than zero")));
        }
        if !(1..=200).contains(&per_page) {
            return Err(invalid(&["per_page"], "validation_error", Some("Must be between 1 and 200")));
        }
        Ok(palisade_core::PageRequest {
            page: u32::try_from(page).unwrap_or(u32::MAX),
            per_page: u32::try_from(per_page).unwrap_or(200),
        })
    }
}

/// Deep-merges `from` into `into`: nested objects merge, anything else is replaced.
fn deep_merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => deep_merge(existing, incoming),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn malformed_query(name: &str, message: String) -> Error {
    // The name is client input of any length: quote only its beginning.
    let name: String = name.chars().take(64).collect();
    Error::BadRequest(BadRequest::MalformedParameter { name, message })
}

/// Rack's bracket syntax: `a[b]=1` → `{"a":{"b":"1"}}`, `a[]=1` → `{"a":["1"]}`,
/// `a[][k]=1&a[][v]=2` → `{"a":[{"k":"1","v":"2"}]}` (a new element starts when the key repeats).
/// More than [`MAX_DEPTH`] levels is refused before anything is built.
fn insert_param(params: &mut Map<String, Value>, name: &str, value: Value) -> Result<(), Error> {
    let (head, rest) = match name.find('[') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut keys = Vec::new();
    let mut tail = rest;
    while let Some(stripped) = tail.strip_prefix('[') {
        let Some(end) = stripped.find(']') else { break };
        if keys.len() == MAX_DEPTH {
            return Err(malformed_query(head, format!("nested more than {MAX_DEPTH} levels deep")));
        }
        keys.push(&stripped[..end]);
        tail = &stripped[end + 1..];
    }
    normalize(params, head, &keys, value);
    Ok(())
}

/// Places `value` under `name[keys…]`; recursion depth is `keys.len()`, at most [`MAX_DEPTH`].
fn normalize(params: &mut Map<String, Value>, name: &str, keys: &[&str], value: Value) {
    match keys.split_first() {
        None => {
            params.insert(name.to_owned(), value);
        }
        Some((&"", rest)) => {
            let entry = params.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            let Value::Array(items) = entry else { return };
            match rest.split_first() {
                None => items.push(value),
                Some((child, grand)) => {
                    let reuse =
                        matches!(items.last(), Some(Value::Object(last)) if !last.contains_key(*child));
                    if !reuse {
                        items.push(Value::Object(Map::new()));
                    }
                    if let Some(Value::Object(last)) = items.last_mut() {
                        normalize(last, child, grand, value);
                    }
                }
            }
        }
        Some((child, rest)) => {
            let entry = params.entry(name.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(map) = entry {
                normalize(map, child, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn args(query: &str, body: &str) -> Args {
        Args::parse(Some(query), Some("application/json"), body.as_bytes(), HashMap::new()).unwrap()
    }

    #[test]
    fn bracket_syntax_and_merge() {
        let a = args(
            "organization%5Bsub_domain%5D=acme&annotations[][key]=env&annotations[][value]=prod&annotations[][key]=team&page=2",
            r#"{"properties":{"name":"web"},"page":3}"#,
        );
        assert_eq!(a.get(&["organization", "sub_domain"]), Some(&json!("acme")));
        assert_eq!(a.get(&["annotations"]), Some(&json!([{"key": "env", "value": "prod"}, {"key": "team"}])));
        assert_eq!(a.integer(&["page"]).unwrap(), Some(3), "the body wins");
        assert_eq!(a.string(&["properties", "name"]).unwrap().as_deref(), Some("web"));
    }

    #[test]
    fn lookups() {
        let a = args("organization[id]=A", r#"{"organization":{"sub_domain":"B"}}"#);
        assert!(matches!(
            a.lookup("organization", &["id", "sub_domain"]),
            Err(Error::BadRequest(BadRequest::InvalidArgument { issue: "ambiguous_lookup_values", .. }))
        ));
        let a = args("", r#"{"organization":{"id":null,"sub_domain":"x"}}"#);
        assert_eq!(a.lookup("organization", &["id", "sub_domain"]).unwrap().unwrap().key, "sub_domain");
        let a = args("", r#"{"organization":{}}"#);
        assert!(matches!(
            a.lookup("organization", &["id", "sub_domain"]),
            Err(Error::BadRequest(BadRequest::InvalidArgument { issue: "missing_lookup_value", .. }))
        ));
        let segs = HashMap::from([("organization", "_".to_owned())]);
        let a = Args::parse(None, None, b"", segs).unwrap();
        assert_eq!(
            a.lookup("organization", &["id", "sub_domain"]).unwrap(),
            Some(Lookup { key: "id", value: "_".into() })
        );
    }

    fn depth(value: &Value) -> usize {
        match value {
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn parse_query(query: &str) -> Result<Args, Error> {
        Args::parse(Some(query), None, b"", HashMap::new())
    }

    #[test]
    fn nesting_and_parameter_count_are_bounded() {
        let at_limit = format!("a{}=1", "[a]".repeat(MAX_DEPTH));
        let a = parse_query(&at_limit).unwrap();
        assert_eq!(depth(a.get(&["a"]).unwrap()), MAX_DEPTH);
        for levels in [MAX_DEPTH + 1, 8_000, 100_000] {
            let deep = format!("a{}=1", "[a]".repeat(levels));
            assert!(matches!(
                parse_query(&deep),
                Err(Error::BadRequest(BadRequest::MalformedParameter { ref name, .. })) if name == "a"
            ));
        }
        let arrays = format!("a{}=1", "[]".repeat(10_000));
        assert!(parse_query(&arrays).is_err(), "array levels count too");
        let many = vec!["p=1"; MAX_PARAMS + 1].join("&");
        assert!(matches!(
            parse_query(&many),
            Err(Error::BadRequest(BadRequest::MalformedParameter { ref name, .. })) if name == "query"
        ));
        assert!(parse_query(&vec!["p=1"; MAX_PARAMS].join("&")).is_ok());
        let long_name = format!("{}{}", "n".repeat(10_000), "[a]".repeat(MAX_DEPTH + 1));
        let Err(Error::BadRequest(BadRequest::MalformedParameter { name, .. })) = parse_query(&long_name)
        else {
            panic!("expected a refusal")
        };
        assert_eq!(name.len(), 64, "only the beginning of a long name is quoted");
    }

    /// Query strings built from the characters the parser cares about.
    fn query_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just("[]".to_owned()),
            Just("[a]".to_owned()),
            Just("&".to_owned()),
            Just("=".to_owned()),
            Just("%5B".to_owned()),
            Just("%5D".to_owned()),
            Just("%".to_owned()),
            Just("+".to_owned()),
            "[a-c0-9_]{1,3}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..200).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        // The parser's fuzz target, run with the suite: any query string is parsed or refused
        // with a client error, never a panic, and what is built stays within the bounds.
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn any_query_is_parsed_or_refused(query in query_text(), extra_depth in 0usize..64) {
            let deepened = format!("{query}&x{}=1", "[k]".repeat(extra_depth));
            for q in [query.as_str(), deepened.as_str()] {
                match parse_query(q) {
                    Ok(args) => prop_assert!(args.merged.values().map(depth).max().unwrap_or(0) <= MAX_DEPTH),
                    Err(e) => {
                        let refused = matches!(e, Error::BadRequest(BadRequest::MalformedParameter { .. }));
                        prop_assert!(refused, "unexpected error {:?}", e);
                    }
                }
            }
        }
    }

    #[test]
    fn bodies_and_scalars() {
        assert!(
            Args::parse(None, Some("application/json"), b"", HashMap::new()).is_ok(),
            "empty JSON body is {{}}"
        );
        assert!(Args::parse(None, Some("application/json"), b"{nope", HashMap::new()).is_err());
        let a = Args::parse(None, Some("text/plain"), b"{nope", HashMap::new()).unwrap();
        assert!(a.get(&["nope"]).is_none(), "non-JSON bodies are not read");
        let a = args("vip=yes&n=42&bad=4x", r#"{"flag":0}"#);
        assert_eq!(a.boolean(&["vip"]).unwrap(), Some(true));
        assert_eq!(a.boolean(&["flag"]).unwrap(), Some(false));
        assert_eq!(a.integer(&["n"]).unwrap(), Some(42));
        assert!(a.integer(&["bad"]).is_err());
    }
}
