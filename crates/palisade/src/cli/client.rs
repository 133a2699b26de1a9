//! The operator CLI's side of the native API: one HTTP call, its outcome sorted into what a
//! script needs to tell apart (a refusal, a server failure, no server at all), and the walk
//! through every page of a listing.

use std::fmt;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Why a command failed; each has its own exit code, so that a script can tell "you may not"
/// or "no such thing" from "the server is broken" from "nothing answers there".
#[derive(Debug)]
pub enum Failure {
    /// The API refused the request (4xx): the body says why.
    Refused { status: StatusCode, body: Value },
    /// The API failed (5xx).
    Server { status: StatusCode, body: Value },
    /// Nothing answered at the URL, or not with HTTP.
    Unreachable(String),
    /// The command itself is wrong (a value the CLI could not use).
    Usage(String),
}

impl Failure {
    /// 3: refused; 4: the server failed; 5: unreachable; 2: usage (as clap's own).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Refused { .. } => 3,
            Failure::Server { .. } => 4,
            Failure::Unreachable(_) => 5,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = |body: &Value| {
            let error = &body["error"];
            match (error["code"].as_str(), error["message"].as_str()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                _ => body.to_string(),
            }
        };
        match self {
            Failure::Refused { status, body } => write!(f, "refused ({status}): {}", said(body)),
            Failure::Server { status, body } => write!(f, "the server failed ({status}): {}", said(body)),
            Failure::Unreachable(why) => write!(f, "unreachable: {why}"),
            Failure::Usage(why) => write!(f, "{why}"),
        }
    }
}

pub type Outcome<T> = std::result::Result<T, Failure>;

/// The native API at one base URL, with one bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// Items per page when walking a listing (the API's largest page).
const PER_PAGE: u32 = 200;

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), token, http: reqwest::Client::new() }
    }

    /// `method` on `/api/v1{path}`: the answer's JSON (`null` for an empty body).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Outcome<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| Failure::Unreachable(format!("{url}: {e}")))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Failure::Unreachable(format!("{url}: {e}")))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_client_error() {
            Err(Failure::Refused { status, body })
        } else if !status.is_success() {
            Err(Failure::Server { status, body })
        } else {
            Ok(body)
        }
    }

    pub async fn get(&self, path: &str) -> Outcome<Value> {
        self.call(Method::GET, path, None).await
    }

    /// Every item of a listing, page after page: `key` names the answer's list.
    pub async fn all(&self, path: &str, key: &str) -> Outcome<Vec<Value>> {
        let mut items = Vec::new();
        let joiner = if path.contains('?') { '&' } else { '?' };
        for page in 1u32.. {
            let answer = self.get(&format!("{path}{joiner}page={page}&per_page={PER_PAGE}")).await?;
            items.extend(answer[key].as_array().cloned().unwrap_or_default());
            let pages = answer["pagination"]["total_pages"].as_u64().unwrap_or(1);
            if u64::from(page) >= pages {
                break;
            }
        }
        Ok(items)
    }

    /// The id of the organization `name` names: its id, or its sub-domain (looked up among
    /// the organizations the token may list: the operator's).
    pub async fn organization(&self, name: &str) -> Outcome<String> {
        if uuid::Uuid::parse_str(name).is_ok() {
            return Ok(name.to_owned());
        }
        let found = self.all("/organizations", "organizations").await?;
        found
            .iter()
            .find(|o| o["sub_domain"].as_str() == Some(name))
            .and_then(|o| o["id"].as_str().map(str::to_owned))
            .ok_or_else(|| Failure::Refused {
                status: StatusCode::NOT_FOUND,
                body: serde_json::json!({"error": {"code": "not_found",
                    "message": format!("no organization has the id or sub-domain {name:?}")}}),
            })
    }
}
