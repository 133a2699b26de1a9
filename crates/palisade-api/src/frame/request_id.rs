//! Request ids: a fresh random UUID per response, never derived from the request, so it
//! identifies one answer in a client's report and reveals nothing. Katapult and Defined send it
//! as `X-Request-ID` on every response; Hostway puts one in each fault as `errorid`.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;

const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A new request id.
pub fn fresh() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Sets `X-Request-ID` to a new id (replacing one set earlier: a response has one id).
pub fn stamp(headers: &mut HeaderMap) {
    if let Ok(value) = HeaderValue::from_str(&fresh()) {
        headers.insert(HEADER, value);
    }
}

/// [`stamp`] as a response mapper (`axum::middleware::map_response`).
pub async fn stamped(mut response: Response) -> Response {
    stamp(response.headers_mut());
    response
}
