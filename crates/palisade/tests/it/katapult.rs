//! The Katapult core/v1 face over HTTP: the founding document's IP creation, the recorded
//! behaviours of the reference, routing and argument forms, errors, encoding, rate limits.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

use crate::support::{TestApp, OPERATOR};

/// The fixture the recordings assume: organization `terraform-acc-test`, data center
/// `uk-lon-01`, default network `uk-lon-01-public` with the recorded prefixes.
struct World {
    app: TestApp,
    org: String,
    token: String,
}

async fn world_with(app: TestApp, scopes: &[&str]) -> World {
    let org = app.org("terraform-acc-test").await;
    let dc = app
        .post(
            "/api/v1/data_centers",
            OPERATOR,
            json!({"name": "London", "permalink": "uk-lon-01", "country": {"name": "United Kingdom", "iso_code2": "GB",
                "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false}}),
        )
        .await;
    let net = app
        .post(
            "/api/v1/networks",
            OPERATOR,
            json!({"name": "Public Network", "permalink": "uk-lon-01-public", "data_center_id": dc.body["data_center"]["id"],
                "prefixes": ["185.44.252.0/22", "2a03:2800:500::/48"], "reserved": ["185.44.252.1"], "default": true}),
        )
        .await;
    assert_eq!(net.status, StatusCode::CREATED, "{}", net.body);
    let (_, token) = app.token(&org, scopes).await;
    World { app, org, token }
}

async fn world() -> World {
    world_with(TestApp::spawn().await, &["ip_addresses", "organizations:read", "virtual_machines"]).await
}

/// Raw request: status, headers, body text.
async fn call(
    w: &World,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    call_as(w, method, path, body, Some(&w.token)).await
}

async fn call_as(
    w: &World,
    method: Method,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = w.app.client.request(method.clone(), format!("{}/core/v1/{path}", w.app.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body.to_owned());
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    w.app.assert_audited(&method, &format!("/core/v1/{path}"), status, &headers).await;
    (status, headers, res.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Replaces Katapult ids (`xxx_<22 base62>`) with `xxx_ID` so whole bodies compare.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let prefix = ["org_", "netw_", "loc_", "ctry_", "ip_", "vm_", "sbnt_"].iter().find(|p| {
            rest.starts_with(**p)
                && rest.len() >= p.len() + 22
                && rest[p.len()..p.len() + 22].bytes().all(|b| b.is_ascii_alphanumeric())
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        });
        match prefix {
            Some(p) => {
                out.push_str(p);
                out.push_str("ID");
                i += p.len() + 22;
            }
            None => {
                let ch = rest.chars().next().unwrap_or_default();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

const ERROR_VALIDATION: &str =
    "A validation error occurred with the object that was being created/updated/deleted";

#[tokio::test]
async fn the_founding_create_ip_address_request() {
    let w = world().await;
    // Seed 001 / cassette v6provider/IP_vip: the `next` client's request, byte for byte.
    let body = r#"{"label":"tf-acc-test-vip-7p5ZgFJZ9vI0","network":{"permalink":"uk-lon-01-public"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv4","vip":true}"#;
    let (status, headers, text) =
        call(&w, Method::POST, "organizations/organization/ip_addresses", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        normalise(&text),
        r#"{"ip_address":{"id":"ip_ID","address":"185.44.252.2","reverse_dns":"185-44-252-2.rdns.example.net","vip":true,"label":"tf-acc-test-vip-7p5ZgFJZ9vI0","address_with_mask":"185.44.252.2/22","network":{"id":"netw_ID","name":"Public Network","permalink":"uk-lon-01-public","default":true,"data_center":{"id":"loc_ID","name":"London","permalink":"uk-lon-01","country":{"id":"ctry_ID","name":"United Kingdom","iso_code2":"GB","iso_code3":"GBR","time_zone":"Europe/London","eu":false}}},"subnet":{"id":"sbnt_ID","address":"185.44.252.0","gateway":"185.44.252.1","mask":22,"billable":true,"version":4},"allocation_id":null,"allocation_type":null}}"#
    );
    assert_eq!(headers["content-type"], "application/json");
    let digest = sha2::Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    assert_eq!(headers["etag"], format!("W/\"{hex}\""));
    assert_eq!(headers["cache-control"], "max-age=0, private, must-revalidate");
    assert_eq!(headers["x-ratelimit-permitted"], "1000");
    assert_eq!(headers["x-ratelimit-remaining"], "999");
    assert!(headers.contains_key("x-request-id"));

    // The legacy client's order and the network by id, in the path form `_`.
    let ip = json_of(&text);
    let network_id = ip["ip_address"]["network"]["id"].as_str().unwrap();
    let legacy = format!(
        r#"{{"organization":{{"sub_domain":"terraform-acc-test"}},"network":{{"id":"{network_id}"}},"version":"ipv6"}}
"#
    );
    let (status, _, text) = call(&w, Method::POST, "organizations/_/ip_addresses", Some(&legacy)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v6 = json_of(&text);
    assert_eq!(v6["ip_address"]["vip"], false);
    assert_eq!(v6["ip_address"]["label"], Value::Null);
    assert!(v6["ip_address"]["address_with_mask"].as_str().unwrap().ends_with("/48"));
}

#[tokio::test]
async fn vip_without_label_and_other_ip_errors() {
    let w = world().await;
    for body in [
        r#"{"network":{"permalink":"uk-lon-01-public"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv4","vip":true}"#,
        r#"{"label":"","network":{"permalink":"uk-lon-01-public"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv4","vip":true}"#,
    ] {
        let (status, headers, text) =
            call(&w, Method::POST, "organizations/organization/ip_addresses", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            text,
            format!(
                r#"{{"error":{{"code":"validation_error","description":"{ERROR_VALIDATION}","detail":{{"errors":["Label can't be blank"]}}}}}}"#
            )
        );
        assert_eq!(headers["x-api-schema"], "json-error");
        assert_eq!(headers["cache-control"], "no-cache");
    }
    let (status, _, text) = call(
        &w,
        Method::POST,
        "organizations/organization/ip_addresses",
        Some(r#"{"network":{"permalink":"nowhere"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv4"}"#),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"network_not_found","description":"No network was found matching any of the criteria provided in the arguments","detail":{}}}"#
        )
    );
    let (status, _, text) = call(
        &w,
        Method::POST,
        "organizations/organization/ip_addresses",
        Some(r#"{"network":{"permalink":"uk-lon-01-public"},"organization":{"sub_domain":"terraform-acc-test"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = json_of(&text);
    assert_eq!(body["error"]["code"], "missing_required_argument");
    assert_eq!(body["error"]["description"], "The 'version' argument is required but has not been provided");
    let (status, _, text) = call(
        &w,
        Method::POST,
        "organizations/organization/ip_addresses",
        Some(r#"{"network":{"permalink":"uk-lon-01-public"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv5"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&text)["error"]["detail"]["issue"], "invalid_enum_value");
}

#[tokio::test]
async fn exhaustion_is_503_no_available_addresses() {
    let app = TestApp::spawn().await;
    let w = world_with(app, &["ip_addresses"]).await;
    let dc = w.app.get("/api/v1/data_centers", OPERATOR).await.body["data_centers"][0]["id"].clone();
    w.app
        .post("/api/v1/networks", OPERATOR, json!({"name": "Tiny", "permalink": "tiny", "data_center_id": dc, "prefixes": ["198.51.100.0/30"]}))
        .await;
    let body = r#"{"network":{"permalink":"tiny"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv4"}"#;
    for _ in 0..2 {
        assert_eq!(
            call(&w, Method::POST, "organizations/organization/ip_addresses", Some(body)).await.0,
            StatusCode::OK
        );
    }
    let (status, _, text) =
        call(&w, Method::POST, "organizations/organization/ip_addresses", Some(body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        text,
        r#"{"error":{"code":"no_available_addresses","description":"Our pool of addresses for that version seems to have run dry. If this issue continues, please contact support.","detail":{}}}"#
    );
}

#[tokio::test]
async fn path_segments_lookups_and_argument_sources() {
    let w = world().await;
    let create = r#"{"network":{"permalink":"uk-lon-01-public"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv4"}"#;
    let (_, _, text) = call(&w, Method::POST, "organizations/_/ip_addresses", Some(create)).await;
    let ip = json_of(&text);
    let ip_id = ip["ip_address"]["id"].as_str().unwrap().to_owned();
    let org_k = palisade_api::katapult::ids::render("org", uuid::Uuid::parse_str(&w.org).unwrap().as_bytes());

    // Every path form clients send, with the lookup in the query, the body, or the path.
    for path in [
        "organizations/_/ip_addresses?organization%5Bsub_domain%5D=terraform-acc-test".to_owned(),
        format!("organizations/organization/ip_addresses?organization[id]={org_k}"),
        "organizations/:organization/ip_addresses?organization[sub_domain]=terraform-acc-test".to_owned(),
        format!("organizations/{org_k}/ip_addresses"),
        format!("organizations/{org_k}/ip_addresses/"),
    ] {
        let (status, _, text) = call(&w, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        assert_eq!(json_of(&text)["ip_addresses"][0]["id"], ip_id.as_str(), "{path}");
    }
    // katapult-ruby sends Content-Type: application/json on GETs with no body.
    let (status, _, _) =
        call(&w, Method::GET, &format!("organizations/{org_k}/ip_addresses"), Some("")).await;
    assert_eq!(status, StatusCode::OK);
    // `_` without a lookup is the id `_`: no such organization.
    let (status, _, text) = call(&w, Method::GET, "organizations/_/ip_addresses", None).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "organization_not_found")
    );
    // Ambiguous and empty lookups.
    let (status, _, text) = call(
        &w,
        Method::GET,
        &format!("organizations/_/ip_addresses?organization[id]={org_k}&organization[sub_domain]=x"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&text)["error"]["detail"]["issue"], "ambiguous_lookup_values");
    let (status, _, text) =
        call(&w, Method::GET, "organizations/_/ip_addresses", Some(r#"{"organization":{}}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&text)["error"]["detail"]["issue"], "missing_lookup_value");
    // Invalid JSON, and the body wins over the query.
    let (status, _, text) = call(&w, Method::GET, "organizations/_/ip_addresses", Some("{nope")).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_json_body")
    );
    let (status, _, _) = call(
        &w,
        Method::GET,
        "organizations/_/ip_addresses?organization[sub_domain]=nobody",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Scalars coerced as Apia does: per_page from a digit string; a bad integer is invalid.
    let (_, _, text) =
        call(&w, Method::GET, &format!("organizations/{org_k}/ip_addresses?per_page=1&page=1"), None).await;
    assert_eq!(
        json_of(&text)["pagination"],
        json!({"current_page": 1, "total_pages": 1, "total": 1, "per_page": 1, "large_set": false})
    );
    let (status, _, text) =
        call(&w, Method::GET, &format!("organizations/{org_k}/ip_addresses?page=x"), None).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_argument")
    );
    // Unknown routes and wrong methods.
    let (status, _, text) = call(&w, Method::PUT, "ip_addresses/_", None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"route_not_found","description":"No route matches 'ip_addresses/_' for PUT","detail":{}}}"#
        )
    );
}

#[tokio::test]
async fn ip_address_get_update_release_unallocate() {
    let w = world().await;
    let create = r#"{"network":{"permalink":"uk-lon-01-public"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv4","vip":true,"label":"web & mail"}"#;
    let (_, _, text) = call(&w, Method::POST, "organizations/organization/ip_addresses", Some(create)).await;
    assert!(text.contains(r#""label":"web \u0026 mail""#), "Rails escaping: {text}");
    let ip = json_of(&text)["ip_address"].clone();
    let id = ip["id"].as_str().unwrap().to_owned();
    let address = ip["address"].as_str().unwrap().to_owned();

    // By id in the query, by address, by id in a DELETE body.
    let (status, _, text) =
        call(&w, Method::GET, &format!("ip_addresses/ip_address?ip_address%5Bid%5D={id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&text), json!({"ip_address": ip, "allocation": null}));
    let (_, _, text) =
        call(&w, Method::GET, &format!("ip_addresses/_?ip_address[address]={address}"), None).await;
    assert_eq!(json_of(&text)["ip_address"]["id"], id.as_str());

    // PATCH: top-level arguments; the label alone keeps vip; un-VIP clears the label.
    let (_, _, text) = call(
        &w,
        Method::PATCH,
        "ip_addresses/_",
        Some(&format!(r#"{{"ip_address":{{"id":"{id}"}},"label":"vip-oh-yes"}}"#)),
    )
    .await;
    let patched = json_of(&text);
    assert_eq!(
        (&patched["ip_address"]["vip"], &patched["ip_address"]["label"]),
        (&json!(true), &json!("vip-oh-yes"))
    );
    let (_, _, text) =
        call(&w, Method::PATCH, &format!("ip_addresses/_?ip_address%5Bid%5D={id}"), Some(r#"{"vip":false}"#))
            .await;
    let patched = json_of(&text);
    assert_eq!(
        (&patched["ip_address"]["vip"], &patched["ip_address"]["label"]),
        (&json!(false), &Value::Null)
    );
    let (_, _, text) = call(
        &w,
        Method::PATCH,
        "ip_addresses/ip_address",
        Some(&format!(r#"{{"ip_address":{{"id":"{id}"}},"reverse_dns":"mail.example.net"}}"#)),
    )
    .await;
    assert_eq!(json_of(&text)["ip_address"]["reverse_dns"], "mail.example.net");

    // Allocated to a server: GET shows it; unallocate detaches; unallocating again is 422.
    let server = w.app.post(&format!("/api/v1/organizations/{}/servers", w.org), OPERATOR, json!({"name": "web-1", "interfaces": [{"network_id": w.app.get("/api/v1/networks", OPERATOR).await.body["networks"][0]["id"]}]})).await;
    let server_id = server.body["server"]["id"].as_str().unwrap();
    let iface = server.body["server"]["interfaces"][0]["id"].as_str().unwrap();
    let native_ip = w.app.get(&format!("/api/v1/organizations/{}/ip_addresses", w.org), OPERATOR).await.body
        ["ip_addresses"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = w
        .app
        .post(
            &format!("/api/v1/organizations/{}/ip_addresses/{native_ip}/allocate", w.org),
            OPERATOR,
            json!({"server_id": server_id, "interface_id": iface}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let vm = palisade_api::katapult::ids::render("vm", uuid::Uuid::parse_str(server_id).unwrap().as_bytes());
    let (_, _, text) = call(&w, Method::GET, &format!("ip_addresses/{id}"), None).await;
    let got = json_of(&text);
    assert_eq!(got["ip_address"]["allocation_id"], vm.as_str());
    assert_eq!(got["ip_address"]["allocation_type"], "VirtualMachine");
    assert_eq!(got["allocation"], json!({"type": "VirtualMachine", "value": {"id": vm, "name": "web-1"}}));
    let (status, _, text) = call(&w, Method::POST, &format!("ip_addresses/{id}/unallocate"), None).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"));
    let (status, _, text) = call(
        &w,
        Method::POST,
        "ip_addresses/:ip_address/unallocate",
        Some(&format!(r#"{{"ip_address":{{"id":"{id}"}}}}"#)),
    )
    .await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "no_allocation")
    );

    // Listing with the allocated filter, then release with the lookup in a DELETE body.
    let (_, _, text) = call(
        &w,
        Method::GET,
        "organizations/_/ip_addresses?organization[sub_domain]=terraform-acc-test&allocated=true",
        None,
    )
    .await;
    assert_eq!(json_of(&text)["pagination"]["total"], 0);
    let (status, _, text) = call(
        &w,
        Method::DELETE,
        "ip_addresses/ip_address",
        Some(&format!(r#"{{"ip_address":{{"id":"{id}"}}}}"#)),
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"));
    let (status, _, text) =
        call(&w, Method::GET, &format!("ip_addresses/_?ip_address%5Bid%5D={id}"), None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"ip_address_not_found","description":"No IP addresses were found matching any of the criteria provided in the arguments","detail":{}}}"#
        )
    );
}

#[tokio::test]
async fn networks_data_centers_and_organizations() {
    let w = world().await;
    let (status, _, text) = call(
        &w,
        Method::GET,
        "data_centers/data_center/default_network?data_center%5Bpermalink%5D=uk-lon-01",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        normalise(&text),
        r#"{"network":{"id":"netw_ID","name":"Public Network","permalink":"uk-lon-01-public","default":true,"data_center":{"id":"loc_ID","name":"London","permalink":"uk-lon-01"}}}"#
    );
    let (_, _, text) = call(&w, Method::GET, "networks/_?network[permalink]=uk-lon-01-public", None).await;
    assert_eq!(
        normalise(&text),
        r#"{"network":{"id":"netw_ID","name":"Public Network","permalink":"uk-lon-01-public","default":true,"data_center":{"id":"loc_ID","name":"London","permalink":"uk-lon-01","country":{"id":"ctry_ID","name":"United Kingdom","iso_code2":"GB","iso_code3":"GBR","time_zone":"Europe/London","eu":false}}}}"#
    );
    let (status, _, text) =
        call(&w, Method::GET, "data_centers/_?data_center[permalink]=nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    let (status, _, text) =
        call(&w, Method::GET, "data_centers/_/default_network?data_center[permalink]=nowhere", None).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "data_center_not_found")
    );
    let (_, _, text) = call(
        &w,
        Method::GET,
        "organizations/_/available_networks?organization[sub_domain]=terraform-acc-test",
        None,
    )
    .await;
    assert_eq!(
        normalise(&text),
        r#"{"networks":[{"id":"netw_ID","name":"Public Network","permalink":"uk-lon-01-public","default":true,"data_center":{"id":"loc_ID","name":"London","permalink":"uk-lon-01"}}],"virtual_networks":[]}"#
    );

    let (_, _, text) = call(&w, Method::GET, "organizations", None).await;
    let list = json_of(&text);
    assert_eq!(list["organizations"].as_array().unwrap().len(), 1);
    // Key order as the vendor's schema: id, name, sub_domain, infrastructure_domain, created_at,
    // activated_at, suspended, managed.
    let created = list["organizations"][0]["created_at"].as_i64().unwrap();
    assert_eq!(
        normalise(&text),
        format!(
            r#"{{"organizations":[{{"id":"org_ID","name":"terraform-acc-test","sub_domain":"terraform-acc-test","infrastructure_domain":"terraform-acc-test.palisade.internal","created_at":{created},"activated_at":{created},"suspended":false,"managed":false}}]}}"#
        )
    );
    assert!(text.starts_with(r#"{"organizations":[{"id":"org_"#), "key order: {text}");
    let (_, _, text) =
        call(&w, Method::GET, "organizations/_?organization[sub_domain]=terraform-acc-test", None).await;
    assert_eq!(json_of(&text)["organization"]["sub_domain"], "terraform-acc-test");
}

#[tokio::test]
async fn authentication_errors_in_the_vendor_envelope() {
    let w = world().await;
    let path = "organizations/_/ip_addresses?organization[sub_domain]=terraform-acc-test";
    let (status, headers, text) = call_as(&w, Method::GET, path, None, None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":{"code":"missing_api_token","description":"No API token was provided in the Authorization header. Ensure a token is provided prefixed with Bearer","detail":{}}}"#
        )
    );
    assert_eq!(headers["x-ratelimit-permitted"], "1000");
    let (status, _, text) = call_as(&w, Method::GET, path, None, Some("nonsense")).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"invalid_api_token","description":"The API token provided was not valid (it may not exist or have expired)","detail":{"details":null}}}"#
        )
    );
    let (_, reader) = w.app.token(&w.org, &["ip_addresses:read"]).await;
    let (status, _, text) = call_as(
        &w,
        Method::POST,
        "organizations/_/ip_addresses",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"}}"#),
        Some(&reader),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"scope_not_granted","description":"The scope required for this endpoint has not been granted to the authenticating identity","detail":{"scopes":["ip_addresses"]}}}"#
        )
    );
    let limited = w
        .app
        .post(
            &format!("/api/v1/organizations/{}/api_tokens", w.org),
            OPERATOR,
            json!({"name": "t", "scopes": ["ip_addresses"], "allowed_networks": ["192.0.2.0/24"]}),
        )
        .await;
    let (status, _, text) =
        call_as(&w, Method::GET, path, None, Some(limited.body["secret"].as_str().unwrap())).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"unauthorized_network_for_api_token","description":"Network is not allowed to access the API with this API token","detail":{"ip_address":"127.0.0.1"}}}"#
        )
    );
    w.app.patch(&format!("/api/v1/organizations/{}", w.org), OPERATOR, json!({"status": "suspended"})).await;
    let (status, _, text) = call(&w, Method::GET, path, None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"organization_suspended","description":"An organization was found from the arguments provided but it was suspended","detail":{}}}"#
        )
    );
}

#[tokio::test]
async fn per_token_rate_limit() {
    let app = TestApp::spawn_tuned(|c| c.api.requests_per_minute = 3).await;
    let w = world_with(app, &["ip_addresses"]).await;
    let path = "organizations/_/ip_addresses?organization[sub_domain]=terraform-acc-test";
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let (status, headers, _) = call(&w, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-ratelimit-permitted"], "3");
        remaining.push(headers["x-ratelimit-remaining"].to_str().unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let (status, headers, text) = call(&w, Method::GET, path, None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"error":{"code":"rate_limit_reached","description":"You have reached the rate limit for this type of request","detail":{"total_permitted":3}}}"#
        )
    );
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    // One request every 20 s: Retry-After says how long until the next is allowed.
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "Retry-After: {retry}");
    // Another token has its own allowance.
    let (_, other) = w.app.token(&w.org, &["ip_addresses"]).await;
    assert_eq!(call_as(&w, Method::GET, path, None, Some(&other)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn organization_state_and_availability_errors() {
    let w = world().await;
    let path = "organizations/_/ip_addresses?organization[sub_domain]=terraform-acc-test";
    w.app
        .patch(&format!("/api/v1/organizations/{}", w.org), OPERATOR, json!({"status": "not_activated"}))
        .await;
    let (status, _, text) = call(&w, Method::GET, path, None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"organization_not_activated","description":"An organization was found from the arguments provided but it wasn't activated yet","detail":{}}}"#
        )
    );
    w.app
        .patch(
            &format!("/api/v1/organizations/{}", w.org),
            OPERATOR,
            json!({"status": "active", "resource_creation_restricted": true}),
        )
        .await;
    let create = r#"{"network":{"permalink":"uk-lon-01-public"},"organization":{"sub_domain":"terraform-acc-test"},"version":"ipv4"}"#;
    let (status, _, text) =
        call(&w, Method::POST, "organizations/organization/ip_addresses", Some(create)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&text)["error"]["code"], "resource_creation_restricted");
    assert_eq!(call(&w, Method::GET, path, None).await.0, StatusCode::OK, "reading is still allowed");
    // Another organization's token: the organization does not exist for it.
    let other = w.app.org("someone-else").await;
    let (_, theirs) = w.app.token(&other, &["ip_addresses"]).await;
    let (status, _, text) = call_as(&w, Method::GET, path, None, Some(&theirs)).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "organization_not_found")
    );
}

#[tokio::test]
async fn database_outage_is_503_service_unavailable() {
    let db = crate::support::TestDatabase::from_env().await;
    let app;
    match db.backend {
        crate::support::Backend::Sqlite => {
            let store = db.sqlite().await;
            app = TestApp::spawn_with(db, std::sync::Arc::new(store.clone())).await;
            let w = world_with(app, &["ip_addresses"]).await;
            store.pool().close().await;
            assert_unavailable(&w).await;
        }
        crate::support::Backend::Postgres => {
            let store = db.postgres().await;
            app = TestApp::spawn_with(db, std::sync::Arc::new(store.clone())).await;
            let w = world_with(app, &["ip_addresses"]).await;
            store.pool().close().await;
            assert_unavailable(&w).await;
        }
    }
}

async fn assert_unavailable(w: &World) {
    let (status, headers, text) = call(
        w,
        Method::GET,
        "organizations/_/ip_addresses?organization[sub_domain]=terraform-acc-test",
        None,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":{"code":"service_unavailable","description":"The service is currently unavailable, please try again later","detail":{}}}"#
        )
    );
    assert_eq!(headers["x-api-schema"], "json-error");
}

/// Issue 11's remote crash: a query parameter nested 8,000 brackets deep (a 24 KB URI) made the
/// argument parser recurse once per level and overflow a worker's 2 MiB stack, aborting the
/// process. Now it is a 400 in Apia's envelope, and the server keeps serving. (Multi-threaded
/// runtime: the server's connections run on worker threads with their real stack size.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_query_parameters_are_refused_not_a_crash() {
    let w = world().await;
    for (query, name, issue) in [
        (format!("a{}=1", "[a]".repeat(8_000)), "a", "nested more than 32 levels deep"),
        (format!("a{}=1", "[]".repeat(20_000)), "a", "nested more than 32 levels deep"),
        (vec!["p=1"; 5_000].join("&"), "query", "more than 4096 parameters"),
    ] {
        let (status, headers, body) =
            call(&w, Method::GET, &format!("networks/_?network[permalink]=uk-lon-01-public&{query}"), None)
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(headers["x-api-schema"], "json-error");
        assert_eq!(
            json_of(&body),
            json!({"error": {"code": "invalid_argument", "description": format!("The '{name}' argument is invalid"),
                "detail": {"path": [name], "index": null, "issue": "parse_error", "issue_description": issue, "errors": []}}})
        );
    }
    let at_limit = format!("x{}=1", "[a]".repeat(32));
    let (status, _, body) =
        call(&w, Method::GET, &format!("networks/_?network[permalink]=uk-lon-01-public&{at_limit}"), None)
            .await;
    assert_eq!(status, StatusCode::OK, "32 levels are fine: {body}");
}
