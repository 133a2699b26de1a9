//! Defined's cursor paging, shared by every list (roles, networks, hosts): `cursor` (opaque to
//! clients; here it carries the page number), `pageSize` (default 25, at most 500) and
//! `includeCounts`, answered with the list metadata clients loop on (`hasNextPage`,
//! `nextCursor`). Query booleans are read case-insensitively (Python clients send `True`).

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use palisade_core::error::BadRequest;
use palisade_core::{Error, Page, PageRequest};
use serde::{Deserialize, Serialize};

use super::error::DefinedError;

type Result<T> = std::result::Result<T, DefinedError>;

/// A query string, or why it could not be read (reported once the caller is authorized).
pub(super) type QueryResult<T> = std::result::Result<Query<T>, QueryRejection>;

/// `?cursor=&pageSize=&includeCounts=` on every list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
    #[serde(rename = "includeCounts")]
    include_counts: Option<String>,
}

/// Cursors are opaque to clients; here they carry the page number.
fn cursor_for(page: u32) -> String {
    data_encoding::BASE64URL_NOPAD.encode(format!("page:{page}").as_bytes())
}

fn page_of(cursor: &str) -> Option<u32> {
    let bytes = data_encoding::BASE64URL_NOPAD.decode(cursor.as_bytes()).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("page:")?.parse().ok().filter(|p| *p >= 1)
}

pub(super) fn bad_parameter(name: &str, message: &str) -> DefinedError {
    DefinedError(Error::BadRequest(BadRequest::MalformedParameter {
        name: name.into(),
        message: message.into(),
    }))
}

/// The page a list request asks for, and whether it wants counts.
pub(super) fn list_request(query: QueryResult<ListQuery>) -> Result<(PageRequest, bool)> {
    let Query(q) =
        query.map_err(|e| bad_parameter("query", &crate::frame::json_words::json_words(&e.body_text())))?;
    let per_page = match q.page_size.as_deref() {
        None => 25,
        Some(n) => n
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| bad_parameter("pageSize", "must be between 1 and 500"))?,
    };
    let page = match q.cursor.as_deref() {
        None | Some("") => 1,
        Some(c) => page_of(c).ok_or_else(|| bad_parameter("cursor", "is not a cursor this server issued"))?,
    };
    let counts = query_bool("includeCounts", q.include_counts.as_deref())?.unwrap_or(false);
    Ok((PageRequest { page, per_page }, counts))
}

/// A boolean query parameter, read case-insensitively: Python clients send `True`/`False`.
pub(super) fn query_bool(name: &str, value: Option<&str>) -> Result<Option<bool>> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("false") | Some("0") => Ok(Some(false)),
        Some("true") | Some("1") => Ok(Some(true)),
        Some(_) => Err(bad_parameter(name, "must be true or false")),
    }
}

/// Defined's list metadata, in the documented order: counts on request, then the cursors.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    total_count: Option<u64>,
    has_next_page: bool,
    has_prev_page: bool,
    next_cursor: Option<String>,
    prev_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<PageCounts>,
}

/// Which items of the whole list this page holds.
#[derive(Debug, Serialize)]
struct PageCounts {
    count: usize,
    start: u64,
}

/// The metadata of a page of results.
pub(super) fn list_metadata<T>(result: &Page<T>, counts: bool) -> ListMetadata {
    let (page, per_page) = (result.request.page, result.request.per_page);
    let has_next = u64::from(page) * u64::from(per_page) < result.total;
    let has_prev = page > 1;
    ListMetadata {
        total_count: counts.then_some(result.total),
        has_next_page: has_next,
        has_prev_page: has_prev,
        next_cursor: has_next.then(|| cursor_for(page + 1)),
        prev_cursor: has_prev.then(|| cursor_for(page - 1)),
        page: counts.then(|| PageCounts {
            count: result.items.len(),
            start: u64::from(page - 1) * u64::from(per_page),
        }),
    }
}
