//! Hostway's links end with a slash (`…/os-security-groups/{id}/`, as documented), and a client
//! follows them: every Hostway route answers with a trailing slash exactly as without one.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hostway::{call, world, World};
use crate::support::{Answer, OPERATOR};

/// Follows a link (an absolute URL) with the account user's credentials.
async fn follow(w: &World, href: &str) -> Answer {
    let path = href.strip_prefix(&w.app.base).unwrap_or_else(|| panic!("{href} is not on {}", w.app.base));
    call(w, Method::GET, path, None).await
}

/// The `href` of a view's single self link.
fn self_link(view: &Value) -> String {
    assert_eq!(view["links"][0]["rel"], "self", "{view}");
    view["links"][0]["href"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn following_a_returned_link_finds_the_resource() {
    let w = world().await;
    let groups = format!("/accounts/{}/os-security-groups", w.org);
    let body = json!({"securityGroup": {"displayName": "web", "description": "linked"}});
    let created = call(&w, Method::POST, &groups, Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let id = created["securityGroup"]["id"].as_str().unwrap().to_owned();
    let href = self_link(&created["securityGroup"]);
    assert_eq!(href, format!("{}{groups}/{id}/", w.app.base), "the documented trailing slash");

    // Following the link answers the group, as the path without the slash does.
    let followed = follow(&w, &href).await;
    assert_eq!(followed.status, StatusCode::OK, "{href}: {}", followed.text);
    let plain = call(&w, Method::GET, &format!("{groups}/{id}"), None).await;
    assert_eq!((plain.status, followed.text.as_str()), (StatusCode::OK, plain.text.as_str()));
    assert_eq!(followed.json()["securityGroup"]["id"], id.as_str());

    // The rules list's own link, once the group has a rule.
    let rule = json!({"securityGroupRule": {"protocol": "TCP", "fromPort": 22, "toPort": 22, "cidr": "192.0.2.0/24", "parentGroupId": id}});
    let r = call(&w, Method::POST, &format!("/accounts/{}/os-security-group-rules", w.org), Some(rule)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let list = call(&w, Method::GET, &format!("{groups}/{id}/rules"), None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let href = self_link(&list.json());
    let followed = follow(&w, &href).await;
    assert_eq!((followed.status, followed.text.as_str()), (StatusCode::OK, list.text.as_str()), "{href}");

    // An assignment's link is the group's.
    let server =
        w.app.post(&format!("/api/v1/organizations/{}/servers", w.org), OPERATOR, json!({"name": "s"})).await;
    let server = server.body["server"]["id"].as_str().unwrap().to_owned();
    let assign = format!("/accounts/{}/flexcloud/servers/{server}/os-security-group", w.org);
    let assigned =
        call(&w, Method::PUT, &assign, Some(json!({"securityGroup": {"id": id, "status": "enabled"}}))).await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.text);
    let followed = follow(&w, &self_link(&assigned.json()["securityGroup"])).await;
    assert_eq!(followed.status, StatusCode::OK, "{}", followed.text);
    assert_eq!(followed.json()["securityGroup"]["servers"], json!([server]));
}

/// Every Hostway route (from the face's route table, so a new route must be added here), called
/// with a trailing slash by the account's user: each does what it does without the slash.
#[tokio::test]
async fn every_route_answers_with_a_trailing_slash() {
    let w = world().await;
    let server =
        w.app.post(&format!("/api/v1/organizations/{}/servers", w.org), OPERATOR, json!({"name": "s"})).await;
    let server = server.body["server"]["id"].as_str().unwrap().to_owned();
    let table = palisade_api::hostway::routes().into_table();
    assert!(table.iter().all(|r| r.trailing_slash), "every Hostway route takes the slash: {table:?}");
    let served: BTreeSet<(String, String)> =
        table.iter().map(|r| (r.method.to_string(), r.path.clone())).collect();

    // (method, template, body, status), in an order where each step finds what it needs.
    let g = "/accounts/{account_id}/os-security-groups";
    let one = "/accounts/{account_id}/os-security-groups/{group_id}";
    let rules = "/accounts/{account_id}/os-security-group-rules";
    let steps: Vec<(Method, String, Option<Value>, StatusCode)> = vec![
        (Method::POST, g.into(), Some(json!({"securityGroup": {"displayName": "a"}})), StatusCode::CREATED),
        (
            Method::POST,
            "/accounts/os-security-groups".into(),
            Some(json!({"securityGroup": {"displayName": "b"}})),
            StatusCode::CREATED,
        ),
        (Method::GET, g.into(), None, StatusCode::OK),
        (Method::GET, "/accounts/os-security-groups".into(), None, StatusCode::OK),
        (Method::GET, one.into(), None, StatusCode::OK),
        (Method::PUT, one.into(), Some(json!({"securityGroup": {"description": "x"}})), StatusCode::OK),
        (
            Method::POST,
            rules.into(),
            Some(
                json!({"securityGroupRule": {"protocol": "ALL", "cidr": "0.0.0.0/0", "parentGroupId": "{group_id}"}}),
            ),
            StatusCode::CREATED,
        ),
        (Method::GET, format!("{one}/rules"), None, StatusCode::OK),
        (
            Method::PUT,
            "/accounts/{account_id}/flexcloud/servers/{server_id}/os-security-group".into(),
            Some(json!({"securityGroup": {"id": "{group_id}", "status": "enabled"}})),
            StatusCode::OK,
        ),
        (Method::DELETE, format!("{rules}/{{rule_id}}"), None, StatusCode::NO_CONTENT),
        (Method::DELETE, one.into(), None, StatusCode::NO_CONTENT),
    ];
    let walked: BTreeSet<(String, String)> =
        steps.iter().map(|(m, t, _, _)| (m.to_string(), t.clone())).collect();
    assert_eq!(walked, served, "walk every Hostway route here");

    let (mut group, mut rule) = (String::new(), String::new());
    for (method, template, body, status) in steps {
        let fill = |text: &str| {
            text.replace("{account_id}", &w.org)
                .replace("{group_id}", &group)
                .replace("{rule_id}", &rule)
                .replace("{server_id}", &server)
        };
        let path = format!("{}/", fill(&template));
        let body = body.map(|b| serde_json::from_str::<Value>(&fill(&b.to_string())).unwrap());
        let r = call(&w, method.clone(), &path, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        if method == Method::GET {
            // The same answer as without the slash.
            let plain = call(&w, method.clone(), path.trim_end_matches('/'), None).await;
            assert_eq!((plain.status, plain.text), (r.status, r.text.clone()), "{method} {path}");
        }
        if template == g && method == Method::POST {
            group = r.json()["securityGroup"]["id"].as_str().unwrap().to_owned();
        }
        if template == rules {
            rule = r.json()["securityGroupRule"]["id"].as_str().unwrap().to_owned();
        }
    }
    // Everything made along the way is gone again but the alias's group.
    let left = call(&w, Method::GET, &format!("/accounts/{}/os-security-groups", w.org), None).await;
    let names: Vec<Value> =
        left.json()["securityGroups"].as_array().unwrap().iter().map(|g| g["displayName"].clone()).collect();
    assert_eq!(names, vec![json!("b")]);
    assert_eq!(w.app.count("security_group_rules").await, 0);
}
