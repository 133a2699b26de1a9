//! The rules of the native API's validated strings, as OpenAPI schemas.
//!
//! The core validates by hand-written checks; clients (and schemathesis, which CI runs against
//! the document) only see the document. Each type here documents one of those checks as a
//! JSON Schema (`pattern`, lengths, an enum), and request fields refer to it with
//! `#[schema(value_type = …)]`, so a value the document allows is a value the server accepts.
//! The patterns are written for ECMA-262, Python and Rust's regex syntax alike; the tests below
//! generate strings from them and feed them to the core's validators.

use std::borrow::Cow;

use palisade_core::service::NAME_MAX;
use palisade_core::Scope;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// What `Violations::text` accepts: no control characters, no whitespace at either end.
pub const TEXT_PATTERN: &str = r"^[^\s\x00-\x1F\x7F-\x9F](?:[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F])?$";
/// What `Violations::slug` accepts (with at most [`SLUG_MAX`] characters).
pub const SLUG_PATTERN: &str = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$";
pub const SLUG_MAX: usize = 63;
/// Usernames: letters, digits and `. _ @ -`, 1 to 64 characters.
pub const USERNAME_PATTERN: &str = r"^[A-Za-z0-9._@-]+$";
/// A DNS name: dot-separated labels of letters, digits and inner hyphens, at most 253
/// characters, an optional final dot.
pub const DNS_NAME_PATTERN: &str =
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$";

/// A string schema with a description, a pattern and lengths.
fn string(description: &str, pattern: Option<&str>, min: Option<usize>, max: Option<usize>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .min_length(min)
        .max_length(max)
        .into()
}

macro_rules! string_schema {
    ($(#[$doc:meta])* $name:ident, $description:expr, $pattern:expr, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string($description, $pattern, $min, $max)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

string_schema!(
    /// A display name.
    Name,
    "A name: 1 to 255 characters, no control characters, no whitespace at either end.",
    Some(TEXT_PATTERN),
    Some(1),
    Some(NAME_MAX)
);
string_schema!(
    /// A DNS-label-like handle.
    Slug,
    "1 to 63 lower-case letters, digits or hyphens, not starting or ending with a hyphen.",
    Some(SLUG_PATTERN),
    Some(1),
    Some(SLUG_MAX)
);
string_schema!(
    /// A user's login name.
    Username,
    "1 to 64 letters, digits or `. _ @ -`.",
    Some(USERNAME_PATTERN),
    Some(1),
    Some(64)
);
string_schema!(
    /// A password, kept only as an Argon2id hash.
    Password,
    "8 to 1024 characters; stored only as an Argon2id hash.",
    None,
    Some(8),
    Some(1024)
);
string_schema!(
    /// ISO 3166-1 alpha-2.
    IsoCode2,
    "Two upper-case letters (ISO 3166-1 alpha-2).",
    Some(r"^[A-Z]{2}$"),
    Some(2),
    Some(2)
);
string_schema!(
    /// ISO 3166-1 alpha-3.
    IsoCode3,
    "Three upper-case letters (ISO 3166-1 alpha-3).",
    Some(r"^[A-Z]{3}$"),
    Some(3),
    Some(3)
);
string_schema!(
    /// An IANA time zone name.
    TimeZone,
    "An IANA time zone name such as `Europe/London`: letters, digits and `/ _ + -`.",
    Some(r"^[A-Za-z0-9/_+-]+$"),
    Some(1),
    Some(64)
);
string_schema!(
    /// A DNS name.
    DnsName,
    "A DNS name such as `host.example.net`.",
    Some(DNS_NAME_PATTERN),
    Some(1),
    Some(253)
);

/// One scope name from the catalogue.
#[derive(Debug)]
pub struct ScopeName;

impl PartialSchema for ScopeName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A scope name from the catalogue (every face's vendor scopes)."))
            .enum_values(Some(Scope::grantable().map(|s| s.as_str())))
            .into()
    }
}

impl ToSchema for ScopeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ScopeName")
    }
}

/// A request's scopes: catalogue names, each at most once (inline: `schema_with` fields do not
/// register components).
pub fn scope_list() -> ArrayBuilder {
    ArrayBuilder::new().items(ScopeName::schema()).unique_items(true)
}

/// A server's tags: at most 64 names, each at most once.
pub fn tag_list() -> ArrayBuilder {
    ArrayBuilder::new().items(Name::schema()).max_items(Some(MAX_TAGS)).unique_items(true)
}

/// One end of a flow to check: an IPv4 or IPv6 address, or a server id.
pub fn flow_endpoint() -> utoipa::openapi::schema::OneOfBuilder {
    let format = |f: utoipa::openapi::KnownFormat, description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(f)))
            .description(Some(description))
    };
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(format(utoipa::openapi::KnownFormat::Ipv4, "An IPv4 address"))
        .item(format(utoipa::openapi::KnownFormat::Ipv6, "An IPv6 address"))
        .item(format(utoipa::openapi::KnownFormat::Uuid, "A server id: its first address"))
}

/// `palisade_core`'s limit on a server's tags.
pub const MAX_TAGS: usize = 64;

#[cfg(test)]
mod tests {
    use palisade_core::validate::Violations;
    use proptest::prelude::*;
    use proptest::string::string_regex;

    use super::*;

    /// A pattern without its anchors, for proptest's generator (which matches whole strings).
    fn generator(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
        string_regex(pattern.trim_start_matches('^').trim_end_matches('$')).unwrap()
    }

    proptest! {
        #[test]
        fn documented_names_are_accepted(name in generator(TEXT_PATTERN)) {
            prop_assume!((1..=NAME_MAX).contains(&name.chars().count()));
            let mut v = Violations::new();
            v.text("name", &name, 1, NAME_MAX);
            prop_assert!(v.is_empty(), "{name:?} matches the documented pattern but is refused");
        }

        #[test]
        fn documented_slugs_are_accepted(slug in generator(SLUG_PATTERN)) {
            prop_assume!(slug.chars().count() <= SLUG_MAX);
            let mut v = Violations::new();
            v.slug("sub_domain", &slug);
            prop_assert!(v.is_empty(), "{slug:?} matches the documented pattern but is refused");
        }
    }

    #[test]
    fn the_scope_enum_is_the_catalogue() {
        let schema = serde_json::to_value(ScopeName::schema()).unwrap();
        let listed: Vec<&str> =
            schema["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(listed.len(), Scope::grantable().count());
        assert!(listed.iter().all(|name| Scope::parse(name).is_some()));
    }
}
