//! Servers in server groups (Katapult's virtual machines in VM groups), over HTTP on the native
//! API and the Katapult face: joining, reading back on both faces, moving, leaving, the group's
//! deletion, what policy then means, and the refusals (another organization's group, missing
//! scopes, bad input), on the backend `PALISADE_TEST_BACKEND` names.

use palisade_api::katapult::ids;
use palisade_core::engine::{CompiledPolicy, Decision, Flow, FlowProtocol, Verdict};
use palisade_core::id::OrganizationId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, error_paths, Reply, TestApp, OPERATOR};

/// An organization with a server (203.0.113.10, tagged `env:prod`) on the shared network, two VM
/// groups, and a token holding the scopes of servers and VM groups.
struct World {
    app: TestApp,
    org: String,
    sub_domain: &'static str,
    token: String,
    server: String,
    /// `vm_…`
    vm: String,
    /// `vmgrp_…`, and each as the native API's uuid.
    front: String,
    back: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let sub_domain = "acme";
    let org = app.org(sub_domain).await;
    let network = app.network().await;
    let (_, token) = app.token(&org, &["virtual_machines", "virtual_machine_groups"]).await;
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/servers"),
            &token,
            json!({"name": "web-1", "interfaces": [{"network_id": network, "addresses": ["203.0.113.10"]}],
                "tags": ["env:prod", "role:web"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["server"]["server_group_id"], Value::Null, "a new server is in no group");
    let server = r.body["server"]["id"].as_str().unwrap().to_owned();
    let vm = katapult_id("vm", &server);
    let mut w = World { app, org, sub_domain, token, server, vm, front: String::new(), back: String::new() };
    w.front = w.vm_group("front", true).await;
    w.back = w.vm_group("back", false).await;
    w
}

fn katapult_id(prefix: &str, uuid_text: &str) -> String {
    ids::render(prefix, uuid::Uuid::parse_str(uuid_text).unwrap().as_bytes())
}

/// `vmgrp_…` as the native API's uuid.
fn uuid_of(katapult: &str) -> String {
    let prefix = katapult.split('_').next().unwrap();
    uuid::Uuid::from_bytes(ids::parse(prefix, katapult).unwrap()).to_string()
}

impl World {
    async fn katapult(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        self.app.request(method, &format!("/core/v1/{path}"), Some(token), body).await
    }

    async fn vm_group(&self, name: &str, segregate: bool) -> String {
        let body = json!({"organization": {"sub_domain": self.sub_domain},
            "properties": {"name": name, "segregate": segregate}});
        let r = self
            .katapult(Method::POST, "organizations/_/virtual_machine_groups", &self.token, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["virtual_machine_group"]["id"].as_str().unwrap().to_owned()
    }

    /// The VM group as its own route shows it.
    async fn group_object(&self, vmg: &str) -> Value {
        let r = self.katapult(Method::GET, &format!("virtual_machine_groups/{vmg}"), &self.token, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["virtual_machine_group"].clone()
    }

    fn server_path(&self) -> String {
        format!("/api/v1/organizations/{}/servers/{}", self.org, self.server)
    }

    async fn native_patch(&self, token: &str, body: Value) -> Reply {
        self.app.patch(&self.server_path(), token, body).await
    }

    /// The server's group as the native API shows it.
    async fn native_group(&self) -> Value {
        let r = self.app.get(&self.server_path(), &self.token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["server"]["server_group_id"].clone()
    }

    async fn vm(&self) -> Value {
        let r = self.katapult(Method::GET, &format!("virtual_machines/{}", self.vm), &self.token, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    async fn revision(&self) -> u64 {
        let org: OrganizationId = self.org.parse().unwrap();
        self.app.store.read().await.unwrap().policy_revision(org).await.unwrap()
    }

    /// What the organization's policy decides for SSH from 192.0.2.7 to the server.
    async fn ssh_to_the_server(&self) -> Option<Decision> {
        let org: OrganizationId = self.org.parse().unwrap();
        let snapshot = self.app.store.policy_snapshot(org).await.unwrap();
        let flow = Flow {
            source: "192.0.2.7".parse().unwrap(),
            destination: "203.0.113.10".parse().unwrap(),
            protocol: FlowProtocol::Tcp,
            port: Some(22),
            icmp: None,
        };
        let verdict = CompiledPolicy::compile(&snapshot).check(&flow);
        let ingress = verdict.ingress.unwrap();
        assert_eq!(ingress.verdict == Verdict::Allow, verdict.verdict == Verdict::Allow);
        Some(ingress.decided_by)
    }
}

#[tokio::test]
async fn a_server_joins_moves_leaves_and_outlives_its_vm_group() {
    let w = world().await;
    // A Katapult security group associated with the front group, admitting SSH.
    let group = w
        .katapult(
            Method::POST,
            "organizations/_/security_groups",
            &w.app.token(&w.org, &["security_groups"]).await.1,
            Some(json!({"organization": {"sub_domain": w.sub_domain},
                "properties": {"name": "front", "associations": [w.front]}})),
        )
        .await;
    assert_eq!(group.status, StatusCode::OK, "{}", group.body);
    let sg = group.body["security_group"]["id"].as_str().unwrap().to_owned();
    let (_, sg_token) = w.app.token(&w.org, &["security_groups"]).await;
    let rule = w
        .katapult(
            Method::POST,
            &format!("security_groups/{sg}/rules"),
            &sg_token,
            Some(json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "22",
                "targets": ["all:ipv4"]}})),
        )
        .await;
    assert_eq!(rule.status, StatusCode::OK, "{}", rule.body);
    assert_eq!(w.ssh_to_the_server().await, Some(Decision::Ungoverned), "the server is in no group yet");

    // Joins the front group through the native API: one policy revision.
    let before = w.revision().await;
    let r = w.native_patch(&w.token, json!({"server_group_id": uuid_of(&w.front)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["server"]["server_group_id"], json!(uuid_of(&w.front)));
    assert_eq!(r.body["server"]["name"], "web-1", "other fields stay");
    assert_eq!(r.body["server"]["tags"], json!(["env:prod", "role:web"]));
    assert_eq!(w.revision().await, before + 1, "joining a group bumps the policy revision once");
    assert_eq!(w.native_group().await, json!(uuid_of(&w.front)));
    let listed = w.app.get(&format!("/api/v1/organizations/{}/servers", w.org), &w.token).await;
    assert_eq!(listed.body["servers"][0]["server_group_id"], json!(uuid_of(&w.front)));
    assert!(
        matches!(w.ssh_to_the_server().await, Some(Decision::Rule { .. })),
        "the security group now applies through the VM group"
    );

    // The Katapult face shows the whole group object, as the group's own route does.
    let vm = w.vm().await;
    let front = w.group_object(&w.front).await;
    assert_eq!(front["name"], "front");
    assert_eq!(vm["virtual_machine"]["group"], front);
    // Every field it knows, and `null` for what it does not.
    let machine = &vm["virtual_machine"];
    assert_eq!(
        (&machine["id"], &machine["name"], &machine["hostname"]),
        (&json!(w.vm), &json!("web-1"), &json!("web-1"))
    );
    assert!(machine["created_at"].is_i64());
    assert_eq!(machine["tag_names"], json!(["env:prod", "role:web"]));
    assert_eq!(machine["tags"], json!([]), "no tag objects carry these names yet");
    for absent in ["fqdn", "description", "state", "zone", "package", "hypervisor", "memory_in_gb"] {
        assert_eq!(machine[absent], Value::Null, "{absent}");
    }
    assert_eq!(machine["gpus"], json!([]));
    assert_eq!(vm["annotations"], json!([]));
    let org = w.katapult(Method::GET, "organizations/_?organization[sub_domain]=acme", OPERATOR, None).await;
    assert_eq!(machine["organization"], org.body["organization"]);
    let ip = w.katapult(Method::GET, "ip_addresses/_?ip_address[address]=203.0.113.10", OPERATOR, None).await;
    assert_eq!(machine["ip_addresses"], json!([ip.body["ip_address"]]));
    // The lookup in the query, as go-katapult sends it, finds the same machine.
    let by_query = w
        .katapult(Method::GET, &format!("virtual_machines/_?virtual_machine[id]={}", w.vm), &w.token, None)
        .await;
    assert_eq!(by_query.body, vm);

    // Moves to the back group through Katapult; tag objects named like its tags show.
    let (_, tags_token) = w.app.token(&w.org, &["tags"]).await;
    let tag = w
        .katapult(
            Method::POST,
            "organizations/_/tags",
            &tags_token,
            Some(json!({"organization": {"sub_domain": w.sub_domain}, "properties": {"name": "role:web", "color": "teal"}})),
        )
        .await;
    assert_eq!(tag.status, StatusCode::OK, "{}", tag.body);
    let before = w.revision().await;
    let r = w
        .katapult(
            Method::PATCH,
            &format!("virtual_machines/{}", w.vm),
            &w.token,
            Some(json!({"properties": {"group": {"id": w.back}}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["virtual_machine"]["group"], w.group_object(&w.back).await);
    assert_eq!(r.body["virtual_machine"]["tags"], json!([tag.body["tag"]]));
    assert_eq!(r.body, w.vm().await, "the change answers what a read then gives");
    assert_eq!(w.revision().await, before + 1);
    assert_eq!(w.native_group().await, json!(uuid_of(&w.back)));
    assert_eq!(w.ssh_to_the_server().await, Some(Decision::Ungoverned), "the back group has no policy");

    // The list, paged like Katapult's.
    let list = w
        .katapult(
            Method::GET,
            "organizations/_/virtual_machines?organization[sub_domain]=acme&per_page=5",
            &w.token,
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(
        list.body,
        json!({
            "pagination": {"current_page": 1, "total_pages": 1, "total": 1, "per_page": 5, "large_set": false},
            "virtual_machines": [{
                "id": w.vm, "name": "web-1", "hostname": "web-1", "fqdn": null,
                "created_at": machine["created_at"], "zone": null, "package": null, "gpu_type": null,
                "ip_addresses": [{"address": "203.0.113.10"}], "hypervisor": null,
            }],
        })
    );

    // Leaves through the native API (`null`), joins again and leaves through Katapult (`null`).
    let r = w.native_patch(&w.token, json!({"server_group_id": null})).await;
    assert_eq!(
        (r.status, &r.body["server"]["server_group_id"]),
        (StatusCode::OK, &Value::Null),
        "{}",
        r.body
    );
    assert_eq!(w.vm().await["virtual_machine"]["group"], Value::Null);
    let path = format!("virtual_machines/{}", w.vm);
    let r = w
        .katapult(Method::PATCH, &path, &w.token, Some(json!({"properties": {"group": {"id": w.front}}})))
        .await;
    assert_eq!(r.body["virtual_machine"]["group"]["id"], json!(w.front));
    let r = w.katapult(Method::PATCH, &path, &w.token, Some(json!({"properties": {"group": null}}))).await;
    assert_eq!((r.status, &r.body["virtual_machine"]["group"]), (StatusCode::OK, &Value::Null), "{}", r.body);
    assert_eq!(w.native_group().await, Value::Null);
    // Leaving no group again changes nothing, yet is a (harmless) policy write.
    let r = w.katapult(Method::PATCH, &path, &w.token, Some(json!({"properties": {}}))).await;
    assert_eq!((r.status, &r.body["virtual_machine"]["group"]), (StatusCode::OK, &Value::Null), "{}", r.body);

    // Name and tag names through Katapult; `hostname` is the same name.
    let r = w
        .katapult(
            Method::PATCH,
            &path,
            &w.token,
            Some(json!({"properties": {"hostname": "web-2", "tag_names": ["env:prod"], "group": {"id": w.front}}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let machine = &r.body["virtual_machine"];
    assert_eq!((&machine["name"], &machine["hostname"]), (&json!("web-2"), &json!("web-2")));
    assert_eq!((&machine["tag_names"], &machine["tags"]), (&json!(["env:prod"]), &json!([])));
    assert!(matches!(w.ssh_to_the_server().await, Some(Decision::Rule { .. })));

    // Deleting the group leaves the server in none, on both faces; its policy goes with it.
    let (_, vmg_token) = w.app.token(&w.org, &["virtual_machine_groups"]).await;
    let r =
        w.katapult(Method::DELETE, &format!("virtual_machine_groups/{}", w.front), &vmg_token, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(w.native_group().await, Value::Null);
    assert_eq!(w.vm().await["virtual_machine"]["group"], Value::Null);
    assert_eq!(w.ssh_to_the_server().await, Some(Decision::Ungoverned));
}

#[tokio::test]
async fn another_organizations_group_is_not_found_and_scopes_come_first() {
    let w = world().await;
    // Their organization, with a VM group and a server of its own.
    let theirs = w.app.org("theirs").await;
    let (_, their_token) = w.app.token(&theirs, &["virtual_machines", "virtual_machine_groups"]).await;
    let r = w
        .katapult(
            Method::POST,
            "organizations/_/virtual_machine_groups",
            &their_token,
            Some(json!({"organization": {"sub_domain": "theirs"}, "properties": {"name": "theirs"}})),
        )
        .await;
    let their_group = r.body["virtual_machine_group"]["id"].as_str().unwrap().to_owned();
    let r = w
        .app
        .post(&format!("/api/v1/organizations/{theirs}/servers"), &their_token, json!({"name": "x"}))
        .await;
    let their_vm = katapult_id("vm", r.body["server"]["id"].as_str().unwrap());
    let missing_group = ids::render("vmgrp", uuid::Uuid::new_v4().as_bytes());
    let missing_vm = ids::render("vm", uuid::Uuid::new_v4().as_bytes());
    let path = format!("virtual_machines/{}", w.vm);
    let revision = w.revision().await;

    // Their group: not found, exactly as a group that does not exist.
    let native = w.native_patch(&w.token, json!({"server_group_id": uuid_of(&their_group)})).await;
    assert_error(&native, StatusCode::NOT_FOUND, "not_found");
    let absent = w.native_patch(&w.token, json!({"server_group_id": uuid_of(&missing_group)})).await;
    assert_eq!((native.status, &native.body), (absent.status, &absent.body));
    let group = |id: &str| Some(json!({"properties": {"group": {"id": id}}}));
    let katapult = w.katapult(Method::PATCH, &path, &w.token, group(&their_group)).await;
    assert_eq!(katapult.status, StatusCode::NOT_FOUND, "{}", katapult.body);
    assert_eq!(katapult.body["error"]["code"], "virtual_machine_group_not_found");
    let absent = w.katapult(Method::PATCH, &path, &w.token, group(&missing_group)).await;
    assert_eq!((katapult.status, &katapult.body), (absent.status, &absent.body));
    let garbage = w.katapult(Method::PATCH, &path, &w.token, group("vmgrp_nonsense")).await;
    assert_eq!((garbage.status, &garbage.body), (absent.status, &absent.body));

    // Their machine: not found, exactly as one that does not exist, for reads and changes.
    for method in [Method::GET, Method::PATCH] {
        let body = (method == Method::PATCH).then(|| json!({"properties": {"group": {"id": w.front}}}));
        let theirs =
            w.katapult(method.clone(), &format!("virtual_machines/{their_vm}"), &w.token, body.clone()).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
        assert_eq!(theirs.body["error"]["code"], "virtual_machine_not_found");
        assert_eq!(
            theirs.body["error"]["description"],
            "No virtual machine was found matching any of the criteria provided in the arguments"
        );
        let absent = w.katapult(method, &format!("virtual_machines/{missing_vm}"), &w.token, body).await;
        assert_eq!((theirs.status, &theirs.body), (absent.status, &absent.body));
    }
    // Machines have no fqdn in Palisade: a lookup by one finds nothing.
    let r = w
        .katapult(Method::GET, "virtual_machines/_?virtual_machine[fqdn]=web-1.acme.example", &w.token, None)
        .await;
    assert_eq!(
        (r.status, &r.body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("virtual_machine_not_found"))
    );
    // Their organization's list: as an organization that does not exist.
    let r = w
        .katapult(
            Method::GET,
            "organizations/_/virtual_machines?organization[sub_domain]=theirs",
            &w.token,
            None,
        )
        .await;
    assert_eq!(
        (r.status, &r.body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("organization_not_found"))
    );

    // Without a VM group scope, naming a group is refused before it is looked up (whether it
    // exists or not); leaving a group names none and needs only `virtual_machines`.
    let (_, servers_only) = w.app.token(&w.org, &["virtual_machines"]).await;
    let vmg_scopes = json!(["virtual_machine_groups", "virtual_machine_groups:read"]);
    for id in [&w.front, &their_group, &missing_group] {
        let r = w.native_patch(&servers_only, json!({"server_group_id": uuid_of(id)})).await;
        assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
        assert_eq!(r.body["error"]["details"]["scopes"], vmg_scopes, "{}", r.body);
        let r = w.katapult(Method::PATCH, &path, &servers_only, group(id)).await;
        assert_eq!(
            (r.status, &r.body["error"]["code"]),
            (StatusCode::FORBIDDEN, &json!("scope_not_granted"))
        );
        assert_eq!(r.body["error"]["detail"]["scopes"], vmg_scopes);
    }
    let r = w.native_patch(&servers_only, json!({"server_group_id": null})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A token that may read groups but not change servers may not move one.
    let (_, groups_only) = w.app.token(&w.org, &["virtual_machine_groups", "virtual_machines:read"]).await;
    let r = w.native_patch(&groups_only, json!({"server_group_id": uuid_of(&w.front)})).await;
    assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
    assert_eq!(r.body["error"]["details"]["scopes"], json!(["virtual_machines"]));
    let r = w.katapult(Method::PATCH, &path, &groups_only, group(&w.front)).await;
    assert_eq!((r.status, &r.body["error"]["code"]), (StatusCode::FORBIDDEN, &json!("scope_not_granted")));
    // ...but may read it on either face.
    let r = w.katapult(Method::GET, &path, &groups_only, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Nothing was changed by any refusal (the one accepted change left no group as none).
    assert_eq!(w.native_group().await, Value::Null);
    assert_eq!(w.revision().await, revision + 1, "only the accepted change bumped the revision");
}

#[tokio::test]
async fn bad_input_is_refused_in_each_faces_envelope_and_changes_nothing() {
    let w = world().await;
    let r = w.native_patch(&w.token, json!({"server_group_id": uuid_of(&w.front)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let revision = w.revision().await;

    // Native: malformed fields are 400s naming the field.
    for (body, path) in [
        (json!({"server_group_id": "not-a-uuid"}), "server_group_id"),
        (json!({"server_group_id": 7}), "server_group_id"),
        (json!({"name": ""}), "name"),
        (json!({"tags": ["a", "a"]}), "tags[1]"),
        (json!({"tags": "a"}), "tags"),
    ] {
        let r = w.native_patch(&w.token, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(error_paths(&r), vec![path.to_owned()], "{body}: {}", r.body);
    }
    let r = w.native_patch(&w.token, json!({"server_group": "x"})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
    let r = w
        .app
        .patch(&format!("/api/v1/organizations/{}/servers/not-a-uuid", w.org), &w.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Katapult: arguments of the wrong shape are 400s, what Palisade cannot keep 422s.
    let path = format!("virtual_machines/{}", w.vm);
    for (body, status, code) in [
        (json!({"properties": {"group": "front"}}), StatusCode::BAD_REQUEST, "invalid_argument"),
        (json!({"properties": {"group": {}}}), StatusCode::BAD_REQUEST, "invalid_argument"),
        (json!({"properties": {"group": {"id": ["x"]}}}), StatusCode::BAD_REQUEST, "invalid_argument"),
        (json!({"properties": {"tag_names": "env:prod"}}), StatusCode::BAD_REQUEST, "invalid_argument"),
        (json!({"properties": {"name": 7}}), StatusCode::BAD_REQUEST, "invalid_argument"),
        (json!({}), StatusCode::BAD_REQUEST, "missing_required_argument"),
        (json!({"properties": {"name": ""}}), StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        (
            json!({"properties": {"tag_names": ["a", "a"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            json!({"properties": {"name": "a", "hostname": "b"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (json!({"properties": {"description": "web"}}), StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        (
            json!({"properties": {"gpu_type": {"id": "gput_x"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            json!({"properties": {}, "annotations": [{"key": "k", "value": "v"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
    ] {
        let r = w.katapult(Method::PATCH, &path, &w.token, Some(body.clone())).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (status, Some(code)), "{body}: {}", r.body);
    }
    let r =
        w.katapult(Method::PATCH, &path, &w.token, Some(json!({"properties": {"description": "web"}}))).await;
    assert_eq!(r.body["error"]["detail"]["errors"], json!(["Description is not kept by Palisade"]));
    // What every server has is accepted: an empty description and no annotations.
    let r = w
        .katapult(
            Method::PATCH,
            &path,
            &w.token,
            Some(json!({"properties": {"description": ""}, "annotations": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Nothing changed.
    assert_eq!(w.native_group().await, json!(uuid_of(&w.front)));
    let server = w.app.get(&w.server_path(), &w.token).await.body;
    assert_eq!(
        (&server["server"]["name"], &server["server"]["tags"]),
        (&json!("web-1"), &json!(["env:prod", "role:web"]))
    );
    assert_eq!(w.revision().await, revision + 1, "only the accepted (empty) change was a write");
}
