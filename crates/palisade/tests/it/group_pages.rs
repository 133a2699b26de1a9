//! Group listing pages kept by policy revision (`palisade_core::service::group_pages`) are never
//! stale: after every kind of write that changes what a Katapult security-group list shows, the
//! list answered over HTTP (this node's kept pages) and the list another `Core` on the same
//! database answers (another node's kept pages, filled before the write) both equal what the
//! store reads directly, on either backend.

use palisade_core::id::OrganizationId;
use palisade_core::policy::{Annotation, GroupFilter, GroupKind, Member};
use palisade_core::{Core, PageRequest, Principal};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{TestApp, OPERATOR};

const PAGE: PageRequest = PageRequest { page: 1, per_page: 200 };

/// What a listing shows of each group: name, flags, members, annotations.
type Shown = Vec<(String, bool, bool, Vec<Member>, Vec<Annotation>)>;

fn shown(page: &palisade_core::Page<palisade_core::policy::SecurityGroup>) -> Shown {
    page.items
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.allow_all_inbound,
                g.allow_all_outbound,
                g.members.clone(),
                g.annotations.clone(),
            )
        })
        .collect()
}

struct World {
    app: TestApp,
    token: String,
    org: OrganizationId,
    /// A second node: its own kept pages over the same database.
    other: Core,
}

impl World {
    /// The store's own answer, read without any kept page.
    async fn stored(&self, filter: &GroupFilter) -> Shown {
        let mut reads = self.app.store.read().await.unwrap();
        shown(&reads.list_security_groups(self.org, GroupKind::SecurityGroup, filter, PAGE).await.unwrap())
    }

    async fn through_other(&self, filter: &GroupFilter) -> Shown {
        let page = self
            .other
            .list_security_groups(&Principal::Operator, self.org, GroupKind::SecurityGroup, filter, PAGE)
            .await
            .unwrap();
        shown(&page)
    }

    /// Names and associations as the Katapult list answers them.
    async fn http(&self, query: &str) -> Vec<(String, Value)> {
        let path = format!(
            "/core/v1/organizations/_/security_groups?organization[sub_domain]=kept&page=1&per_page=200{query}"
        );
        let r = self.app.get(&path, &self.token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let groups = r.body["security_groups"].as_array().unwrap().clone();
        groups.iter().map(|g| (g["name"].as_str().unwrap().to_owned(), g["associations"].clone())).collect()
    }

    /// Every view agrees with the store, with and without an annotation filter; fills both
    /// nodes' kept pages for the next write to invalidate.
    async fn agree(&self, after: &str) {
        let web =
            GroupFilter { annotations: vec![Annotation { key: "tier".into(), value: Some("web".into()) }] };
        for (filter, query) in
            [(GroupFilter::default(), ""), (web, "&annotations[][key]=tier&annotations[][value]=web")]
        {
            let stored = self.stored(&filter).await;
            assert_eq!(self.through_other(&filter).await, stored, "another node, after {after}");
            let http = self.http(query).await;
            let names: Vec<&str> = http.iter().map(|(n, _)| n.as_str()).collect();
            let expected: Vec<&str> = stored.iter().map(|g| g.0.as_str()).collect();
            assert_eq!(names, expected, "HTTP names, after {after}");
            let members: Vec<usize> = http.iter().map(|(_, a)| a.as_array().unwrap().len()).collect();
            let expected: Vec<usize> = stored.iter().map(|g| g.3.len()).collect();
            assert_eq!(members, expected, "HTTP associations, after {after}");
        }
    }

    async fn katapult(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self.app.request(method, &format!("/core/v1/{path}"), Some(&self.token), Some(body)).await;
        assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
        r.body
    }
}

#[tokio::test]
async fn kept_group_pages_follow_every_write_on_every_node() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let org = app.org("kept").await;
    let (_, token) = app.token(&org, &["security_groups", "security_group", "tags"]).await;
    let other = Core::new(app.store.clone(), palisade_core::secret::SecretHash::of("another node"));
    let w = World { org: org.parse().unwrap(), app, token, other };
    w.agree("nothing").await;

    let sub = json!({"sub_domain": "kept"});
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let body = json!({"organization": sub, "properties": {"name": name}});
        let created = w.katapult(Method::POST, "organizations/_/security_groups", body).await;
        ids.push(created["security_group"]["id"].as_str().unwrap().to_owned());
        w.agree("a group's creation").await;
    }
    let tag = w
        .katapult(
            Method::POST,
            "organizations/_/tags",
            json!({"organization": sub, "properties": {"name": "t"}}),
        )
        .await["tag"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server =
        w.app.post(&format!("/api/v1/organizations/{org}/servers"), OPERATOR, json!({"name": "web-1"})).await;
    assert_eq!(server.status, StatusCode::CREATED, "{}", server.body);
    let vm = palisade_api::katapult::ids::render(
        "vm",
        uuid::Uuid::parse_str(server.body["server"]["id"].as_str().unwrap()).unwrap().as_bytes(),
    );

    let group = |i: usize| format!("security_groups/{}", ids[i]);
    let steps: Vec<(&str, reqwest::Method, String, Value)> = vec![
        ("a rename", Method::PATCH, group(0), json!({"properties": {"name": "a2"}})),
        ("an allow-all flag", Method::PATCH, group(1), json!({"properties": {"allow_all_inbound": true}})),
        ("members", Method::PATCH, group(0), json!({"properties": {"associations": [tag, vm]}})),
        ("annotations", Method::PATCH, group(2), json!({"annotations": [{"key": "tier", "value": "web"}]})),
        (
            "a rule",
            Method::POST,
            format!("{}/rules", group(2)),
            json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "22"}}),
        ),
        ("a member tag's deletion", Method::DELETE, format!("tags/{tag}"), json!({})),
        ("a group's deletion", Method::DELETE, group(1), json!({})),
    ];
    for (what, method, path, body) in steps {
        w.katapult(method, &path, body).await;
        w.agree(what).await;
    }
    // A member server deleted through the native API.
    let id = server.body["server"]["id"].as_str().unwrap();
    let r = w.app.delete(&format!("/api/v1/organizations/{org}/servers/{id}"), OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    w.agree("a member server's deletion").await;
}
