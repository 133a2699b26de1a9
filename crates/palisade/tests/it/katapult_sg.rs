//! Katapult security groups and rules over HTTP, with the founding document's request and the
//! recorded exchanges of the reference.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, OPERATOR};

struct World {
    app: TestApp,
    org: String,
    token: String,
}

async fn world(scopes: &[&str]) -> World {
    let app = TestApp::spawn().await;
    let org = app.org("terraform-acc-test").await;
    let (_, token) = app.token(&org, scopes).await;
    World { app, org, token }
}

async fn call(w: &World, method: Method, path: &str, body: Option<&str>) -> (StatusCode, String) {
    call_as(w, method, path, body, &w.token).await
}

async fn call_as(
    w: &World,
    method: Method,
    path: &str,
    body: Option<&str>,
    token: &str,
) -> (StatusCode, String) {
    let mut req = w.app.client.request(method, format!("{}/core/v1/{path}", w.app.base)).bearer_auth(token);
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body.to_owned());
    }
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// `sg_<22>` → `sg_ID` etc.
fn normalise(text: &str) -> String {
    let mut out = text.to_owned();
    for prefix in ["sgr_", "sg_", "vm_", "org_"] {
        let mut result = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(prefix) {
            let (before, after) = rest.split_at(i);
            result.push_str(before);
            let id_len = after[prefix.len()..].bytes().take_while(u8::is_ascii_alphanumeric).count();
            let boundary = before.bytes().last().is_none_or(|b| !b.is_ascii_alphanumeric() && b != b'_');
            if id_len == 22 && boundary {
                result.push_str(prefix);
                result.push_str("ID");
                rest = &after[prefix.len() + 22..];
            } else {
                result.push_str(prefix);
                rest = &after[prefix.len()..];
            }
        }
        result.push_str(rest);
        out = result;
    }
    out
}

const ALL: &[&str] = &["security_groups", "security_group", "virtual_machines"];

async fn create_group(w: &World, properties: Value) -> Value {
    let body =
        json!({"organization": {"sub_domain": "terraform-acc-test"}, "properties": properties}).to_string();
    let (status, text) = call(w, Method::POST, "organizations/_/security_groups", Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    json_of(&text)
}

#[tokio::test]
async fn the_founding_create_security_group_request() {
    let w = world(ALL).await;
    // Recorded 2026-08 (SecurityGroup_external_rules_enable), byte for byte.
    let body = r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"tf-acc-test-external-rules-enable-f9v7i6fx3vxi","associations":[],"allow_all_inbound":false,"allow_all_outbound":false}}"#;
    let (status, text) = call(&w, Method::POST, "organizations/_/security_groups", Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        normalise(&text),
        r#"{"security_group":{"id":"sg_ID","name":"tf-acc-test-external-rules-enable-f9v7i6fx3vxi","allow_all_inbound":false,"allow_all_outbound":false,"associations":[]},"annotations":[]}"#
    );
    // The seed (the vendor's documentation) shows the same request with the literal path
    // `organizations/organization/...`; it also documents errors as a top-level
    // `{"code","description","detail"}`, while the real API (and every client) uses the nested
    // `{"error":{...}}` envelope: we follow the real behaviour.
    let (status, text) =
        call(&w, Method::POST, "organizations/organization/security_groups", Some(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = json_of(&text);
    assert_eq!(error["error"]["code"], "validation_error", "nested envelope: {text}");
    assert!(error.get("code").is_none());
    assert_eq!(error["error"]["detail"]["errors"], json!(["Name has already been taken"]));

    // With annotations (2.68): echoed, and usable as a list filter in bracket syntax.
    let (status, text) = call(
        &w,
        Method::POST,
        "organizations/organization/security_groups",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"web"},"annotations":[{"key":"env","value":"prod"}]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        normalise(&text),
        r#"{"security_group":{"id":"sg_ID","name":"web","allow_all_inbound":false,"allow_all_outbound":false,"associations":[]},"annotations":[{"key":"env","value":"prod"}]}"#
    );
    let (_, text) = call(
        &w,
        Method::GET,
        "organizations/_/security_groups?organization%5Bsub_domain%5D=terraform-acc-test&annotations[][key]=env&annotations[][value]=prod",
        None,
    )
    .await;
    assert_eq!(
        normalise(&text),
        r#"{"pagination":{"current_page":1,"total_pages":1,"total":1,"per_page":30,"large_set":false},"security_groups":[{"id":"sg_ID","name":"web","allow_all_inbound":false,"allow_all_outbound":false,"associations":[]}]}"#
    );
    let (_, text) = call(
        &w,
        Method::GET,
        "organizations/_/security_groups?organization%5Bsub_domain%5D=terraform-acc-test&page=1",
        None,
    )
    .await;
    assert_eq!(json_of(&text)["pagination"]["total"], 2);
}

#[tokio::test]
async fn associations_get_update_delete() {
    let w = world(ALL).await;
    let server = w
        .app
        .post(&format!("/api/v1/organizations/{}/servers", w.org), OPERATOR, json!({"name": "web-1"}))
        .await;
    let vm = palisade_api::katapult::ids::render(
        "vm",
        uuid::Uuid::parse_str(server.body["server"]["id"].as_str().unwrap()).unwrap().as_bytes(),
    );
    let g = create_group(&w, json!({"name": "with-vm", "associations": [vm]})).await;
    assert_eq!(g["security_group"]["associations"], json!([vm]));
    let id = g["security_group"]["id"].as_str().unwrap().to_owned();

    let unknown = palisade_api::katapult::ids::render("vm", &[7u8; 16]);
    let body = json!({"organization": {"sub_domain": "terraform-acc-test"}, "properties": {"name": "bad", "associations": [unknown]}}).to_string();
    let (status, text) = call(&w, Method::POST, "organizations/_/security_groups", Some(&body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    let body = json!({"organization": {"sub_domain": "terraform-acc-test"}, "properties": {"name": "grp", "associations": ["vmgrp_V0LtwWu4EiCmY6GB"]}}).to_string();
    assert_eq!(
        call(&w, Method::POST, "organizations/_/security_groups", Some(&body)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, text) =
        call(&w, Method::GET, &format!("security_groups/_?security_group%5Bid%5D={id}"), None).await;
    assert_eq!((status, json_of(&text)), (StatusCode::OK, g.clone()));
    // Recorded PATCH: partial properties.
    let (status, text) = call(
        &w,
        Method::PATCH,
        "security_groups/security_group",
        Some(&format!(r#"{{"security_group":{{"id":"{id}"}},"properties":{{"allow_all_inbound":false,"allow_all_outbound":true}}}}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let updated = json_of(&text);
    assert_eq!(updated["security_group"]["allow_all_outbound"], true);
    assert_eq!(updated["security_group"]["associations"], json!([vm]), "omitted properties keep their value");
    let (status, _) =
        call(&w, Method::PATCH, &format!("security_groups/{id}"), Some(r#"{"properties":{}}"#)).await;
    assert_eq!(status, StatusCode::OK, "an empty properties object is accepted");

    // A rule, then the group's deletion cascades to it.
    let (_, text) = call(
        &w,
        Method::POST,
        &format!("security_groups/{id}/rules"),
        Some(r#"{"properties":{"direction":"inbound","protocol":"TCP","ports":"22"}}"#),
    )
    .await;
    let rule = json_of(&text)["security_group_rule"]["id"].as_str().unwrap().to_owned();
    let (status, text) =
        call(&w, Method::DELETE, &format!("security_groups/_?security_group%5Bid%5D={id}"), None).await;
    assert_eq!(
        (status, normalise(&text)),
        (StatusCode::OK, r#"{"security_group":{"id":"sg_ID","name":"with-vm"}}"#.to_owned())
    );
    let (status, text) =
        call(&w, Method::GET, &format!("security_groups/rules/_?security_group_rule%5Bid%5D={rule}"), None)
            .await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"security_group_rule_not_found","description":"No security group rule was found matching any of the criteria provided in the arguments","detail":{}}}"#
        )
    );
    let (status, text) = call(&w, Method::GET, &format!("security_groups/{id}"), None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"security_group_not_found","description":"No security group was found matching any of the criteria provided in the arguments","detail":{}}}"#
        )
    );
}

#[tokio::test]
async fn recorded_rule_behaviour() {
    let w = world(ALL).await;
    let g = create_group(&w, json!({"name": "tf-acc-test-external-rules-enable-f9v7i6fx3vxi", "associations": [], "allow_all_inbound": false, "allow_all_outbound": false})).await;
    let id = g["security_group"]["id"].as_str().unwrap().to_owned();
    let rules = format!("security_groups/{id}/rules");

    let (status, text) = call(&w, Method::POST, &rules, Some(r#"{"properties":{"direction":"inbound","protocol":"TCP","ports":"22","targets":["all:ipv4"],"notes":"SSH"}}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        normalise(&text),
        r#"{"security_group_rule":{"id":"sgr_ID","security_group":{"id":"sg_ID","name":"tf-acc-test-external-rules-enable-f9v7i6fx3vxi"},"direction":"inbound","protocol":"TCP","action":"allow","ports":"22","targets":["all:ipv4"],"notes":"SSH"}}"#
    );

    let (_, text) =
        call(&w, Method::POST, &rules, Some(r#"{"properties":{"direction":"inbound","protocol":"ICMP"}}"#))
            .await;
    assert_eq!(
        normalise(&text),
        r#"{"security_group_rule":{"id":"sgr_ID","security_group":{"id":"sg_ID","name":"tf-acc-test-external-rules-enable-f9v7i6fx3vxi"},"direction":"inbound","protocol":"ICMP","action":"allow","ports":null,"targets":[],"notes":null}}"#
    );
    let icmp = json_of(&text)["security_group_rule"]["id"].as_str().unwrap().to_owned();

    let (status, text) = call(
        &w,
        Method::POST,
        &rules,
        Some(r#"{"properties":{"direction":"inbound","protocol":"ICMP","ports":"80"}}"#),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"error":{"code":"validation_error","description":"A validation error occurred with the object that was being created/updated/deleted","detail":{"errors":["Ports cannot be set with ICMP"]}}}"#
        )
    );
    // An ICMP rule given ports by PATCH is refused too; "" clears ports.
    let (status, _) = call(
        &w,
        Method::PATCH,
        &format!("security_groups/rules/{icmp}"),
        Some(r#"{"properties":{"ports":"7"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, text) = call(&w, Method::POST, &rules, Some(r#"{"properties":{"direction":"inbound","protocol":"TCP","ports":"80,443","targets":["10.0.0.1/24","195.66.84.24"],"notes":"HTTP & HTTPS"}}"#)).await;
    assert!(text.contains(r#""targets":["10.0.0.1/24","195.66.84.24"]"#), "CIDRs kept verbatim: {text}");
    assert!(text.contains(r#""notes":"HTTP \u0026 HTTPS""#), "{text}");
    let web = json_of(&text)["security_group_rule"]["id"].as_str().unwrap().to_owned();
    // Recorded PATCH switching a ported rule to ICMP: without "ports":"" it fails, with it passes.
    let (status, _) = call(
        &w,
        Method::PATCH,
        &format!("security_groups/rules/_?security_group_rule%5Bid%5D={web}"),
        Some(r#"{"properties":{"direction":"inbound","protocol":"ICMP","notes":"PING"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, text) = call(
        &w,
        Method::PATCH,
        &format!("security_groups/rules/_?security_group_rule%5Bid%5D={web}"),
        Some(r#"{"properties":{"direction":"inbound","protocol":"ICMP","ports":"","notes":"PING"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        normalise(&text),
        r#"{"security_group_rule":{"id":"sgr_ID","security_group":{"id":"sg_ID","name":"tf-acc-test-external-rules-enable-f9v7i6fx3vxi"},"direction":"inbound","protocol":"ICMP","action":"allow","ports":null,"targets":["10.0.0.1/24","195.66.84.24"],"notes":"PING"}}"#
    );

    // Lists omit the group; rules come in creation order.
    let (_, text) =
        call(&w, Method::GET, &format!("security_groups/_/rules?security_group%5Bid%5D={id}"), None).await;
    let list = json_of(&text);
    assert_eq!(list["pagination"]["total"], 3);
    assert!(list["security_group_rules"][0].get("security_group").is_none());
    assert_eq!(list["security_group_rules"][0]["ports"], "22");
    assert!(normalise(&text).starts_with(r#"{"pagination":{"current_page":1,"total_pages":1,"total":3,"per_page":30,"large_set":false},"security_group_rules":[{"id":"sgr_ID","direction":"inbound","protocol":"TCP","action":"allow","ports":"22","targets":["all:ipv4"],"notes":"SSH"}"#), "{text}");

    // Rules in a direction the group allows entirely are refused; allowing all deletes them.
    let (status, text) = call(
        &w,
        Method::PATCH,
        &format!("security_groups/{id}"),
        Some(r#"{"properties":{"allow_all_outbound":true}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) =
        call(&w, Method::POST, &rules, Some(r#"{"properties":{"direction":"outbound","protocol":"TCP"}}"#))
            .await;
    assert_eq!(
        (status, json_of(&text)["error"]["detail"]["errors"][0].as_str().unwrap()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Security group cannot have outbound rules while all outbound traffic is allowed"
        )
    );
    call(
        &w,
        Method::PATCH,
        &format!("security_groups/{id}"),
        Some(r#"{"properties":{"allow_all_inbound":true}}"#),
    )
    .await;
    let (_, text) = call(&w, Method::GET, &format!("security_groups/{id}/rules"), None).await;
    assert_eq!(json_of(&text)["pagination"]["total"], 0);
    let (status, text) =
        call(&w, Method::POST, &rules, Some(r#"{"properties":{"direction":"inbound","protocol":"TCP"}}"#))
            .await;
    assert_eq!(
        (status, json_of(&text)["error"]["detail"]["errors"][0].as_str().unwrap()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Security group cannot have inbound rules while all inbound traffic is allowed"
        )
    );

    // Bad arguments are 400s, before any lookup.
    let (status, text) =
        call(&w, Method::POST, &rules, Some(r#"{"properties":{"direction":"sideways","protocol":"TCP"}}"#))
            .await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_argument")
    );
    let (status, text) = call(&w, Method::POST, &rules, None).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "missing_required_argument")
    );
}

#[tokio::test]
async fn deleting_a_group_needs_the_singular_scope() {
    let w = world(&["security_groups"]).await;
    let g = create_group(&w, json!({"name": "keep"})).await;
    let id = g["security_group"]["id"].as_str().unwrap();
    let (status, text) = call(&w, Method::DELETE, &format!("security_groups/{id}"), None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"scope_not_granted","description":"The scope required for this endpoint has not been granted to the authenticating identity","detail":{"scopes":["security_group"]}}}"#
        )
    );
    let (_, deleter) = w.app.token(&w.org, &["security_group"]).await;
    assert_eq!(
        call_as(&w, Method::DELETE, &format!("security_groups/{id}"), None, &deleter).await.0,
        StatusCode::OK
    );
    let (_, reader) = w.app.token(&w.org, &["security_groups:read"]).await;
    let (status, _) = call_as(
        &w,
        Method::POST,
        "organizations/_/security_groups",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"x"}}"#),
        &reader,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn virtual_machine_groups_as_members_and_targets() {
    let w = world(&["security_groups", "security_group", "virtual_machine_groups"]).await;
    // Recorded (2023, SecurityGroup_associations): the legacy client's request.
    let (status, text) = call(
        &w,
        Method::POST,
        "organizations/_/virtual_machine_groups",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"tf-acc-test-associations","segregate":true}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let created = json_of(&text);
    let vmg = created["virtual_machine_group"]["id"].as_str().unwrap().to_owned();
    assert!(vmg.starts_with("vmgrp_"));
    let at = created["virtual_machine_group"]["created_at"].as_i64().unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"virtual_machine_group":{{"id":"{vmg}","name":"tf-acc-test-associations","segregate":true,"created_at":{at}}}}}"#
        )
    );
    let (_, text) = call(&w, Method::GET, &format!("virtual_machine_groups/{vmg}"), None).await;
    assert_eq!(json_of(&text), created);

    let g = create_group(&w, json!({"name": "with-group", "associations": [vmg]})).await;
    assert_eq!(g["security_group"]["associations"], json!([vmg]));
    let id = g["security_group"]["id"].as_str().unwrap();
    let (status, text) = call(
        &w,
        Method::POST,
        &format!("security_groups/{id}/rules"),
        Some(&format!(r#"{{"properties":{{"direction":"inbound","protocol":"TCP","ports":"3306","targets":["{vmg}"],"notes":"MySQL"}}}}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["security_group_rule"]["targets"], json!([vmg]));

    let (_, text) = call(
        &w,
        Method::PATCH,
        &format!("virtual_machine_groups/{vmg}"),
        Some(r#"{"properties":{"name":"renamed"}}"#),
    )
    .await;
    assert_eq!(json_of(&text)["virtual_machine_group"]["name"], "renamed");
    let (_, text) = call(
        &w,
        Method::GET,
        "organizations/_/virtual_machine_groups?organization[sub_domain]=terraform-acc-test",
        None,
    )
    .await;
    assert_eq!(json_of(&text)["virtual_machine_groups"][0]["name"], "renamed");
    // The legacy client deletes with the lookup in the query; the group leaves its security groups.
    let (status, text) = call(
        &w,
        Method::DELETE,
        &format!("virtual_machine_groups/_?virtual_machine_group%5Bid%5D={vmg}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (_, text) = call(&w, Method::GET, &format!("security_groups/{id}"), None).await;
    assert_eq!(json_of(&text)["security_group"]["associations"], json!([]));
    let (status, text) = call(&w, Method::GET, &format!("virtual_machine_groups/{vmg}"), None).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "virtual_machine_group_not_found")
    );
}

#[tokio::test]
async fn tags_as_members_and_targets() {
    let w = world(&["security_groups", "tags"]).await;
    let (status, text) = call(
        &w,
        Method::POST,
        "organizations/_/tags",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"env:prod","color":"green"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let tag = json_of(&text)["tag"].clone();
    let id = tag["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tag_"));
    assert_eq!((&tag["name"], &tag["color"]), (&json!("env:prod"), &json!("green")));
    assert!(tag["created_at"].is_i64());
    let (status, text) = call(
        &w,
        Method::POST,
        "organizations/_/tags",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"env:prod"}}"#),
    )
    .await;
    assert_eq!(
        (status, json_of(&text)["error"]["detail"]["errors"][0].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "Name has already been taken")
    );
    let (status, text) = call(&w, Method::POST, "organizations/_/tags", Some(r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"x","color":"plaid"}}"#)).await;
    assert_eq!(
        (status, json_of(&text)["error"]["detail"]["issue"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_enum_value")
    );

    let (_, text) =
        call(&w, Method::GET, "organizations/_/tags?organization[sub_domain]=terraform-acc-test", None).await;
    assert_eq!(
        json_of(&text),
        json!({"pagination": {"current_page": 1, "total_pages": 1, "total": 1, "per_page": 30, "large_set": false}, "tags": [{"id": id, "name": "env:prod", "color": "green"}]})
    );

    let g = create_group(&w, json!({"name": "by-tag", "associations": [id]})).await;
    assert_eq!(g["security_group"]["associations"], json!([id]));
    let sg = g["security_group"]["id"].as_str().unwrap();
    let (status, text) = call(
        &w,
        Method::POST,
        &format!("security_groups/{sg}/rules"),
        Some(&format!(r#"{{"properties":{{"direction":"inbound","protocol":"TCP","targets":["{id}"]}}}}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["security_group_rule"]["targets"], json!([id]));

    let (_, text) =
        call(&w, Method::PATCH, &format!("tags/{id}"), Some(r#"{"properties":{"color":"red"}}"#)).await;
    assert_eq!(json_of(&text)["tag"]["color"], "red");
    let (_, text) = call(&w, Method::GET, &format!("tags/_?tag%5Bid%5D={id}"), None).await;
    assert_eq!(json_of(&text)["tag"]["name"], "env:prod");
    let (status, _) = call(&w, Method::DELETE, &format!("tags/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, text) = call(&w, Method::GET, &format!("security_groups/{sg}"), None).await;
    assert_eq!(json_of(&text)["security_group"]["associations"], json!([]));
    let (status, text) = call(&w, Method::GET, &format!("tags/{id}"), None).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "tag_not_found")
    );
}

#[tokio::test]
async fn address_lists_as_rule_targets() {
    let w = world(&["security_groups", "address_lists"]).await;
    // Shape per the reference (§13): create answers 201 with the list and its annotations.
    let (status, text) = call(
        &w,
        Method::POST,
        "organizations/organization/address_lists",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"Krystal VPN"},"annotations":[{"key":"team","value":"ops"}]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let list = json_of(&text)["address_list"]["id"].as_str().unwrap().to_owned();
    assert!(list.starts_with("adlst_"));
    assert_eq!(
        text,
        format!(
            r#"{{"address_list":{{"id":"{list}","name":"Krystal VPN","global":false,"entries":[]}},"annotations":[{{"key":"team","value":"ops"}}]}}"#
        )
    );

    let (status, text) = call(
        &w,
        Method::POST,
        &format!("address_lists/{list}/entries"),
        Some(r#"{"properties":{"address":"93.89.203.0/24","name":"office"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let entry = json_of(&text)["address_list_entry"]["id"].as_str().unwrap().to_owned();
    let (status, text) = call(
        &w,
        Method::POST,
        &format!("address_lists/{list}/entries"),
        Some(r#"{"properties":{"address":"not-an-address"}}"#),
    )
    .await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (status, text) = call(
        &w,
        Method::POST,
        "address_lists/address_list/entries/bulk",
        Some(&format!(r#"{{"address_list":{{"id":"{list}"}},"add":[{{"address":"10.0.0.1"}},{{"address":"2001:db8::/64","name":"v6"}}],"remove":[{{"address":"93.89.203.0/24"}}]}}"#)),
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"));
    let (_, text) = call(&w, Method::GET, &format!("address_lists/{list}/entries"), None).await;
    let listed = json_of(&text);
    assert_eq!(listed["pagination"]["total"], 2);
    assert_eq!(listed["address_list_entries"][1]["name"], "v6");
    let (status, text) = call(&w, Method::GET, &format!("address_list_entries/{entry}"), None).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "address_list_entry_not_found"),
        "removed by the bulk call"
    );

    // A rule targeting the list.
    let g = create_group(&w, json!({"name": "ssh-from-vpn"})).await;
    let sg = g["security_group"]["id"].as_str().unwrap();
    let (status, text) = call(
        &w,
        Method::POST,
        &format!("security_groups/{sg}/rules"),
        Some(&format!(
            r#"{{"properties":{{"direction":"inbound","protocol":"TCP","ports":"22","targets":["{list}"]}}}}"#
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["security_group_rule"]["targets"], json!([list]));

    let (_, text) =
        call(&w, Method::PATCH, &format!("address_lists/{list}"), Some(r#"{"properties":{"name":"VPN"}}"#))
            .await;
    assert_eq!(json_of(&text)["address_list"]["name"], "VPN");
    assert_eq!(
        json_of(&text)["annotations"],
        json!([{"key": "team", "value": "ops"}]),
        "annotations kept when not sent"
    );
    let (_, text) = call(
        &w,
        Method::GET,
        "organizations/_/address_lists?organization[sub_domain]=terraform-acc-test",
        None,
    )
    .await;
    assert_eq!(json_of(&text)["address_lists"], json!([{"id": list, "name": "VPN", "global": false}]));

    // Global lists: readable by tokens with the scope, writable only by the operator.
    let global = palisade_core::policy::AddressList {
        id: palisade_core::id::AddressListId::random(),
        organization_id: None,
        name: "Monitoring".into(),
        annotations: vec![],
        entries: vec![],
        created_at: palisade_core::model::now(),
    };
    once!(
        w.app.store,
        insert_address_list(&::palisade_testkit::grants::list_grant((global).organization_id), &global)
    )
    .unwrap();
    let global_id = palisade_api::katapult::ids::render("adlst", global.id.as_bytes());
    let (_, text) = call(&w, Method::GET, "address_lists", None).await;
    assert_eq!(
        json_of(&text)["address_lists"],
        json!([{"id": global_id, "name": "Monitoring", "global": true}])
    );
    let (status, _) = call(&w, Method::GET, &format!("address_lists/{global_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = call(&w, Method::DELETE, &format!("address_lists/{global_id}"), None).await;
    assert_eq!(
        (status, json_of(&text)["error"]["code"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "permission_denied")
    );

    let (status, _) = call(&w, Method::DELETE, &format!("address_lists/{list}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = call(&w, Method::GET, &format!("address_lists/{list}"), None).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"address_list_not_found","description":"No address list was found matching any of the criteria provided in the arguments.","detail":{}}}"#
        )
    );
}

#[tokio::test]
async fn misleading_addresses_are_refused_as_targets_and_list_entries() {
    let w = world(&["security_groups", "address_lists"]).await;
    let g = create_group(&w, json!({"name": "web"})).await;
    let sg = g["security_group"]["id"].as_str().unwrap();
    let rules = format!("security_groups/{sg}/rules");
    for (target, says) in [
        ("010.000.000.000/8", "leading zeros, which other tools read as octal; write 10.0.0.0/8"),
        (
            "1.2.3.4/0",
            "is every IPv4 address, written as if it were one host; write 0.0.0.0/0 if that is meant",
        ),
    ] {
        let body = json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "22",
            "targets": ["195.66.84.24", target]}})
        .to_string();
        let (status, text) = call(&w, Method::POST, &rules, Some(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        let error = json_of(&text);
        assert_eq!(error["error"]["code"], "validation_error");
        assert!(error["error"]["detail"]["errors"][0].as_str().unwrap().contains(says), "{text}");
    }
    let (_, text) = call(&w, Method::GET, &rules, None).await;
    assert_eq!(json_of(&text)["pagination"]["total"], 0, "nothing was written");
    // Host bits set are kept as written (the vendor echoes them); they mean the network.
    let body = r#"{"properties":{"direction":"inbound","protocol":"TCP","ports":"22","targets":["10.0.0.5/24","0.0.0.0/0"]}}"#;
    let (status, text) = call(&w, Method::POST, &rules, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["security_group_rule"]["targets"], json!(["10.0.0.5/24", "0.0.0.0/0"]));

    let (_, text) = call(
        &w,
        Method::POST,
        "organizations/organization/address_lists",
        Some(r#"{"organization":{"sub_domain":"terraform-acc-test"},"properties":{"name":"office"}}"#),
    )
    .await;
    let list = json_of(&text)["address_list"]["id"].as_str().unwrap().to_owned();
    let (status, text) = call(
        &w,
        Method::POST,
        &format!("address_lists/{list}/entries"),
        Some(r#"{"properties":{"address":"192.168.001.000/24"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("write 192.168.1.0/24"), "{text}");
}

#[tokio::test]
async fn virtual_machine_groups_are_listed_in_pages() {
    let w = world(&["virtual_machine_groups"]).await;
    for name in ["a", "b", "c"] {
        let body =
            json!({"organization": {"sub_domain": "terraform-acc-test"}, "properties": {"name": name}});
        let (status, text) =
            call(&w, Method::POST, "organizations/_/virtual_machine_groups", Some(&body.to_string())).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let list = "organizations/_/virtual_machine_groups?organization[sub_domain]=terraform-acc-test";
    let names = |v: &Value| -> Vec<String> {
        v["virtual_machine_groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // Unpaged as Katapult documents it (clients read the whole list), unless a page is asked for.
    let (_, text) = call(&w, Method::GET, list, None).await;
    assert!(text.starts_with(r#"{"virtual_machine_groups":["#), "{text}");
    assert_eq!(names(&json_of(&text)), ["a", "b", "c"]);
    let (_, text) = call(&w, Method::GET, &format!("{list}&page=1"), None).await;
    assert!(text.starts_with(r#"{"pagination":{"current_page":1,"total_pages":1,"total":3,"per_page":30,"large_set":false},"virtual_machine_groups":["#), "{text}");
    let (_, text) = call(&w, Method::GET, &format!("{list}&per_page=2"), None).await;
    let page = json_of(&text);
    assert_eq!(
        page["pagination"],
        json!({"current_page": 1, "total_pages": 2, "total": 3, "per_page": 2, "large_set": false})
    );
    assert_eq!(names(&page), ["a", "b"]);
    let (_, text) = call(&w, Method::GET, &format!("{list}&per_page=2&page=2"), None).await;
    assert_eq!(names(&json_of(&text)), ["c"]);
    let (status, text) = call(&w, Method::GET, &format!("{list}&per_page=500"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}
