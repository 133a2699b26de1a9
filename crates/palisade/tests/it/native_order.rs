//! The native API's key order is its own, and its OpenAPI document states it: every answer lists
//! its keys in the order the served document lists the properties of the answer's schema, nested
//! objects and list items included (read from the raw texts with [`Ordered`]; a parsed
//! `serde_json::Value` sorts keys).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::ordered::Ordered;
use crate::support::{TestApp, OPERATOR};

/// The served OpenAPI document, parsed twice: to follow references, and to read key order.
pub(crate) struct Document {
    value: Value,
    ordered: Ordered,
}

impl Document {
    pub(crate) async fn served(app: &TestApp) -> Self {
        let text = app.client.get(format!("{}/api/v1/openapi.json", app.base)).send().await.unwrap();
        let text = text.text().await.unwrap();
        Self { value: serde_json::from_str(&text).unwrap(), ordered: Ordered::parse(&text) }
    }

    /// The schema of the answer `method path` documents for `status` (or for its class, `4XX`).
    #[track_caller]
    fn response(&self, method: &Method, template: &str, status: StatusCode) -> String {
        let responses = &self.value["paths"][template][method.as_str().to_ascii_lowercase()]["responses"];
        let class = format!("{}XX", status.as_u16() / 100);
        let response = [status.as_str(), class.as_str()]
            .into_iter()
            .map(|key| &responses[key])
            .find(|r| r.is_object())
            .unwrap_or_else(|| panic!("{method} {template} documents no {status}"));
        referenced(&response["content"]["application/json"]["schema"])
            .unwrap_or_else(|| panic!("{method} {template} {status}: no schema"))
    }

    /// Asserts that `answer`'s keys are the properties of `schema` in their documented order
    /// (absent optional ones skipped, none undocumented), and so on for every property that
    /// refers to an object schema.
    #[track_caller]
    pub(crate) fn check(&self, schema: &str, answer: &Ordered, at: &str) {
        let documented = self.ordered.at("components").at("schemas").at(schema).at("properties").keys();
        let keys = answer.keys();
        let expected: Vec<&str> = documented.iter().copied().filter(|k| keys.contains(k)).collect();
        assert_eq!(keys, expected, "{at}: keys of {schema} in the document's order {documented:?}");
        for key in keys {
            let property = &self.value["components"]["schemas"][schema]["properties"][key];
            let Some(inner) = referenced(property) else { continue };
            if !self.value["components"]["schemas"][&inner]["properties"].is_object() {
                continue;
            }
            let at = format!("{at}.{key}");
            match answer.at(key) {
                Ordered::Object(_) => self.check(&inner, answer.at(key), &at),
                Ordered::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check(&inner, item, &format!("{at}[{i}]"));
                    }
                }
                Ordered::Scalar => {}
            }
        }
    }
}

/// The schema a property or response refers to: directly, as `Option` (`oneOf` with `null`),
/// or as the items of an array.
fn referenced(schema: &Value) -> Option<String> {
    if let Some(name) = schema["$ref"].as_str() {
        return name.rsplit('/').next().map(str::to_owned);
    }
    let alternatives = ["oneOf", "anyOf", "allOf"].iter().filter_map(|k| schema[k].as_array()).flatten();
    alternatives.chain(schema.get("items")).find_map(referenced)
}

/// Calls the native API as the operator and checks the answer against the document; returns
/// the answer parsed.
struct Native {
    app: TestApp,
    doc: Document,
}

impl Native {
    async fn call(&self, method: Method, template: &str, path: &str, body: Option<Value>) -> Value {
        let mut req =
            self.app.client.request(method.clone(), format!("{}{path}", self.app.base)).bearer_auth(OPERATOR);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        let schema = self.doc.response(&method, template, status);
        self.doc.check(&schema, &Ordered::parse(&text), &format!("{method} {path}"));
        serde_json::from_str(&text).unwrap()
    }
}

#[tokio::test]
async fn native_answers_keep_the_documented_key_order() {
    let app = TestApp::spawn().await;
    let n = Native { doc: Document::served(&app).await, app };
    let (get, post, patch) = (Method::GET, Method::POST, Method::PATCH);

    let orgs = "/api/v1/organizations";
    let org = n.call(post.clone(), orgs, orgs, Some(json!({"name": "Acme", "sub_domain": "acme"}))).await;
    let org = org["organization"]["id"].as_str().unwrap().to_owned();
    let one = "/api/v1/organizations/{id}";
    let path = format!("{orgs}/{org}");
    n.call(get.clone(), one, &path, None).await;
    n.call(patch.clone(), one, &path, Some(json!({"name": "Acme Ltd"}))).await;
    n.call(get.clone(), orgs, orgs, None).await;

    let tokens = "/api/v1/organizations/{id}/api_tokens";
    let path = format!("{orgs}/{org}/api_tokens");
    n.call(post.clone(), tokens, &path, Some(json!({"name": "t", "scopes": ["security_groups"]}))).await;
    n.call(get.clone(), tokens, &path, None).await;
    let users = "/api/v1/organizations/{id}/users";
    let path = format!("{orgs}/{org}/users");
    n.call(
        post.clone(),
        users,
        &path,
        Some(json!({"username": "alice", "password": "correct horse battery"})),
    )
    .await;
    n.call(get.clone(), users, &path, None).await;

    let dcs = "/api/v1/data_centers";
    let dc = n
        .call(
            post.clone(),
            dcs,
            dcs,
            Some(json!({"name": "London", "permalink": "uk-lon-01", "country": {"name": "United Kingdom",
                "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false}})),
        )
        .await;
    let dc = dc["data_center"]["id"].as_str().unwrap().to_owned();
    n.call(get.clone(), "/api/v1/data_centers/{id}", &format!("{dcs}/{dc}"), None).await;
    n.call(
        patch.clone(),
        "/api/v1/data_centers/{id}",
        &format!("{dcs}/{dc}"),
        Some(json!({"name": "London"})),
    )
    .await;
    n.call(get.clone(), dcs, dcs, None).await;

    let nets = "/api/v1/networks";
    let net = n
        .call(
            post.clone(),
            nets,
            nets,
            Some(json!({"name": "Public", "permalink": "public", "data_center_id": dc,
                "prefixes": ["203.0.113.0/24"], "reserved": ["203.0.113.1"], "default": true})),
        )
        .await;
    let net = net["network"]["id"].as_str().unwrap().to_owned();
    n.call(get.clone(), "/api/v1/networks/{id}", &format!("{nets}/{net}"), None).await;
    n.call(patch.clone(), "/api/v1/networks/{id}", &format!("{nets}/{net}"), Some(json!({"name": "Public"})))
        .await;
    n.call(get.clone(), "/api/v1/scopes", "/api/v1/scopes", None).await;
    n.call(get.clone(), nets, nets, None).await;

    let servers = "/api/v1/organizations/{id}/servers";
    let path = format!("{orgs}/{org}/servers");
    let server = n
        .call(
            post.clone(),
            servers,
            &path,
            Some(json!({"name": "web", "interfaces": [{"network_id": net, "addresses": ["203.0.113.9"]}], "tags": ["prod"]})),
        )
        .await;
    let server_id = server["server"]["id"].as_str().unwrap().to_owned();
    let interface = server["server"]["interfaces"][0]["id"].as_str().unwrap().to_owned();
    n.call(
        get.clone(),
        "/api/v1/organizations/{id}/servers/{server_id}",
        &format!("{path}/{server_id}"),
        None,
    )
    .await;
    n.call(get.clone(), servers, &path, None).await;
    n.call(
        patch.clone(),
        "/api/v1/organizations/{id}/servers/{server_id}",
        &format!("{path}/{server_id}"),
        Some(json!({"name": "web", "tags": ["prod"]})),
    )
    .await;

    let ips = "/api/v1/organizations/{id}/ip_addresses";
    let path = format!("{orgs}/{org}/ip_addresses");
    let ip = n.call(post.clone(), ips, &path, Some(json!({"network_id": net, "version": "ipv4"}))).await;
    let ip = format!("{path}/{}", ip["ip_address"]["id"].as_str().unwrap());
    let one = "/api/v1/organizations/{id}/ip_addresses/{ip_id}";
    n.call(get.clone(), one, &ip, None).await;
    n.call(patch, one, &ip, Some(json!({"label": "web"}))).await;
    let allocation = json!({"server_id": server_id, "interface_id": interface});
    n.call(post.clone(), &format!("{one}/allocate"), &format!("{ip}/allocate"), Some(allocation)).await;
    n.call(post, &format!("{one}/unallocate"), &format!("{ip}/unallocate"), None).await;
    n.call(get, ips, &path, None).await;
}
