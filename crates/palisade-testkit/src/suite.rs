//! The backend-neutral store test suite. Each function takes a fresh store and checks one
//! behaviour of the [`Store`] contract; `tests/store_suite.rs` runs every one of them on SQLite
//! and on PostgreSQL.

use std::net::IpAddr;
use std::sync::Arc;

use palisade_core::error::Error;
use palisade_core::id::{
    ApiTokenId, DataCenterId, InterfaceId, IpAddressId, NetworkId, OrganizationId, ServerId, UserId,
};
use palisade_core::ipam::IpVersion;
use palisade_core::model::{
    now, Allocation, ApiToken, Country, DataCenter, EnforcementReport, Host, HostFilter, Interface,
    IpAddress, IpAddressPatch, IpFilter, IpRequest, Network, Organization, OrganizationPatch,
    OrganizationStatus, Overlay, Server, User,
};
use palisade_core::secret::{new_token_secret, PasswordDigest};
use palisade_core::{PageRequest, Scope, Store};

use crate::{grants, once};

pub fn organization(sub_domain: &str) -> Organization {
    let at = now();
    Organization {
        id: OrganizationId::random(),
        name: format!("Org {sub_domain}"),
        sub_domain: sub_domain.to_owned(),
        status: OrganizationStatus::Active,
        resource_creation_restricted: false,
        created_at: at,
        updated_at: at,
    }
}

pub fn token(org: OrganizationId) -> ApiToken {
    ApiToken {
        id: ApiTokenId::random(),
        organization_id: org,
        name: "t".into(),
        scopes: vec![Scope::SECURITY_GROUPS, Scope::SECURITY_GROUP_DELETE],
        allowed_networks: vec!["192.0.2.0/24".parse().unwrap(), "2001:db8::/48".parse().unwrap()],
        expires_at: Some(now() + time::Duration::days(1)),
        created_at: now(),
        server_id: None,
        revoked_at: None,
    }
}

fn data_center(permalink: &str) -> DataCenter {
    DataCenter {
        id: DataCenterId::random(),
        name: "London".into(),
        permalink: permalink.into(),
        country: Country {
            name: "United Kingdom".into(),
            iso_code2: "GB".into(),
            iso_code3: "GBR".into(),
            time_zone: "Europe/London".into(),
            eu: false,
        },
        created_at: now(),
    }
}

fn network(dc: DataCenterId, permalink: Option<&str>, default: bool, org: Option<OrganizationId>) -> Network {
    Network {
        id: NetworkId::random(),
        name: "Public".into(),
        permalink: permalink.map(str::to_owned),
        data_center_id: dc,
        prefixes: vec!["203.0.113.0/24".parse().unwrap(), "2001:db8::/64".parse().unwrap()],
        reserved: vec!["203.0.113.1/32".parse().unwrap()],
        is_default: default,
        organization_id: org,
        created_at: now(),
    }
}

fn server(org: OrganizationId, net: NetworkId, addresses: &[&str]) -> Server {
    Server {
        id: ServerId::random(),
        organization_id: org,
        name: "web".into(),
        interfaces: vec![Interface {
            id: InterfaceId::random(),
            network_id: net,
            addresses: addresses.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect(),
        }],
        tags: vec!["env:prod".into(), "role:web".into()],
        server_group: None,
        created_at: now(),
    }
}

/// The address records a server's own addresses become.
pub fn claims(server: &Server) -> Vec<IpAddress> {
    let mut out = Vec::new();
    for iface in &server.interfaces {
        for addr in &iface.addresses {
            out.push(IpAddress {
                id: IpAddressId::random(),
                organization_id: server.organization_id,
                network_id: iface.network_id,
                address: *addr,
                prefix_len: if addr.is_ipv4() { 24 } else { 64 },
                vip: false,
                label: None,
                reverse_dns: palisade_core::ipam::reverse_dns("{dashed}.test", *addr),
                allocation: Some(Allocation { server_id: server.id, interface_id: iface.id }),
                server_owned: true,
                created_at: server.created_at,
            });
        }
    }
    out
}

pub async fn organizations_round_trip(store: Arc<dyn Store>) {
    let a = organization("alpha");
    once!(store, insert_organization(&grants::op(), &a)).unwrap();
    assert_eq!(once!(store, organization(a.id)).unwrap(), Some(a.clone()));
    assert_eq!(once!(store, organization_by_sub_domain("alpha")).unwrap(), Some(a.clone()));
    assert_eq!(once!(store, organization(OrganizationId::random())).unwrap(), None);

    let patch = OrganizationPatch {
        name: None,
        status: Some(OrganizationStatus::Suspended),
        resource_creation_restricted: Some(true),
    };
    let later = now() + time::Duration::seconds(5);
    let updated = once!(store, update_organization(&grants::op(), a.id, &patch, later)).unwrap();
    assert_eq!(updated.status, OrganizationStatus::Suspended);
    assert!(updated.resource_creation_restricted);
    assert_eq!(updated.name, a.name);
    assert_eq!(updated.updated_at, later);
    assert_eq!(once!(store, organization(a.id)).unwrap(), Some(updated));
    assert_eq!(
        once!(store, update_organization(&grants::op(), OrganizationId::random(), &patch, later)),
        Err(Error::not_found("organization"))
    );

    once!(store, delete_organization(&grants::op(), a.id)).unwrap();
    assert_eq!(once!(store, organization(a.id)).unwrap(), None);
    assert_eq!(once!(store, delete_organization(&grants::op(), a.id)), Err(Error::not_found("organization")));
}

pub async fn duplicate_sub_domain_is_already_exists(store: Arc<dyn Store>) {
    once!(store, insert_organization(&grants::op(), &organization("dup"))).unwrap();
    let err = once!(store, insert_organization(&grants::op(), &organization("dup"))).unwrap_err();
    assert_eq!(err, Error::AlreadyExists { kind: "organization", field: "sub_domain".into() });
}

pub async fn concurrent_duplicates_have_exactly_one_winner(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            once!(store, insert_organization(&grants::op(), &organization("race")))
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(Error::AlreadyExists { field, .. }) => assert_eq!(field, "sub_domain"),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(ok, 1);
}

pub async fn pagination_is_in_creation_order_with_totals(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let org = organization(&format!("p{i}"));
        ids.push(org.id);
        once!(store, insert_organization(&grants::op(), &org)).unwrap();
    }
    let page = once!(store, list_organizations(PageRequest::new(Some(2), Some(3)).unwrap())).unwrap();
    assert_eq!(page.total, 7);
    assert_eq!(page.total_pages(), 3);
    assert_eq!(page.items.iter().map(|o| o.id).collect::<Vec<_>>(), ids[3..6]);
    let last = once!(store, list_organizations(PageRequest::new(Some(3), Some(3)).unwrap())).unwrap();
    assert_eq!(last.items.iter().map(|o| o.id).collect::<Vec<_>>(), ids[6..]);
    let beyond = once!(store, list_organizations(PageRequest::new(Some(9), Some(3)).unwrap())).unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 7);
}

pub async fn tokens_round_trip_and_revoke_once(store: Arc<dyn Store>) {
    let org = organization("tok");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let t = token(org.id);
    let (secret, hash) = new_token_secret(t.id);
    once!(store, insert_api_token(&grants::grant((t).organization_id), &t, &hash)).unwrap();
    let creds = once!(store, token_credentials(t.id)).unwrap().unwrap();
    assert_eq!(creds.token, t);
    assert_eq!(creds.organization, org);
    assert!(creds.secret_hash.verify(secret.expose()));
    let page = once!(store, list_api_tokens(org.id, PageRequest::default())).unwrap();
    assert_eq!(page.items, vec![t.clone()]);

    // Another organization cannot revoke it.
    let other = organization("other");
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    assert_eq!(
        once!(store, revoke_api_token(&grants::grant(other.id), t.id, now())),
        Err(Error::not_found("api token"))
    );

    // Concurrent revocations: exactly one succeeds, the rest conflict.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let (org, id) = (org.id, t.id);
        tasks.push(tokio::spawn(
            async move { once!(store, revoke_api_token(&grants::grant(org), id, now())) },
        ));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(Error::Conflict(_)) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert!(
        once!(store, token_credentials(t.id)).unwrap().is_none(),
        "a revoked token must not authenticate"
    );
    // Revoked, it stays listed, with when.
    let listed = once!(store, list_api_tokens(org.id, PageRequest::default())).unwrap().items;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked_at.is_some_and(|at| at >= t.created_at), "{listed:?}");
    assert_eq!(ApiToken { revoked_at: None, ..listed[0].clone() }, t);
    assert_eq!(
        once!(store, revoke_api_token(&grants::grant(org.id), ApiTokenId::random(), now())),
        Err(Error::not_found("api token"))
    );
    // A token for a missing organization is refused by the foreign key.
    let orphan = token(OrganizationId::random());
    let (_, hash) = new_token_secret(orphan.id);
    assert_eq!(
        once!(store, insert_api_token(&grants::grant((orphan).organization_id), &orphan, &hash)),
        Err(Error::not_found("organization"))
    );
}

pub async fn users_round_trip(store: Arc<dyn Store>) {
    let org = organization("users");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let user =
        User { id: UserId::random(), organization_id: org.id, username: "alice".into(), created_at: now() };
    let digest = PasswordDigest::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    once!(store, insert_user(&grants::grant((user).organization_id), &user, &digest, &digest)).unwrap();
    let creds = once!(store, user_credentials("alice")).unwrap().unwrap();
    assert_eq!((creds.user, creds.password, creds.organization), (user.clone(), digest.clone(), org.clone()));
    assert!(once!(store, user_credentials("bob")).unwrap().is_none());
    let again = User { id: UserId::random(), ..user.clone() };
    assert_eq!(
        once!(store, insert_user(&grants::grant((again).organization_id), &again, &digest, &digest)),
        Err(Error::AlreadyExists { kind: "user", field: "username".into() })
    );
    assert_eq!(once!(store, list_users(org.id, PageRequest::default())).unwrap().items, vec![user]);
}

pub async fn settings_first_writer_wins_and_a_put_replaces(store: Arc<dyn Store>) {
    assert_eq!(once!(store, setting("k")).unwrap(), None);
    assert_eq!(once!(store, init_setting(&grants::op(), "k", "first")).unwrap(), "first");
    assert_eq!(once!(store, init_setting(&grants::op(), "k", "second")).unwrap(), "first");
    assert_eq!(once!(store, setting("k")).unwrap().as_deref(), Some("first"));
    // A put replaces it (the operator token's rotation), and creates one that was not there.
    once!(store, put_setting(&grants::op(), "k", "rotated")).unwrap();
    assert_eq!(once!(store, setting("k")).unwrap().as_deref(), Some("rotated"));
    once!(store, put_setting(&grants::op(), "new", "v")).unwrap();
    assert_eq!(once!(store, setting("new")).unwrap().as_deref(), Some("v"));
}

pub async fn inventory_round_trip(store: Arc<dyn Store>) {
    let dc = data_center("uk-lon-01");
    once!(store, insert_data_center(&grants::op(), &dc)).unwrap();
    assert_eq!(once!(store, data_center(dc.id)).unwrap(), Some(dc.clone()));
    assert_eq!(
        once!(store, insert_data_center(&grants::op(), &data_center("uk-lon-01"))),
        Err(Error::AlreadyExists { kind: "data center", field: "permalink".into() })
    );
    assert_eq!(once!(store, list_data_centers(PageRequest::default())).unwrap().items, vec![dc.clone()]);

    let org = organization("inv");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let shared = network(dc.id, Some("public"), true, None);
    once!(store, insert_network(&grants::op(), &shared)).unwrap();
    assert_eq!(once!(store, network(shared.id)).unwrap(), Some(shared.clone()));
    assert_eq!(
        once!(store, insert_network(&grants::op(), &network(dc.id, Some("public"), false, None))),
        Err(Error::AlreadyExists { kind: "network", field: "permalink".into() })
    );
    assert_eq!(
        once!(store, insert_network(&grants::op(), &network(dc.id, None, true, None))),
        Err(Error::AlreadyExists { kind: "default network", field: "data_center_id".into() })
    );
    let private = network(dc.id, None, false, Some(org.id));
    once!(store, insert_network(&grants::op(), &private)).unwrap();
    let other = organization("inv2");
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    assert_eq!(once!(store, list_networks(None, PageRequest::default())).unwrap().total, 2);
    assert_eq!(
        once!(store, list_networks(Some(org.id), PageRequest::default())).unwrap().items,
        vec![shared.clone(), private.clone()]
    );
    assert_eq!(
        once!(store, list_networks(Some(other.id), PageRequest::default())).unwrap().items,
        vec![shared.clone()]
    );
    assert_eq!(
        once!(store, insert_network(&grants::op(), &network(DataCenterId::random(), None, false, None))),
        Err(Error::not_found("data center"))
    );

    let web = server(org.id, shared.id, &["203.0.113.10", "2001:db8::10"]);
    once!(store, insert_server(&grants::grant((web).organization_id), &web, &claims(&web))).unwrap();
    assert_eq!(once!(store, server(org.id, web.id)).unwrap(), Some(web.clone()));
    assert_eq!(
        once!(store, server(other.id, web.id)).unwrap(),
        None,
        "servers are scoped to their organization"
    );
    let clash = server(org.id, shared.id, &["203.0.113.11", "203.0.113.10"]);
    assert_eq!(
        once!(store, insert_server(&grants::grant((clash).organization_id), &clash, &claims(&clash))),
        Err(Error::AlreadyExists { kind: "address", field: "interfaces[0].addresses[1]".into() })
    );
    assert_eq!(
        once!(store, server(org.id, clash.id)).unwrap(),
        None,
        "a failed insert leaves nothing behind"
    );
    let db = server(org.id, shared.id, &["203.0.113.11"]);
    once!(store, insert_server(&grants::grant((db).organization_id), &db, &claims(&db))).unwrap();
    let page = once!(store, list_servers(org.id, PageRequest::default())).unwrap();
    assert_eq!(page.items, vec![web.clone(), db.clone()]);
    assert_eq!(
        once!(store, delete_server(&grants::grant(other.id), web.id)),
        Err(Error::not_found("server"))
    );
    once!(store, delete_server(&grants::grant(org.id), web.id)).unwrap();
    assert_eq!(once!(store, delete_server(&grants::grant(org.id), web.id)), Err(Error::not_found("server")));
    // Its addresses are free again.
    let again = server(org.id, shared.id, &["203.0.113.10"]);
    once!(store, insert_server(&grants::grant((again).organization_id), &again, &claims(&again))).unwrap();
}

pub async fn deleting_an_organization_removes_what_it_owns(store: Arc<dyn Store>) {
    let dc = data_center("dc");
    once!(store, insert_data_center(&grants::op(), &dc)).unwrap();
    let org = organization("gone");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let private = network(dc.id, None, false, Some(org.id));
    once!(store, insert_network(&grants::op(), &private)).unwrap();
    let t = token(org.id);
    let (_, hash) = new_token_secret(t.id);
    once!(store, insert_api_token(&grants::grant((t).organization_id), &t, &hash)).unwrap();
    let s = server(org.id, private.id, &["203.0.113.20"]);
    once!(store, insert_server(&grants::grant((s).organization_id), &s, &claims(&s))).unwrap();

    once!(store, delete_organization(&grants::op(), org.id)).unwrap();
    assert!(once!(store, token_credentials(t.id)).unwrap().is_none());
    assert_eq!(once!(store, network(private.id)).unwrap(), None);
    assert_eq!(once!(store, server(org.id, s.id)).unwrap(), None);
    assert_eq!(once!(store, data_center(dc.id)).unwrap(), Some(dc));
}

pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

// ---------------------------------------------------------------- IP address management

/// A data center, an organization and a shared network with these prefixes and reservations.
pub async fn ipam_fixture(
    store: &Arc<dyn Store>,
    prefixes: &[&str],
    reserved: &[&str],
) -> (OrganizationId, Network) {
    let dc = data_center(&format!("dc-{}", uuid::Uuid::new_v4().simple()));
    once!(store, insert_data_center(&grants::op(), &dc)).unwrap();
    let org = organization(&format!("o-{}", uuid::Uuid::new_v4().simple()));
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let mut net = network(dc.id, None, false, None);
    net.prefixes = prefixes.iter().map(|p| p.parse().unwrap()).collect();
    net.reserved = reserved.iter().map(|p| p.parse().unwrap()).collect();
    once!(store, insert_network(&grants::op(), &net)).unwrap();
    (org.id, once!(store, network(net.id)).unwrap().unwrap())
}

pub fn ip_request(org: OrganizationId, network: &Network, version: IpVersion) -> IpRequest {
    IpRequest {
        id: IpAddressId::random(),
        organization_id: org,
        network: network.clone(),
        version,
        vip: false,
        label: None,
        reverse_dns_pattern: "{dashed}.rdns.example.net".into(),
        allocation: None,
        created_at: now(),
    }
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub async fn a_small_prefix_fills_in_order_then_is_exhausted(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["198.51.100.0/28"], &[]).await;
    let mut got = Vec::new();
    for _ in 0..14 {
        let ip = once!(
            store,
            allocate_ip(
                &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
                &ip_request(org, &net, IpVersion::V4)
            )
        )
        .unwrap();
        assert_eq!(ip.prefix_len, 28);
        assert_eq!(ip.reverse_dns, format!("{}.rdns.example.net", ip.address.to_string().replace('.', "-")));
        got.push(ip.address);
    }
    let want: Vec<IpAddr> = (1..=14).map(|i| addr(&format!("198.51.100.{i}"))).collect();
    assert_eq!(got, want, "a /28 hands out .1 to .14 in order: never .0 or .15");
    assert_eq!(
        once!(
            store,
            allocate_ip(
                &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
                &ip_request(org, &net, IpVersion::V4)
            )
        ),
        Err(Error::NoAvailableAddresses)
    );
    assert_eq!(
        once!(
            store,
            allocate_ip(
                &grants::grant((ip_request(org, &net, IpVersion::V6)).organization_id),
                &ip_request(org, &net, IpVersion::V6)
            )
        ),
        Err(Error::NoAvailableAddresses)
    );
}

pub async fn reservations_and_claimed_addresses_are_skipped(store: Arc<dyn Store>) {
    let (org, net) =
        ipam_fixture(&store, &["198.51.100.0/28"], &["198.51.100.1/32", "198.51.100.8/30"]).await;
    let s = server(org, net.id, &["198.51.100.3"]);
    once!(store, insert_server(&grants::grant((s).organization_id), &s, &claims(&s))).unwrap();
    let mut got = Vec::new();
    while let Ok(ip) = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
            &ip_request(org, &net, IpVersion::V4)
        )
    ) {
        got.push(ip.address);
    }
    let want: Vec<IpAddr> =
        [2, 4, 5, 6, 7, 12, 13, 14].iter().map(|i| addr(&format!("198.51.100.{i}"))).collect();
    assert_eq!(got, want);
}

pub async fn released_addresses_are_reused_lowest_first(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["198.51.100.0/24"], &[]).await;
    let mut ips = Vec::new();
    for _ in 0..6 {
        ips.push(
            once!(
                store,
                allocate_ip(
                    &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
                    &ip_request(org, &net, IpVersion::V4)
                )
            )
            .unwrap(),
        );
    }
    once!(store, release_ip_address(&grants::grant(org), ips[3].id)).unwrap();
    once!(store, release_ip_address(&grants::grant(org), ips[1].id)).unwrap();
    assert_eq!(once!(store, ip_address(org, ips[1].id)).unwrap(), None);
    assert_eq!(
        once!(store, release_ip_address(&grants::grant(org), ips[1].id)),
        Err(Error::not_found("ip address"))
    );
    let next: Vec<IpAddr> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                once!(
                    store,
                    allocate_ip(
                        &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
                        &ip_request(org, &net, IpVersion::V4)
                    )
                )
                .unwrap()
                .address,
            );
        }
        v
    };
    assert_eq!(next, vec![addr("198.51.100.2"), addr("198.51.100.4"), addr("198.51.100.7")]);
}

pub async fn ipv6_prefixes_up_to_a_48_allocate_sparsely(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["2001:db8:1::/48", "2001:db8:2::/64"], &[]).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let ip = once!(
            store,
            allocate_ip(
                &grants::grant((ip_request(org, &net, IpVersion::V6)).organization_id),
                &ip_request(org, &net, IpVersion::V6)
            )
        )
        .unwrap();
        assert!(net.prefixes[0].contains(&ip.address), "{}", ip.address);
        assert_eq!(ip.prefix_len, 48);
        assert!(seen.insert(ip.address), "duplicate {}", ip.address);
    }
    // A /64 alone works the same way.
    let (org, net) = ipam_fixture(&store, &["2001:db8:3::/64"], &[]).await;
    let ip = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, &net, IpVersion::V6)).organization_id),
            &ip_request(org, &net, IpVersion::V6)
        )
    )
    .unwrap();
    assert!(net.prefixes[0].contains(&ip.address));
    assert_ne!(ip.address, addr("2001:db8:3::"));
    // Small IPv6 prefixes are sequential, like IPv4.
    let (org, net) = ipam_fixture(&store, &["2001:db8:4::/126"], &[]).await;
    let got: Vec<IpAddr> = {
        let mut v = Vec::new();
        while let Ok(ip) = once!(
            store,
            allocate_ip(
                &grants::grant((ip_request(org, &net, IpVersion::V6)).organization_id),
                &ip_request(org, &net, IpVersion::V6)
            )
        ) {
            v.push(ip.address);
        }
        v
    };
    assert_eq!(got, vec![addr("2001:db8:4::1"), addr("2001:db8:4::2"), addr("2001:db8:4::3")]);
}

pub async fn concurrent_allocations_never_collide(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["198.51.100.0/26"], &[]).await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, net) = (store.clone(), net.clone());
        tasks.push(tokio::spawn(async move {
            once!(
                store,
                allocate_ip(
                    &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
                    &ip_request(org, &net, IpVersion::V4)
                )
            )
        }));
    }
    let mut got = std::collections::BTreeSet::new();
    let mut exhausted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(ip) => assert!(got.insert(ip.address), "{} handed out twice", ip.address),
            Err(Error::NoAvailableAddresses) => exhausted += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((got.len(), exhausted), (62, 2));
}

pub async fn allocation_to_interfaces_and_server_deletion(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["198.51.100.0/24"], &[]).await;
    let s = server(org, net.id, &["198.51.100.50"]);
    once!(store, insert_server(&grants::grant((s).organization_id), &s, &claims(&s))).unwrap();
    let iface = s.interfaces[0].id;
    let ip = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
            &ip_request(org, &net, IpVersion::V4)
        )
    )
    .unwrap();
    assert_eq!(ip.allocation, None);
    let allocation = Allocation { server_id: s.id, interface_id: iface };
    let allocated = once!(store, set_ip_allocation(&grants::grant(org), ip.id, Some(allocation))).unwrap();
    assert_eq!(allocated.allocation, Some(allocation));
    assert_eq!(
        once!(store, set_ip_allocation(&grants::grant(org), ip.id, Some(allocation))).unwrap().allocation,
        Some(allocation)
    );
    let listed = once!(store, server(org, s.id)).unwrap().unwrap();
    assert_eq!(listed.interfaces[0].addresses, vec![addr("198.51.100.50"), ip.address]);
    assert!(matches!(once!(store, release_ip_address(&grants::grant(org), ip.id)), Err(Error::Conflict(_))));
    let filter = |allocated| IpFilter { allocated: Some(allocated) };
    assert_eq!(once!(store, list_ip_addresses(org, filter(true), PageRequest::default())).unwrap().total, 2);
    assert_eq!(once!(store, list_ip_addresses(org, filter(false), PageRequest::default())).unwrap().total, 0);

    // Another server's interface cannot take it while it is allocated.
    let other = server(org, net.id, &[]);
    once!(store, insert_server(&grants::grant((other).organization_id), &other, &[])).unwrap();
    let elsewhere = Allocation { server_id: other.id, interface_id: other.interfaces[0].id };
    assert!(matches!(
        once!(store, set_ip_allocation(&grants::grant(org), ip.id, Some(elsewhere))),
        Err(Error::Conflict(_))
    ));

    // Deleting the server releases its own address and only unallocates the other.
    once!(store, delete_server(&grants::grant(org), s.id)).unwrap();
    let kept = once!(store, ip_address(org, ip.id)).unwrap().unwrap();
    assert_eq!(kept.allocation, None);
    assert_eq!(
        once!(store, list_ip_addresses(org, IpFilter::default(), PageRequest::default())).unwrap().items,
        vec![kept]
    );
    // .50 went to the pool: a server may claim it back, and the cursor moves on meanwhile.
    let reclaimed = server(org, net.id, &["198.51.100.50"]);
    once!(store, insert_server(&grants::grant((reclaimed).organization_id), &reclaimed, &claims(&reclaimed)))
        .unwrap();
    let reused = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
            &ip_request(org, &net, IpVersion::V4)
        )
    )
    .unwrap();
    assert_eq!(reused.address, addr("198.51.100.2"));
    once!(store, delete_server(&grants::grant(org), reclaimed.id)).unwrap();
    let pooled = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
            &ip_request(org, &net, IpVersion::V4)
        )
    )
    .unwrap();
    assert_eq!(pooled.address, addr("198.51.100.50"), "released addresses are reused first");

    let unallocated = once!(store, set_ip_allocation(&grants::grant(org), reused.id, None)).unwrap();
    assert_eq!(unallocated.allocation, None);
    assert_eq!(
        once!(store, set_ip_allocation(&grants::grant(OrganizationId::random()), reused.id, None)),
        Err(Error::not_found("ip address"))
    );
}

pub async fn deleting_an_organization_returns_its_addresses(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["198.51.100.0/30"], &[]).await;
    let a = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
            &ip_request(org, &net, IpVersion::V4)
        )
    )
    .unwrap();
    let b = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
            &ip_request(org, &net, IpVersion::V4)
        )
    )
    .unwrap();
    assert_eq!((a.address, b.address), (addr("198.51.100.1"), addr("198.51.100.2")));
    let other = organization("heir");
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    assert_eq!(
        once!(
            store,
            allocate_ip(
                &grants::grant((ip_request(other.id, &net, IpVersion::V4)).organization_id),
                &ip_request(other.id, &net, IpVersion::V4)
            )
        ),
        Err(Error::NoAvailableAddresses)
    );
    once!(store, delete_organization(&grants::op(), org)).unwrap();
    let again = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(other.id, &net, IpVersion::V4)).organization_id),
            &ip_request(other.id, &net, IpVersion::V4)
        )
    )
    .unwrap();
    assert_eq!(again.address, addr("198.51.100.1"));
}

pub async fn address_fields_update(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["198.51.100.0/24"], &[]).await;
    let mut request = ip_request(org, &net, IpVersion::V4);
    request.vip = true;
    request.label = Some("web".into());
    let ip = once!(store, allocate_ip(&grants::grant((request).organization_id), &request)).unwrap();
    assert_eq!((ip.vip, ip.label.as_deref()), (true, Some("web")));
    let patch =
        IpAddressPatch { vip: Some(false), label: Some(None), reverse_dns: Some("www.example.net".into()) };
    let updated = once!(store, update_ip_address(&grants::grant(org), ip.id, &patch)).unwrap();
    assert_eq!(
        (updated.vip, updated.label.clone(), updated.reverse_dns.as_str()),
        (false, None, "www.example.net")
    );
    assert_eq!(once!(store, ip_address(org, ip.id)).unwrap(), Some(updated));
    assert_eq!(once!(store, ip_address(OrganizationId::random(), ip.id)).unwrap(), None);
    assert_eq!(
        once!(
            store,
            update_ip_address(&grants::grant(org), IpAddressId::random(), &IpAddressPatch::default())
        ),
        Err(Error::not_found("ip address"))
    );
}

// ---------------------------------------------------------------- security groups and rules

use palisade_core::id::{RuleId, SecurityGroupId};
use palisade_core::policy::{
    Action, Annotation, Direction, GroupFilter, GroupKind, Member, PortRange, Protocol, Remote, Rule,
    SecurityGroup, SecurityGroupPatch,
};

pub fn group(org: OrganizationId, name: &str) -> SecurityGroup {
    let at = now();
    SecurityGroup {
        id: SecurityGroupId::random(),
        organization_id: org,
        kind: GroupKind::SecurityGroup,
        name: name.to_owned(),
        description: None,
        allow_all_inbound: false,
        allow_all_outbound: true,
        allow_unmatched_outbound: false,
        members: vec![],
        annotations: vec![Annotation { key: "env".into(), value: Some("prod".into()) }],
        enabled: true,
        ip_version: None,
        serial: 0,
        created_at: at,
        updated_at: at,
    }
}

/// Port ranges written `"22"`, `"80,443,2000-3000"` (empty: all ports), for short tests.
pub fn port_ranges(text: &str) -> Vec<PortRange> {
    let port = |p: &str| p.parse::<u16>().unwrap();
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('-') {
            Some((from, to)) => PortRange { from: port(from), to: port(to) },
            None => PortRange { from: port(part), to: port(part) },
        })
        .collect()
}

pub fn rule(group: SecurityGroupId, direction: Direction, ports: &str) -> Rule {
    Rule {
        id: RuleId::random(),
        group_id: group,
        direction,
        action: Action::Allow,
        protocol: Protocol::Tcp,
        ports: port_ranges(ports),
        icmp: None,
        priority: None,
        remotes: vec![Remote::AnyIpv4, Remote::Cidr("10.0.0.1/24".into())],
        description: Some("SSH".into()),
        created_at: now(),
    }
}

pub async fn security_groups_round_trip(store: Arc<dyn Store>) {
    let org = organization("sg");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let dc = data_center("sg-dc");
    once!(store, insert_data_center(&grants::op(), &dc)).unwrap();
    let net = network(dc.id, None, false, None);
    once!(store, insert_network(&grants::op(), &net)).unwrap();
    let s = server(org.id, net.id, &[]);
    once!(store, insert_server(&grants::grant((s).organization_id), &s, &[])).unwrap();

    let mut web = group(org.id, "web");
    web.members = vec![Member::Server(s.id)];
    web.serial =
        once!(store, insert_security_group(&grants::grant((web).organization_id), &web, &[])).unwrap();
    assert_eq!(once!(store, security_group(web.id)).unwrap(), Some(web.clone()));
    assert_eq!(
        once!(
            store,
            insert_security_group(
                &grants::grant((group(org.id, "web")).organization_id),
                &group(org.id, "web"),
                &[]
            )
        ),
        Err(Error::AlreadyExists { kind: "security group", field: "name".into() })
    );
    // A role of the same name is another kind: allowed.
    let mut role = group(org.id, "web");
    role.kind = GroupKind::Role;
    role.serial =
        once!(store, insert_security_group(&grants::grant((role).organization_id), &role, &[])).unwrap();
    let mut db = group(org.id, "db");
    db.annotations = vec![Annotation { key: "env".into(), value: Some("staging".into()) }];
    db.serial = once!(store, insert_security_group(&grants::grant((db).organization_id), &db, &[])).unwrap();

    let all = once!(
        store,
        list_security_groups(
            org.id,
            GroupKind::SecurityGroup,
            &GroupFilter::default(),
            PageRequest::default(),
        )
    )
    .unwrap();
    assert_eq!(all.items.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["web", "db"]);
    let prod =
        GroupFilter { annotations: vec![Annotation { key: "env".into(), value: Some("prod".into()) }] };
    let filtered =
        once!(store, list_security_groups(org.id, GroupKind::SecurityGroup, &prod, PageRequest::default()))
            .unwrap();
    assert_eq!((filtered.total, filtered.items[0].id), (1, web.id));

    let patch =
        SecurityGroupPatch { name: Some("frontend".into()), members: Some(vec![]), ..Default::default() };
    let updated = once!(
        store,
        update_security_group(&grants::group_grant(&store, web.id).await, web.id, &patch, now())
    )
    .unwrap();
    assert_eq!((updated.name.as_str(), updated.members.len(), updated.annotations.len()), ("frontend", 0, 1));
    let clash = SecurityGroupPatch { name: Some("db".into()), ..Default::default() };
    assert_eq!(
        once!(
            store,
            update_security_group(&grants::group_grant(&store, web.id).await, web.id, &clash, now())
        ),
        Err(Error::AlreadyExists { kind: "security group", field: "name".into() })
    );

    // Members go away with their server.
    let patch = SecurityGroupPatch { members: Some(vec![Member::Server(s.id)]), ..Default::default() };
    once!(store, update_security_group(&grants::group_grant(&store, db.id).await, db.id, &patch, now()))
        .unwrap();
    once!(store, delete_server(&grants::grant(org.id), s.id)).unwrap();
    assert!(once!(store, security_group(db.id)).unwrap().unwrap().members.is_empty());

    once!(store, delete_security_group(&grants::group_grant(&store, web.id).await, web.id)).unwrap();
    assert_eq!(once!(store, security_group(web.id)).unwrap(), None);
    assert_eq!(
        once!(store, delete_security_group(&grants::group_grant(&store, web.id).await, web.id)),
        Err(Error::not_found("security group"))
    );
}

pub async fn concurrent_group_names_have_one_winner(store: Arc<dyn Store>) {
    let org = organization("race-sg");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            once!(
                store,
                insert_security_group(
                    &grants::grant((group(org.id, "same")).organization_id),
                    &group(org.id, "same"),
                    &[]
                )
            )
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 1);
}

pub async fn rules_round_trip_and_respect_allow_all(store: Arc<dyn Store>) {
    let org = organization("rules");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let mut g = group(org.id, "g");
    g.serial = once!(store, insert_security_group(&grants::grant((g).organization_id), &g, &[])).unwrap();
    let ssh = rule(g.id, Direction::Inbound, "22");
    once!(store, insert_rule(&grants::group_grant(&store, (ssh).group_id).await, &ssh)).unwrap();
    assert_eq!(once!(store, rule(ssh.id)).unwrap(), Some(ssh.clone()));
    let web = rule(g.id, Direction::Inbound, "80,443,2000-3000");
    once!(store, insert_rule(&grants::group_grant(&store, (web).group_id).await, &web)).unwrap();
    assert_eq!(
        once!(store, list_rules(g.id, PageRequest::default())).unwrap().items,
        vec![ssh.clone(), web.clone()]
    );
    // The group allows all outbound traffic: no outbound rules.
    let out = rule(g.id, Direction::Outbound, "");
    assert!(matches!(
        once!(store, insert_rule(&grants::group_grant(&store, (out).group_id).await, &out)),
        Err(Error::Invalid(_))
    ));
    assert_eq!(
        once!(
            store,
            insert_rule(
                &grants::group_grant(
                    &store,
                    (rule(SecurityGroupId::random(), Direction::Inbound, "")).group_id
                )
                .await,
                &rule(SecurityGroupId::random(), Direction::Inbound, "")
            )
        ),
        Err(Error::not_found("security group"))
    );

    let mut changed = ssh.clone();
    changed.protocol = Protocol::Icmp;
    changed.ports = vec![];
    changed.description = None;
    once!(store, replace_rule(&grants::group_grant(&store, (changed).group_id).await, &changed)).unwrap();
    assert_eq!(once!(store, rule(ssh.id)).unwrap(), Some(changed));

    // Allowing all inbound deletes the inbound rules.
    let patch = SecurityGroupPatch { allow_all_inbound: Some(true), ..Default::default() };
    once!(store, update_security_group(&grants::group_grant(&store, g.id).await, g.id, &patch, now()))
        .unwrap();
    assert_eq!(once!(store, list_rules(g.id, PageRequest::default())).unwrap().total, 0);
    let patch = SecurityGroupPatch {
        allow_all_inbound: Some(false),
        allow_all_outbound: Some(false),
        ..Default::default()
    };
    once!(store, update_security_group(&grants::group_grant(&store, g.id).await, g.id, &patch, now()))
        .unwrap();
    once!(store, insert_rule(&grants::group_grant(&store, (out).group_id).await, &out)).unwrap();
    // Letting unmatched outbound flows out keeps the outbound rules (ZStack's egress), and is
    // read back as written.
    let patch = SecurityGroupPatch { allow_unmatched_outbound: Some(true), ..Default::default() };
    let opened =
        once!(store, update_security_group(&grants::group_grant(&store, g.id).await, g.id, &patch, now()))
            .unwrap();
    assert!(opened.allow_unmatched_outbound && !opened.allow_all_outbound);
    assert_eq!(once!(store, security_group(g.id)).unwrap().map(|g| g.allow_unmatched_outbound), Some(true));
    assert_eq!(once!(store, rule(out.id)).unwrap(), Some(out.clone()));
    once!(store, delete_rule(&grants::rule_grant(&store, out.id).await, out.id)).unwrap();
    assert_eq!(
        once!(store, delete_rule(&grants::rule_grant(&store, out.id).await, out.id)),
        Err(Error::not_found("security group rule"))
    );
    // Deleting the group deletes its rules.
    let last = rule(g.id, Direction::Inbound, "5432");
    once!(store, insert_rule(&grants::group_grant(&store, (last).group_id).await, &last)).unwrap();
    once!(store, delete_security_group(&grants::group_grant(&store, g.id).await, g.id)).unwrap();
    assert_eq!(once!(store, rule(last.id)).unwrap(), None);
}

pub async fn tags_round_trip_and_leave_groups_with_them(store: Arc<dyn Store>) {
    use palisade_core::id::TagId;
    use palisade_core::policy::Tag;
    let org = organization("tags");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let tag = Tag {
        id: TagId::random(),
        organization_id: org.id,
        name: "env:prod".into(),
        color: "red".into(),
        created_at: now(),
    };
    once!(store, insert_tag(&grants::grant((tag).organization_id), &tag)).unwrap();
    assert_eq!(once!(store, tag(tag.id)).unwrap(), Some(tag.clone()));
    let dup = Tag { id: TagId::random(), ..tag.clone() };
    assert_eq!(
        once!(store, insert_tag(&grants::grant((dup).organization_id), &dup)),
        Err(Error::AlreadyExists { kind: "tag", field: "name".into() })
    );
    let renamed = Tag { name: "env:staging".into(), color: "green".into(), ..tag.clone() };
    once!(store, update_tag(&grants::grant((renamed).organization_id), &renamed)).unwrap();
    assert_eq!(once!(store, list_tags(org.id, PageRequest::default())).unwrap().items, vec![renamed]);

    let mut g = group(org.id, "tagged");
    g.members = vec![Member::Tag(tag.id)];
    g.serial = once!(store, insert_security_group(&grants::grant((g).organization_id), &g, &[])).unwrap();
    assert_eq!(once!(store, security_group(g.id)).unwrap().unwrap().members, vec![Member::Tag(tag.id)]);
    once!(store, delete_tag(&grants::tag_grant(&store, tag.id).await, tag.id)).unwrap();
    assert!(once!(store, security_group(g.id)).unwrap().unwrap().members.is_empty());
    assert_eq!(
        once!(store, delete_tag(&grants::tag_grant(&store, tag.id).await, tag.id)),
        Err(Error::not_found("tag"))
    );
}

pub async fn address_lists_round_trip(store: Arc<dyn Store>) {
    use palisade_core::id::{AddressListEntryId, AddressListId};
    use palisade_core::policy::{AddressList, AddressListEntry};
    let org = organization("lists");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let id = AddressListId::random();
    let entry = |address: &str| AddressListEntry {
        id: AddressListEntryId::random(),
        list_id: id,
        address: address.into(),
        name: Some("vpn".into()),
    };
    let list = AddressList {
        id,
        organization_id: Some(org.id),
        name: "Krystal VPN".into(),
        annotations: vec![Annotation { key: "team".into(), value: None }],
        entries: vec![entry("10.0.0.1/24")],
        created_at: now(),
    };
    once!(store, insert_address_list(&grants::list_grant((list).organization_id), &list)).unwrap();
    assert_eq!(once!(store, address_list(id)).unwrap(), Some(list.clone()));
    let global =
        AddressList { id: AddressListId::random(), organization_id: None, entries: vec![], ..list.clone() };
    once!(store, insert_address_list(&grants::list_grant((global).organization_id), &global)).unwrap();
    assert_eq!(
        once!(store, list_address_lists(Some(org.id), PageRequest::default())).unwrap().items,
        vec![list.clone()]
    );
    assert_eq!(once!(store, list_address_lists(None, PageRequest::default())).unwrap().items, vec![global]);

    // Bulk: add two, remove the first, atomically; a duplicate address refuses the whole change.
    let (a, b) = (entry("192.0.2.1"), entry("2001:db8::/64"));
    once!(
        store,
        change_address_list_entries(
            &grants::list_grant_of(&store, id).await,
            id,
            &[a.clone(), b.clone()],
            &["10.0.0.1/24".into()]
        )
    )
    .unwrap();
    assert_eq!(
        once!(store, list_address_list_entries(id, PageRequest::default())).unwrap().items,
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        once!(
            store,
            change_address_list_entries(
                &grants::list_grant_of(&store, id).await,
                id,
                &[entry("198.51.100.0/24"), entry("192.0.2.1")],
                &[]
            )
        ),
        Err(Error::AlreadyExists { kind: "address list entry", field: "address".into() })
    );
    assert_eq!(once!(store, list_address_list_entries(id, PageRequest::default())).unwrap().total, 2);
    let renamed = AddressListEntry { name: None, ..a.clone() };
    once!(
        store,
        update_address_list_entry(&grants::list_grant_of(&store, (renamed).list_id).await, &renamed)
    )
    .unwrap();
    assert_eq!(once!(store, address_list_entry(a.id)).unwrap(), Some(renamed));
    once!(store, delete_address_list_entry(&grants::entry_grant(&store, b.id).await, b.id)).unwrap();
    assert_eq!(
        once!(store, delete_address_list_entry(&grants::entry_grant(&store, b.id).await, b.id)),
        Err(Error::not_found("address list entry"))
    );

    let updated = AddressList { name: "Office".into(), annotations: vec![], ..list.clone() };
    once!(store, update_address_list(&grants::list_grant((updated).organization_id), &updated)).unwrap();
    assert_eq!(once!(store, address_list(id)).unwrap().unwrap().name, "Office");
    once!(store, delete_address_list(&grants::list_grant_of(&store, id).await, id)).unwrap();
    assert_eq!(once!(store, address_list_entry(a.id)).unwrap(), None, "entries go with their list");
}

pub async fn groups_are_created_and_replaced_with_their_rules(store: Arc<dyn Store>) {
    let org = organization("roles");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let mut role = group(org.id, "web");
    role.kind = GroupKind::Role;
    role.allow_all_outbound = false;
    let rules = vec![rule(role.id, Direction::Inbound, "22"), rule(role.id, Direction::Inbound, "443")];
    role.serial =
        once!(store, insert_security_group(&grants::grant((role).organization_id), &role, &rules)).unwrap();
    assert_eq!(once!(store, list_rules(role.id, PageRequest::default())).unwrap().items, rules);
    // A failing insert (duplicate name) leaves no rules behind.
    let mut clash = group(org.id, "web");
    clash.kind = GroupKind::Role;
    let orphan = rule(clash.id, Direction::Inbound, "80");
    assert!(once!(
        store,
        insert_security_group(&grants::grant((clash).organization_id), &clash, std::slice::from_ref(&orphan))
    )
    .is_err());
    assert_eq!(once!(store, rule(orphan.id)).unwrap(), None);
    // Replacing the rules is one transaction.
    let new = vec![rule(role.id, Direction::Inbound, "8080")];
    let patch = SecurityGroupPatch {
        rules: Some(new.clone()),
        description: Some(Some(String::new())),
        ..Default::default()
    };
    once!(store, update_security_group(&grants::group_grant(&store, role.id).await, role.id, &patch, now()))
        .unwrap();
    assert_eq!(once!(store, list_rules(role.id, PageRequest::default())).unwrap().items, new);
}

// ---------------------------------------------------------------- hosts

/// A host on `network` with no addresses of its own, joining `role`.
pub fn host(org: OrganizationId, network: NetworkId, name: &str, role: Option<SecurityGroupId>) -> Host {
    let at = now();
    Host {
        server: Server {
            id: ServerId::random(),
            organization_id: org,
            name: name.to_owned(),
            interfaces: vec![Interface { id: InterfaceId::random(), network_id: network, addresses: vec![] }],
            tags: vec!["env:prod".into()],
            server_group: None,
            created_at: at,
        },
        role,
        overlay: Overlay {
            listen_port: 4242,
            static_addresses: vec!["192.0.2.1:4242".into()],
            ..Overlay::default()
        },
        modified_at: at,
    }
}

pub async fn hosts_round_trip_with_their_role_and_address(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["10.1.0.0/29"], &[]).await;
    let mut web = group(org, "web");
    web.kind = GroupKind::Role;
    let mut db = group(org, "db");
    db.kind = GroupKind::Role;
    web.serial =
        once!(store, insert_security_group(&grants::grant((web).organization_id), &web, &[])).unwrap();
    db.serial = once!(store, insert_security_group(&grants::grant((db).organization_id), &db, &[])).unwrap();

    // One host gets its address from IPAM in the same transaction.
    let first = host(org, net.id, "a", Some(web.id));
    let mut request = ip_request(org, &net, IpVersion::V4);
    request.allocation =
        Some(Allocation { server_id: first.server.id, interface_id: first.server.interfaces[0].id });
    let stored = once!(
        store,
        insert_host(&grants::grant((first).server.organization_id), &first, &[], Some(&request))
    )
    .unwrap();
    assert_eq!(stored.addresses(), [addr("10.1.0.1")]);
    assert_eq!(stored.role, Some(web.id));
    assert_eq!(stored.overlay, first.overlay);
    assert_eq!(once!(store, host(org, first.server.id)).unwrap(), Some(stored.clone()));
    let second = host(org, net.id, "b", Some(db.id));
    once!(store, insert_host(&grants::grant((second).server.organization_id), &second, &[], None)).unwrap();

    // Names are unique per organization and network; nothing of the loser remains.
    let twin = host(org, net.id, "a", None);
    let err = once!(store, insert_host(&grants::grant((twin).server.organization_id), &twin, &[], None))
        .unwrap_err();
    assert_eq!(err, Error::AlreadyExists { kind: "server", field: "name".into() });
    assert_eq!(once!(store, server(org, twin.server.id)).unwrap(), None);

    // Filters.
    let page = PageRequest { page: 1, per_page: 10 };
    let by_role =
        once!(store, list_hosts(org, HostFilter { role: Some(db.id), ..HostFilter::default() }, page))
            .unwrap();
    assert_eq!((by_role.total, by_role.items[0].server.name.as_str()), (1, "b"));
    let all = once!(store, list_hosts(org, HostFilter::default(), page)).unwrap();
    assert_eq!(all.items.iter().map(|h| h.server.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let relays = HostFilter { is_relay: Some(true), ..HostFilter::default() };
    assert_eq!(once!(store, list_hosts(org, relays, page)).unwrap().total, 0);

    // An update moves the host to another role (one at a time) and rewrites its settings.
    let mut changed = stored;
    changed.role = Some(db.id);
    changed.server.name = "renamed".into();
    changed.server.tags = vec![];
    changed.overlay.is_relay = true;
    once!(store, update_host(&grants::grant((changed).server.organization_id), &changed)).unwrap();
    assert_eq!(once!(store, host(org, changed.server.id)).unwrap(), Some(changed.clone()));
    let members = |g: SecurityGroupId| {
        let store = store.clone();
        async move { once!(store, security_group(g)).unwrap().unwrap().members.len() }
    };
    assert_eq!((members(web.id).await, members(db.id).await), (0, 2));
    // The native view of the same server agrees.
    assert_eq!(once!(store, server(org, changed.server.id)).unwrap().unwrap().name, "renamed");
    // Deleting the server removes the host and its membership.
    once!(store, delete_server(&grants::grant(org), changed.server.id)).unwrap();
    assert_eq!(once!(store, host(org, changed.server.id)).unwrap(), None);
    assert_eq!(members(db.id).await, 1);
}

pub async fn members_are_added_one_at_a_time_concurrently(store: Arc<dyn Store>) {
    let org = organization("members");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let dc = data_center("members-dc");
    once!(store, insert_data_center(&grants::op(), &dc)).unwrap();
    let net = network(dc.id, None, false, None);
    once!(store, insert_network(&grants::op(), &net)).unwrap();
    let mut g = group(org.id, "g");
    g.serial = once!(store, insert_security_group(&grants::grant((g).organization_id), &g, &[])).unwrap();
    let mut servers = Vec::new();
    for _ in 0..8 {
        let s = server(org.id, net.id, &[]);
        once!(store, insert_server(&grants::grant((s).organization_id), &s, &[])).unwrap();
        servers.push(s.id);
    }
    let mut tasks = Vec::new();
    let grant = grants::grant(org.id);
    for s in servers.iter().chain(servers.iter()) {
        let store = store.clone();
        let (id, s) = (g.id, *s);
        tasks.push(tokio::spawn(async move {
            once!(store, add_security_group_member(&grant, id, Member::Server(s), now()))
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut members = once!(store, security_group(g.id)).unwrap().unwrap().members;
    members.sort();
    let mut want: Vec<Member> = servers.iter().map(|s| Member::Server(*s)).collect();
    want.sort();
    assert_eq!(members, want, "every server once, none lost");
    assert_eq!(
        once!(
            store,
            add_security_group_member(
                &grants::group_grant(&store, SecurityGroupId::random()).await,
                SecurityGroupId::random(),
                Member::Server(servers[0]),
                now()
            )
        ),
        Err(Error::not_found("security group"))
    );
    assert_eq!(
        once!(
            store,
            add_security_group_member(
                &grants::group_grant(&store, g.id).await,
                g.id,
                Member::Server(ServerId::random()),
                now()
            )
        ),
        Err(Error::not_found("server"))
    );
}

pub async fn rule_numbers_are_per_organization_and_never_reused(store: Arc<dyn Store>) {
    let org = organization("numbers");
    let other = organization("numbers-other");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    let a = group(org.id, "a");
    let first = rule(a.id, Direction::Inbound, "22");
    once!(
        store,
        insert_security_group(&grants::grant((a).organization_id), &a, std::slice::from_ref(&first))
    )
    .unwrap();
    let mut theirs = group(other.id, "theirs");
    theirs.serial =
        once!(store, insert_security_group(&grants::grant((theirs).organization_id), &theirs, &[])).unwrap();
    // Two organizations creating rules interleaved: each sees its own consecutive numbers.
    let mut mine = vec![first.id];
    let mut others = Vec::new();
    for port in ["80", "443", "8080"] {
        let r = rule(a.id, Direction::Inbound, port);
        once!(store, insert_rule(&grants::group_grant(&store, (r).group_id).await, &r)).unwrap();
        mine.push(r.id);
        let r = rule(theirs.id, Direction::Inbound, port);
        once!(store, insert_rule(&grants::group_grant(&store, (r).group_id).await, &r)).unwrap();
        others.push(r.id);
    }
    let numbers = once!(store, rule_numbers(org.id, &[a.id])).unwrap();
    assert_eq!(numbers, mine.iter().copied().zip(1..).collect::<Vec<_>>());
    let their_numbers = once!(store, rule_numbers(other.id, &[theirs.id])).unwrap();
    assert_eq!(their_numbers, others.iter().copied().zip(1..).collect::<Vec<_>>());
    // Lookups are scoped to the organization; another organization's groups give nothing.
    assert_eq!(once!(store, rule_by_number(org.id, 2)).unwrap(), Some(mine[1]));
    assert_eq!(once!(store, rule_by_number(other.id, 2)).unwrap(), Some(others[1]));
    assert_eq!(once!(store, rule_by_number(other.id, 4)).unwrap(), None);
    assert!(once!(store, rule_numbers(org.id, &[theirs.id])).unwrap().is_empty());
    assert_eq!(once!(store, rule_numbers(org.id, &[a.id, theirs.id])).unwrap().len(), 4);
    // Deleting the newest rule does not free its number for the next one.
    once!(store, delete_rule(&grants::rule_grant(&store, mine[3]).await, mine[3])).unwrap();
    assert_eq!(once!(store, rule_by_number(org.id, 4)).unwrap(), None);
    let fifth = rule(a.id, Direction::Inbound, "9000");
    once!(store, insert_rule(&grants::group_grant(&store, (fifth).group_id).await, &fifth)).unwrap();
    assert_eq!(once!(store, rule_by_number(org.id, 5)).unwrap(), Some(fifth.id));
    // Updating a rule keeps its number; replacing a group's rules numbers the new ones.
    let mut changed = first.clone();
    changed.ports = vec![];
    once!(store, replace_rule(&grants::group_grant(&store, (changed).group_id).await, &changed)).unwrap();
    assert_eq!(once!(store, rule_by_number(org.id, 1)).unwrap(), Some(first.id));
    let fresh = rule(a.id, Direction::Inbound, "8443");
    let patch = SecurityGroupPatch { rules: Some(vec![fresh.clone()]), ..Default::default() };
    once!(store, update_security_group(&grants::group_grant(&store, a.id).await, a.id, &patch, now()))
        .unwrap();
    assert_eq!(once!(store, rule_numbers(org.id, &[a.id])).unwrap(), vec![(fresh.id, 6)]);
    assert_eq!(once!(store, rule_by_number(org.id, 1)).unwrap(), None);
    assert_eq!(once!(store, rule_by_number(org.id, u64::MAX)).unwrap(), None);
    assert!(once!(store, rule_numbers(org.id, &[SecurityGroupId::random()])).unwrap().is_empty());
    assert!(once!(store, rule_numbers(org.id, &[])).unwrap().is_empty());
}

/// Every kind of remote and multi-range port lists are stored as they are given and read back
/// alike through every read (a rule, a page of a group's rules, the rules of several groups):
/// CIDR texts byte for byte (host bits, bare addresses, upper case, a `/0` the checks of today
/// would refuse), hosts remotes with and without a role and tags, several of them in one rule;
/// replacing a rule or a group's rules replaces them.
pub async fn every_remote_kind_and_port_ranges_round_trip(store: Arc<dyn Store>) {
    use palisade_core::id::{AddressListId, ServerGroupId, TagId};
    let org = organization("remotes");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let mut g = group(org.id, "remotes");
    g.allow_all_outbound = false;
    let other = group(org.id, "other");
    let hosts = |role: Option<SecurityGroupId>, tags: &[&str]| Remote::Hosts {
        role,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    };
    let with = |direction: Direction, ports: &str, remotes: Vec<Remote>| Rule {
        remotes,
        ..rule(g.id, direction, ports)
    };
    let every_kind = vec![
        Remote::AnyIpv4,
        Remote::AnyIpv6,
        Remote::Cidr("10.0.0.5/24".into()),
        Remote::Cidr("198.51.100.7".into()),
        Remote::Cidr("2001:DB8::1/64".into()),
        Remote::Cidr("1.2.3.4/0".into()),
        Remote::Server(ServerId::random()),
        Remote::Group(other.id),
        Remote::ServerGroup(ServerGroupId::random()),
        Remote::Tag(TagId::random()),
        Remote::AddressList(AddressListId::random()),
        hosts(Some(SecurityGroupId::random()), &["env:prod", "a,b:c d"]),
        hosts(None, &["tag:one"]),
        hosts(Some(SecurityGroupId::random()), &[]),
        hosts(None, &[]),
    ];
    let rules = vec![
        with(Direction::Inbound, "22,80-90,443,1000-65535", every_kind.clone()),
        with(Direction::Outbound, "", vec![]),
        with(Direction::Inbound, "53", vec![hosts(None, &["x:1", "x:2", "x:3"]), Remote::AnyIpv6]),
    ];
    once!(store, insert_security_group(&grants::grant(org.id), &g, &rules)).unwrap();
    let theirs = vec![with(Direction::Inbound, "8080", vec![Remote::Cidr("192.0.2.0/24".into())])]
        .into_iter()
        .map(|r| Rule { group_id: other.id, ..r })
        .collect::<Vec<_>>();
    once!(store, insert_security_group(&grants::grant(org.id), &other, &theirs)).unwrap();
    let single = with(Direction::Inbound, "5000-5001,6000", vec![hosts(None, &["solo:1"]), Remote::AnyIpv4]);
    once!(store, insert_rule(&grants::grant(org.id), &single)).unwrap();
    let mut all = rules.clone();
    all.push(single.clone());

    for r in &all {
        assert_eq!(once!(store, rule(r.id)).unwrap().as_ref(), Some(r));
    }
    assert_eq!(once!(store, list_rules(g.id, PageRequest::default())).unwrap().items, all);
    let second = once!(store, list_rules(g.id, PageRequest { page: 2, per_page: 2 })).unwrap();
    assert_eq!((second.total, second.items), (4, all[2..].to_vec()));
    let both = once!(store, rules_of_groups(&[other.id, g.id])).unwrap();
    let created = [rules.clone(), theirs.clone(), vec![single.clone()]].concat();
    assert_eq!(both, created, "creation order across groups");

    // Replacing a rule replaces its remotes and ports, emptying them too.
    let mut changed = single.clone();
    changed.remotes = vec![Remote::Cidr("::/0".into()), hosts(Some(g.id), &["b:2", "a:1"])];
    changed.ports = port_ranges("7-8,1");
    once!(store, replace_rule(&grants::grant(org.id), &changed)).unwrap();
    assert_eq!(once!(store, rule(single.id)).unwrap(), Some(changed.clone()));
    let emptied = Rule { remotes: vec![], ports: vec![], ..changed };
    once!(store, replace_rule(&grants::grant(org.id), &emptied)).unwrap();
    assert_eq!(once!(store, rule(single.id)).unwrap(), Some(emptied));
    let missing = Rule { id: RuleId::random(), ..single.clone() };
    assert_eq!(
        once!(store, replace_rule(&grants::grant(org.id), &missing)),
        Err(Error::not_found("security group rule"))
    );

    // Replacing a group's rules; more remote rows than one batched INSERT holds.
    let many: Vec<Rule> = (0..260u16)
        .map(|i| {
            with(Direction::Inbound, &format!("{},{}-{}", i + 1, i + 2, i + 3), every_kind[..2].to_vec())
        })
        .collect();
    let patch = SecurityGroupPatch { rules: Some(many.clone()), ..Default::default() };
    once!(store, update_security_group(&grants::grant(org.id), g.id, &patch, now())).unwrap();
    assert_eq!(once!(store, list_rules(g.id, PageRequest { page: 1, per_page: 1000 })).unwrap().items, many);
    assert_eq!(once!(store, rules_of_groups(&[g.id])).unwrap(), many);
    for r in &all {
        assert_eq!(once!(store, rule(r.id)).unwrap(), None);
    }
    once!(store, delete_rule(&grants::grant(org.id), many[0].id)).unwrap();
    assert_eq!(once!(store, rules_of_groups(&[g.id])).unwrap(), many[1..].to_vec());
}

/// A page of groups is read in batches: every group gets its own members, annotations and rules,
/// in order, whatever the others have.
pub async fn group_pages_load_members_annotations_and_rules_in_batches(store: Arc<dyn Store>) {
    let org = organization("batches");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let dc = data_center("batches-dc");
    once!(store, insert_data_center(&grants::op(), &dc)).unwrap();
    let net = network(dc.id, None, false, None);
    once!(store, insert_network(&grants::op(), &net)).unwrap();
    let servers: Vec<Server> = (0..3).map(|_| server(org.id, net.id, &[])).collect();
    for s in &servers {
        once!(store, insert_server(&grants::grant((s).organization_id), s, &[])).unwrap();
    }
    let mut expected = Vec::new();
    for i in 0..12usize {
        let mut g = group(org.id, &format!("g{i:02}"));
        // Some groups have no members, annotations or rules; others several, in a given order.
        g.members = servers.iter().rev().take(i % 4).map(|s| Member::Server(s.id)).collect();
        g.annotations =
            (0..i % 3).map(|k| Annotation { key: format!("k{k}"), value: Some(format!("{i}")) }).collect();
        let rules: Vec<Rule> =
            (0..i % 5).map(|p| rule(g.id, Direction::Inbound, &format!("{}", 1000 + p))).collect();
        g.serial =
            once!(store, insert_security_group(&grants::grant((g).organization_id), &g, &rules)).unwrap();
        expected.push((g, rules));
    }
    let other = organization("batches-other");
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    let theirs = group(other.id, "theirs");
    once!(
        store,
        insert_security_group(
            &grants::grant((theirs).organization_id),
            &theirs,
            &[rule(theirs.id, Direction::Inbound, "22")]
        )
    )
    .unwrap();

    for (page, range) in [(1u32, 0..5usize), (2, 5..10), (3, 10..12)] {
        let listed = once!(
            store,
            list_security_groups(
                org.id,
                GroupKind::SecurityGroup,
                &GroupFilter::default(),
                PageRequest { page, per_page: 5 },
            )
        )
        .unwrap();
        assert_eq!(listed.total, 12);
        let want: Vec<SecurityGroup> = expected[range.clone()].iter().map(|(g, _)| g.clone()).collect();
        assert_eq!(listed.items, want, "page {page}");
        let ids: Vec<SecurityGroupId> = listed.items.iter().map(|g| g.id).collect();
        let rules = once!(store, rules_of_groups(&ids)).unwrap();
        let want: Vec<Rule> = expected[range].iter().flat_map(|(_, r)| r.clone()).collect();
        assert_eq!(rules, want, "page {page}: its groups' rules, in creation order");
    }
    assert!(once!(store, rules_of_groups(&[])).unwrap().is_empty());
    assert!(once!(store, rules_of_groups(&[SecurityGroupId::random()])).unwrap().is_empty());
}

/// Lists longer than one batched `INSERT` statement (the store writes up to 500 rows per
/// statement) are written whole and in order, and all or nothing: a duplicate near the end
/// leaves none of the list behind.
pub async fn long_lists_are_written_whole_in_order_or_not_at_all(store: Arc<dyn Store>) {
    use palisade_core::id::{AddressListEntryId, AddressListId};
    use palisade_core::policy::{AddressList, AddressListEntry};
    let org = organization("long-lists");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let id = AddressListId::random();
    let entry = |i: u32| AddressListEntry {
        id: AddressListEntryId::random(),
        list_id: id,
        address: std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string(),
        name: Some(format!("entry {i}")),
    };
    let entries: Vec<AddressListEntry> = (0..1_000).map(entry).collect();
    let list = AddressList {
        id,
        organization_id: Some(org.id),
        name: "long".into(),
        annotations: vec![],
        entries: entries.clone(),
        created_at: now(),
    };
    let mut duplicated = list.clone();
    duplicated.entries.push(AddressListEntry { id: AddressListEntryId::random(), ..entries[3].clone() });
    assert_eq!(
        once!(store, insert_address_list(&grants::list_grant((duplicated).organization_id), &duplicated)),
        Err(Error::AlreadyExists { kind: "address list entry", field: "address".into() })
    );
    assert_eq!(once!(store, address_list(id)).unwrap(), None, "nothing of the refused list was written");
    once!(store, insert_address_list(&grants::list_grant((list).organization_id), &list)).unwrap();
    assert_eq!(once!(store, address_list(id)).unwrap(), Some(list));
}

// ---------------------------------------------------------------- policy revisions

use palisade_core::id::{AddressListEntryId, AddressListId, ServerGroupId, TagId};
use palisade_core::policy::{AddressList, AddressListEntry, ServerGroup, Tag};

async fn revision(store: &Arc<dyn Store>, org: OrganizationId) -> u64 {
    store.read().await.unwrap().policy_revision(org).await.unwrap()
}

/// `$write` (an expression awaited inside) moves the organization's revision by exactly one.
macro_rules! bumps_once {
    ($store:expr, $org:expr, $what:literal, $write:expr) => {{
        let before = revision(&$store, $org).await;
        let out = $write;
        assert_eq!(revision(&$store, $org).await, before + 1, "{} bumps the revision once", $what);
        out
    }};
}

fn address_list(org: Option<OrganizationId>, name: &str) -> AddressList {
    let id = AddressListId::random();
    AddressList {
        id,
        organization_id: org,
        name: name.into(),
        annotations: vec![],
        entries: vec![AddressListEntry {
            id: AddressListEntryId::random(),
            list_id: id,
            address: "198.51.100.0/24".into(),
            name: None,
        }],
        created_at: now(),
    }
}

/// Every kind of write that can change a server's effective policy bumps its organization's
/// revision exactly once; a global address list bumps every organization's.
pub async fn each_policy_write_bumps_its_revision_once(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["10.9.0.0/24"], &[]).await;
    let other = organization("other-revisions");
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    assert_eq!(revision(&store, org).await, 0, "no policy write yet");
    let (mine, my_lists) = (grants::grant(org), grants::list_grant(Some(org)));

    // Servers and their addresses.
    let s = server(org, net.id, &["10.9.0.10"]);
    bumps_once!(store, org, "a server", once!(store, insert_server(&mine, &s, &claims(&s))).unwrap());
    let mut request = ip_request(org, &net, IpVersion::V4);
    request.allocation = Some(Allocation { server_id: s.id, interface_id: s.interfaces[0].id });
    let ip =
        bumps_once!(store, org, "an allocated address", once!(store, allocate_ip(&mine, &request)).unwrap());
    bumps_once!(store, org, "unallocating", once!(store, set_ip_allocation(&mine, ip.id, None)).unwrap());
    let allocation = Some(Allocation { server_id: s.id, interface_id: s.interfaces[0].id });
    bumps_once!(store, org, "allocating", once!(store, set_ip_allocation(&mine, ip.id, allocation)).unwrap());

    // Groups, members and rules.
    let mut g = group(org, "revisions");
    g.members = vec![Member::Server(s.id)];
    let r = rule(g.id, Direction::Inbound, "22");
    bumps_once!(
        store,
        org,
        "a group with a rule",
        once!(store, insert_security_group(&mine, &g, std::slice::from_ref(&r))).unwrap()
    );
    let patch = SecurityGroupPatch { name: Some("renamed".into()), ..Default::default() };
    bumps_once!(
        store,
        org,
        "a group update",
        once!(store, update_security_group(&mine, g.id, &patch, now())).unwrap()
    );
    let r2 = rule(g.id, Direction::Inbound, "80");
    bumps_once!(store, org, "a rule", once!(store, insert_rule(&mine, &r2)).unwrap());
    let mut r2b = r2.clone();
    r2b.ports = port_ranges("8080");
    bumps_once!(store, org, "a rule replaced", once!(store, replace_rule(&mine, &r2b)).unwrap());
    bumps_once!(store, org, "a rule deleted", once!(store, delete_rule(&mine, r2.id)).unwrap());

    let sg = ServerGroup {
        id: ServerGroupId::random(),
        organization_id: org,
        name: "vms".into(),
        segregate: false,
        created_at: now(),
    };
    bumps_once!(store, org, "a server group", once!(store, insert_server_group(&mine, &sg)).unwrap());
    let member = Member::ServerGroup(sg.id);
    bumps_once!(
        store,
        org,
        "a member",
        once!(store, add_security_group_member(&mine, g.id, member, now())).unwrap()
    );
    let renamed = ServerGroup { name: "vms2".into(), ..sg.clone() };
    bumps_once!(
        store,
        org,
        "a server group update",
        once!(store, update_server_group(&mine, &renamed)).unwrap()
    );
    bumps_once!(
        store,
        org,
        "a server group deleted",
        once!(store, delete_server_group(&mine, sg.id)).unwrap()
    );

    let tag = Tag {
        id: TagId::random(),
        organization_id: org,
        name: "t".into(),
        color: "red".into(),
        created_at: now(),
    };
    bumps_once!(store, org, "a tag", once!(store, insert_tag(&mine, &tag)).unwrap());
    let recolored = Tag { color: "blue".into(), ..tag.clone() };
    bumps_once!(store, org, "a tag update", once!(store, update_tag(&mine, &recolored)).unwrap());
    bumps_once!(store, org, "a tag deleted", once!(store, delete_tag(&mine, tag.id)).unwrap());

    // Address lists and entries.
    let list = address_list(Some(org), "office");
    bumps_once!(store, org, "an address list", once!(store, insert_address_list(&my_lists, &list)).unwrap());
    let renamed = AddressList { name: "office2".into(), ..list.clone() };
    bumps_once!(
        store,
        org,
        "an address list update",
        once!(store, update_address_list(&my_lists, &renamed)).unwrap()
    );
    let added = AddressListEntry {
        id: AddressListEntryId::random(),
        list_id: list.id,
        address: "192.0.2.7".into(),
        name: None,
    };
    let add = [added.clone()];
    bumps_once!(
        store,
        org,
        "entries changed",
        once!(store, change_address_list_entries(&my_lists, list.id, &add, &[])).unwrap()
    );
    let moved = AddressListEntry { address: "192.0.2.8".into(), ..added.clone() };
    bumps_once!(
        store,
        org,
        "an entry update",
        once!(store, update_address_list_entry(&my_lists, &moved)).unwrap()
    );
    bumps_once!(
        store,
        org,
        "an entry deleted",
        once!(store, delete_address_list_entry(&my_lists, added.id)).unwrap()
    );
    bumps_once!(
        store,
        org,
        "an address list deleted",
        once!(store, delete_address_list(&my_lists, list.id)).unwrap()
    );

    // A global list may be used by every organization.
    let global = address_list(None, "global");
    let (a, b) = (revision(&store, org).await, revision(&store, other.id).await);
    once!(store, insert_address_list(&grants::list_grant(None), &global)).unwrap();
    assert_eq!((revision(&store, org).await, revision(&store, other.id).await), (a + 1, b + 1));
    once!(store, delete_address_list(&grants::list_grant(None), global.id)).unwrap();
    assert_eq!((revision(&store, org).await, revision(&store, other.id).await), (a + 2, b + 2));

    // Hosts (Defined) and their roles.
    let mut role = group(org, "role");
    role.kind = GroupKind::Role;
    bumps_once!(store, org, "a role", once!(store, insert_security_group(&mine, &role, &[])).unwrap());
    let h = host(org, net.id, "h", Some(role.id));
    let stored = bumps_once!(store, org, "a host", once!(store, insert_host(&mine, &h, &[], None)).unwrap());
    let moved = Host { role: None, ..stored };
    bumps_once!(store, org, "a host update", once!(store, update_host(&mine, &moved)).unwrap());

    // Deletions.
    bumps_once!(store, org, "a group deleted", once!(store, delete_security_group(&mine, g.id)).unwrap());
    bumps_once!(store, org, "a server deleted", once!(store, delete_server(&mine, s.id)).unwrap());
    assert_eq!(revision(&store, other.id).await, 2, "the other organization saw only the global list");
}

/// Reads, refused writes, rolled-back transactions and writes that cannot change policy leave
/// the revision where it is.
pub async fn refused_writes_reads_and_other_writes_bump_nothing(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["10.8.0.0/24"], &[]).await;
    let mut g = group(org, "fixed");
    g.serial = once!(store, insert_security_group(&grants::grant((g).organization_id), &g, &[])).unwrap();
    let start = revision(&store, org).await;
    assert_eq!(start, 1);

    // Reads, through a read handle and inside a write transaction.
    let mut r = store.read().await.unwrap();
    r.security_group(g.id).await.unwrap();
    r.list_security_groups(org, GroupKind::SecurityGroup, &GroupFilter::default(), PageRequest::all())
        .await
        .unwrap();
    r.list_servers(org, PageRequest::all()).await.unwrap();
    drop(r);
    once!(store, list_rules(g.id, PageRequest::all())).unwrap();
    once!(store, security_group_for_update(g.id)).unwrap();
    assert_eq!(revision(&store, org).await, start, "reads");

    // Refused writes.
    assert!(once!(
        store,
        insert_security_group(
            &grants::grant((group(org, "fixed")).organization_id),
            &group(org, "fixed"),
            &[]
        )
    )
    .is_err());
    let mut all_in = group(org, "open");
    all_in.allow_all_inbound = true;
    all_in.serial =
        once!(store, insert_security_group(&grants::grant((all_in).organization_id), &all_in, &[])).unwrap();
    let after_open = revision(&store, org).await;
    assert!(once!(
        store,
        insert_rule(
            &grants::group_grant(&store, (rule(all_in.id, Direction::Inbound, "22")).group_id).await,
            &rule(all_in.id, Direction::Inbound, "22")
        )
    )
    .is_err());
    assert!(once!(store, delete_rule(&grants::rule_grant(&store, RuleId::random()).await, RuleId::random()))
        .is_err());
    assert!(
        once!(store, delete_tag(&grants::tag_grant(&store, TagId::random()).await, TagId::random())).is_err()
    );
    assert_eq!(revision(&store, org).await, after_open, "refused writes");

    // A transaction dropped without commit: its rule is never seen, and the next write (on
    // SQLite, the same writer connection, which rolls the open transaction back first) works.
    let rules_of_g = |store: Arc<dyn Store>| async move {
        store.read().await.unwrap().list_rules(g.id, PageRequest::all()).await.unwrap().items.len()
    };
    let rules_before = rules_of_g(store.clone()).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_rule(&grants::grant(org), &rule(g.id, Direction::Inbound, "443")).await.unwrap();
    drop(tx);
    assert_eq!(revision(&store, org).await, after_open, "a rolled-back transaction");

    // Writes that cannot change any server's policy.
    let ip = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, &net, IpVersion::V4)).organization_id),
            &ip_request(org, &net, IpVersion::V4)
        )
    )
    .unwrap();
    let patch = IpAddressPatch { label: Some(Some("web".into())), ..Default::default() };
    once!(store, update_ip_address(&grants::grant(org), ip.id, &patch)).unwrap();
    once!(store, release_ip_address(&grants::grant(org), ip.id)).unwrap();
    assert_eq!(rules_of_g(store.clone()).await, rules_before, "the dropped transaction's rule");
    let (_, hash) = new_token_secret(ApiTokenId::random());
    once!(store, insert_api_token(&grants::grant((token(org)).organization_id), &token(org), &hash)).unwrap();
    let patch = OrganizationPatch { name: Some("Renamed".into()), ..Default::default() };
    once!(store, update_organization(&grants::op(), org, &patch, now())).unwrap();
    assert_eq!(revision(&store, org).await, after_open, "writes outside policy");

    // Another organization's writes.
    let other = organization("elsewhere");
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    once!(
        store,
        insert_security_group(
            &grants::grant((group(other.id, "theirs")).organization_id),
            &group(other.id, "theirs"),
            &[]
        )
    )
    .unwrap();
    assert_eq!(revision(&store, org).await, after_open, "another organization's writes");
    assert_eq!(revision(&store, other.id).await, 1);
}

/// One transaction with several writes bumps each organization it touched once, at commit.
pub async fn one_transaction_bumps_each_organization_once(store: Arc<dyn Store>) {
    let a = organization("tx-a");
    let b = organization("tx-b");
    once!(store, insert_organization(&grants::op(), &a)).unwrap();
    once!(store, insert_organization(&grants::op(), &b)).unwrap();
    let ga = group(a.id, "a");
    let mut tx = store.write().await.unwrap();
    let (in_a, in_b) = (grants::grant(a.id), grants::grant(b.id));
    tx.insert_security_group(&in_a, &ga, &[]).await.unwrap();
    tx.insert_rule(&in_a, &rule(ga.id, Direction::Inbound, "22")).await.unwrap();
    tx.insert_rule(&in_a, &rule(ga.id, Direction::Inbound, "80")).await.unwrap();
    tx.insert_security_group(&in_b, &group(b.id, "b"), &[]).await.unwrap();
    assert_eq!(tx.policy_revision(a.id).await.unwrap(), 0, "not before commit");
    tx.commit().await.unwrap();
    assert_eq!((revision(&store, a.id).await, revision(&store, b.id).await), (1, 1));
    let rules = once!(store, list_rules(ga.id, PageRequest::all())).unwrap();
    assert_eq!(rules.total, 2, "every write of the transaction landed");
}

// ---------------------------------------------------------------- servers in server groups

/// A server is in at most one server group of its own organization (Katapult's
/// `VirtualMachine.group`): every read gives it, each change bumps the organization's policy
/// revision exactly once, another organization's group (or a missing one) is not found and
/// changes nothing, and deleting the group leaves its servers in none.
pub async fn servers_join_one_server_group_of_their_organization(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["10.7.0.0/24"], &[]).await;
    let other = organization("vmg-other");
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    let (mine, theirs) = (grants::grant(org), grants::grant(other.id));
    let (front, back) = (server_group(org, "front"), server_group(org, "back"));
    once!(store, insert_server_group(&mine, &front)).unwrap();
    once!(store, insert_server_group(&mine, &back)).unwrap();
    let foreign = server_group(other.id, "foreign");
    once!(store, insert_server_group(&theirs, &foreign)).unwrap();
    let mut web = server(org, net.id, &["10.7.0.10"]);
    once!(store, insert_server(&mine, &web, &claims(&web))).unwrap();
    assert_eq!(once!(store, server(org, web.id)).unwrap().unwrap().server_group, None);

    // Every read of the server gives its group.
    let reads_agree = |store: Arc<dyn Store>, expected: Server| async move {
        let mut r = store.read().await.unwrap();
        assert_eq!(r.server(org, expected.id).await.unwrap().as_ref(), Some(&expected), "server");
        assert_eq!(r.server_anywhere(expected.id).await.unwrap().as_ref(), Some(&expected), "anywhere");
        let listed = r.list_servers(org, PageRequest::all()).await.unwrap().items;
        assert!(listed.contains(&expected), "list: {listed:?}");
        drop(r);
        let snapshot = store.policy_snapshot(org).await.unwrap();
        assert_eq!(snapshot.server(expected.id), Some(&expected), "snapshot");
    };
    web.server_group = Some(front.id);
    bumps_once!(store, org, "joining a group", once!(store, update_server(&mine, &web)).unwrap());
    reads_agree(store.clone(), web.clone()).await;
    web.server_group = Some(back.id);
    bumps_once!(store, org, "moving to another group", once!(store, update_server(&mine, &web)).unwrap());
    reads_agree(store.clone(), web.clone()).await;

    // Another organization's group, a missing one, and a write under another organization's
    // grant: refused, nothing changed, no revision.
    let before = revision(&store, org).await;
    let stray = Server { server_group: Some(foreign.id), ..web.clone() };
    assert_eq!(once!(store, update_server(&mine, &stray)), Err(Error::not_found("virtual machine group")));
    let missing = Server { server_group: Some(ServerGroupId::random()), ..web.clone() };
    assert_eq!(once!(store, update_server(&mine, &missing)), Err(Error::not_found("virtual machine group")));
    assert_eq!(once!(store, update_server(&theirs, &web)), Err(Error::not_found("server")));
    let theirs_claimed = Server { organization_id: other.id, ..web.clone() };
    assert_eq!(once!(store, update_server(&theirs, &theirs_claimed)), Err(Error::not_found("server")));
    let mut joining = server(org, net.id, &["10.7.0.11"]);
    joining.server_group = Some(foreign.id);
    assert_eq!(
        once!(store, insert_server(&mine, &joining, &claims(&joining))),
        Err(Error::not_found("virtual machine group")),
        "a new server cannot join another organization's group either"
    );
    assert_eq!(once!(store, server(org, joining.id)).unwrap(), None);
    assert_eq!(revision(&store, org).await, before, "refused writes bump nothing");
    reads_agree(store.clone(), web.clone()).await;

    // Name and tags are written with the group, and the server is locked to be read for it.
    web.name = "web-renamed".into();
    web.tags = vec!["env:staging".into()];
    web.server_group = None;
    bumps_once!(store, org, "leaving the group", once!(store, update_server(&mine, &web)).unwrap());
    assert_eq!(once!(store, server_for_update(web.id)).unwrap(), Some(web.clone()));
    reads_agree(store.clone(), web.clone()).await;
    let addresses = once!(store, server_ip_addresses(org, web.id)).unwrap();
    assert_eq!(addresses.iter().map(|a| a.address).collect::<Vec<_>>(), vec![addr("10.7.0.10")]);
    assert!(once!(store, server_ip_addresses(other.id, web.id)).unwrap().is_empty());

    // A new server may be created in a group of its own organization.
    joining.server_group = Some(front.id);
    once!(store, insert_server(&mine, &joining, &claims(&joining))).unwrap();
    reads_agree(store.clone(), joining.clone()).await;

    // Deleting the group takes its servers out of it (one bump, for the deletion).
    web.server_group = Some(front.id);
    once!(store, update_server(&mine, &web)).unwrap();
    bumps_once!(
        store,
        org,
        "deleting the group",
        once!(store, delete_server_group(&mine, front.id)).unwrap()
    );
    web.server_group = None;
    joining.server_group = None;
    reads_agree(store.clone(), web.clone()).await;
    reads_agree(store.clone(), joining.clone()).await;
    let snapshot = store.policy_snapshot(org).await.unwrap();
    assert_eq!(snapshot.server_groups.iter().map(|g| g.id).collect::<Vec<_>>(), vec![back.id]);
}

/// A host's name is mirrored in its attributes (unique per network): renaming its server moves
/// the mirror, and a name another host of the network has is refused with nothing changed.
pub async fn renaming_a_hosts_server_keeps_host_names_unique(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["10.6.0.0/24"], &[]).await;
    let mine = grants::grant(org);
    let a = once!(store, insert_host(&mine, &host(org, net.id, "a", None), &[], None)).unwrap();
    let b = once!(store, insert_host(&mine, &host(org, net.id, "b", None), &[], None)).unwrap();
    let mut renamed = a.server.clone();
    renamed.name = "c".into();
    once!(store, update_server(&mine, &renamed)).unwrap();
    assert_eq!(once!(store, host(org, a.server.id)).unwrap().unwrap().server.name, "c");
    // "a" is free again, "b" is taken.
    let again = once!(store, insert_host(&mine, &host(org, net.id, "a", None), &[], None));
    assert!(again.is_ok(), "{again:?}");
    let mut clash = b.server.clone();
    clash.name = "c".into();
    assert_eq!(
        once!(store, update_server(&mine, &clash)),
        Err(Error::AlreadyExists { kind: "server", field: "name".into() })
    );
    assert_eq!(once!(store, host(org, b.server.id)).unwrap().unwrap().server.name, "b");
}

// ---------------------------------------------------------------- grants

/// A write is confined to its grant's organization: another organization's objects are not
/// found through it, whatever they are named by, and an object of another organization is not
/// inserted under it. Nothing changes.
pub async fn grants_confine_writes_to_their_organization(store: Arc<dyn Store>) {
    let (mine, theirs) = (organization("grant-mine"), organization("grant-theirs"));
    once!(store, insert_organization(&grants::op(), &mine)).unwrap();
    once!(store, insert_organization(&grants::op(), &theirs)).unwrap();
    let mut g = group(theirs.id, "theirs");
    g.members = vec![];
    let r = rule(g.id, Direction::Inbound, "22");
    g.serial =
        once!(store, insert_security_group(&grants::grant(theirs.id), &g, std::slice::from_ref(&r))).unwrap();
    let tag = Tag {
        id: TagId::random(),
        organization_id: theirs.id,
        name: "t".into(),
        color: "red".into(),
        created_at: now(),
    };
    once!(store, insert_tag(&grants::grant(theirs.id), &tag)).unwrap();
    let list = address_list(Some(theirs.id), "theirs");
    once!(store, insert_address_list(&grants::list_grant(Some(theirs.id)), &list)).unwrap();
    let before = revision(&store, theirs.id).await;

    let wrong = grants::grant(mine.id);
    let missing = |kind: &'static str| Err::<(), _>(Error::not_found(kind));
    let patch = SecurityGroupPatch { name: Some("stolen".into()), ..Default::default() };
    assert!(once!(store, update_security_group(&wrong, g.id, &patch, now())).is_err());
    assert_eq!(once!(store, delete_security_group(&wrong, g.id)), missing("security group"));
    let mut r2 = r.clone();
    r2.ports = port_ranges("2222");
    assert!(once!(store, replace_rule(&wrong, &r2)).is_err());
    assert!(once!(store, insert_rule(&wrong, &rule(g.id, Direction::Inbound, "80"))).is_err());
    assert_eq!(once!(store, delete_rule(&wrong, r.id)), missing("security group rule"));
    let renamed = Tag { name: "stolen".into(), ..tag.clone() };
    assert!(once!(store, update_tag(&wrong, &renamed)).is_err());
    assert_eq!(once!(store, delete_tag(&wrong, tag.id)), missing("tag"));
    let wrong_list = grants::list_grant(Some(mine.id));
    assert!(once!(store, delete_address_list(&wrong_list, list.id)).is_err());
    assert!(once!(store, delete_address_list(&grants::list_grant(None), list.id)).is_err());
    let entry = list.entries[0].clone();
    assert!(once!(store, delete_address_list_entry(&wrong_list, entry.id)).is_err());
    // Inserting their object under my grant.
    assert!(once!(store, insert_security_group(&wrong, &group(theirs.id, "planted"), &[])).is_err());

    assert_eq!(once!(store, security_group(g.id)).unwrap(), Some(g.clone()), "the group is untouched");
    assert_eq!(once!(store, rule(r.id)).unwrap(), Some(r), "the rule is untouched");
    assert_eq!(once!(store, tag(tag.id)).unwrap(), Some(tag), "the tag is untouched");
    assert_eq!(once!(store, address_list(list.id)).unwrap(), Some(list), "the list is untouched");
    assert_eq!(revision(&store, theirs.id).await, before);
    assert_eq!(revision(&store, mine.id).await, 0);
}

// ---------------------------------------------------------------- policy snapshot

use palisade_core::snapshot::PolicySnapshot;

/// Every item of a listing: one page large enough for a test's objects.
const ALL: PageRequest = PageRequest { page: 1, per_page: 1_000 };

fn tag_object(org: OrganizationId, name: &str) -> Tag {
    Tag {
        id: TagId::random(),
        organization_id: org,
        name: name.into(),
        color: "red".into(),
        created_at: now(),
    }
}

fn server_group(org: OrganizationId, name: &str) -> ServerGroup {
    ServerGroup {
        id: ServerGroupId::random(),
        organization_id: org,
        name: name.into(),
        segregate: true,
        created_at: now(),
    }
}

fn snapshot_list(org: Option<OrganizationId>, name: &str, addresses: &[&str]) -> AddressList {
    let id = AddressListId::random();
    AddressList {
        id,
        organization_id: org,
        name: name.into(),
        annotations: vec![Annotation { key: "source".into(), value: None }],
        entries: addresses
            .iter()
            .map(|a| AddressListEntry {
                id: AddressListEntryId::random(),
                list_id: id,
                address: (*a).into(),
                name: Some(format!("entry {a}")),
            })
            .collect(),
        created_at: now(),
    }
}

/// A data center with the two networks [`policy_fixture`] puts servers on: 10.20.0.0/24 and
/// 10.30.0.0/24.
async fn fixture_networks(store: &Arc<dyn Store>, name: &str) -> (Network, Network) {
    let dc = data_center(name);
    once!(store, insert_data_center(&grants::op(), &dc)).unwrap();
    let mut net = network(dc.id, None, false, None);
    net.prefixes = vec!["10.20.0.0/24".parse().unwrap()];
    once!(store, insert_network(&grants::op(), &net)).unwrap();
    let mut private = network(dc.id, None, false, None);
    private.prefixes = vec!["10.30.0.0/24".parse().unwrap()];
    once!(store, insert_network(&grants::op(), &private)).unwrap();
    (net, private)
}

/// Everything policy can depend on, for one organization: servers (one with two interfaces and
/// an address allocated after creation), tags, server groups, address lists, groups and roles
/// with members of every kind and rules naming every kind of remote, hosts with and without a
/// role. Returns the organization and its groups in creation order.
async fn policy_fixture(
    store: &Arc<dyn Store>,
    net: &Network,
    private: &Network,
    sub_domain: &str,
) -> (OrganizationId, Vec<SecurityGroupId>) {
    let org = organization(sub_domain);
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let org = org.id;
    let base = if sub_domain.ends_with("other") { 100 } else { 10 };
    let a = server(org, net.id, &[&format!("10.20.0.{base}")]);
    once!(store, insert_server(&grants::grant((a).organization_id), &a, &claims(&a))).unwrap();
    let mut b = server(org, net.id, &[&format!("10.20.0.{}", base + 1)]);
    b.name = "db".into();
    b.tags = vec!["env:staging".into()];
    b.interfaces.push(Interface {
        id: InterfaceId::random(),
        network_id: private.id,
        addresses: vec![addr(&format!("10.30.0.{base}"))],
    });
    once!(store, insert_server(&grants::grant((b).organization_id), &b, &claims(&b))).unwrap();
    // An address allocated to an interface after the server was created.
    let ip = once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, net, IpVersion::V4)).organization_id),
            &ip_request(org, net, IpVersion::V4)
        )
    )
    .unwrap();
    let allocation = Allocation { server_id: a.id, interface_id: a.interfaces[0].id };
    once!(store, set_ip_allocation(&grants::grant(org), ip.id, Some(allocation))).unwrap();
    // An address held but on no interface: not part of any server.
    once!(
        store,
        allocate_ip(
            &grants::grant((ip_request(org, net, IpVersion::V4)).organization_id),
            &ip_request(org, net, IpVersion::V4)
        )
    )
    .unwrap();

    let prod = tag_object(org, "env:prod");
    let staging = tag_object(org, "env:staging");
    once!(store, insert_tag(&grants::grant((prod).organization_id), &prod)).unwrap();
    once!(store, insert_tag(&grants::grant((staging).organization_id), &staging)).unwrap();
    let web_servers = server_group(org, "web servers");
    once!(store, insert_server_group(&grants::grant((web_servers).organization_id), &web_servers)).unwrap();
    // A server in a server group.
    let a = Server { server_group: Some(web_servers.id), ..a };
    once!(store, update_server(&grants::grant(org), &a)).unwrap();
    once!(
        store,
        insert_server_group(
            &grants::grant((server_group(org, "empty")).organization_id),
            &server_group(org, "empty")
        )
    )
    .unwrap();
    let office = snapshot_list(Some(org), "office", &["192.0.2.0/24", "198.51.100.7"]);
    once!(store, insert_address_list(&grants::list_grant((office).organization_id), &office)).unwrap();
    once!(
        store,
        insert_address_list(
            &grants::list_grant((snapshot_list(Some(org), "no entries", &[])).organization_id),
            &snapshot_list(Some(org), "no entries", &[])
        )
    )
    .unwrap();

    let mut groups = Vec::new();
    let mut web = group(org, "web");
    web.members = vec![Member::Tag(prod.id), Member::Server(b.id), Member::ServerGroup(web_servers.id)];
    web.allow_all_outbound = false;
    let mut db = group(org, "db");
    db.members = vec![Member::Server(a.id)];
    db.annotations = vec![];
    let mut from_web = rule(db.id, Direction::Inbound, "5432");
    from_web.remotes = vec![Remote::Group(web.id), Remote::AddressList(office.id)];
    let mut out = rule(web.id, Direction::Outbound, "");
    out.remotes = vec![Remote::Tag(staging.id), Remote::ServerGroup(web_servers.id), Remote::Server(a.id)];
    out.priority = Some(7);
    once!(
        store,
        insert_security_group(
            &grants::grant((web).organization_id),
            &web,
            &[rule(web.id, Direction::Inbound, "80,443"), out]
        )
    )
    .unwrap();
    once!(
        store,
        insert_security_group(&grants::grant((db).organization_id), &db, std::slice::from_ref(&from_web))
    )
    .unwrap();
    // A rule added later comes after the group's first ones.
    once!(
        store,
        insert_rule(
            &grants::group_grant(store, (rule(web.id, Direction::Inbound, "22")).group_id).await,
            &rule(web.id, Direction::Inbound, "22")
        )
    )
    .unwrap();
    let mut empty = group(org, "empty");
    empty.serial =
        once!(store, insert_security_group(&grants::grant((empty).organization_id), &empty, &[])).unwrap();
    groups.extend([web.id, db.id, empty.id]);

    // Roles and their hosts (a host without a role, too).
    let mut role = group(org, "lighthouse");
    role.kind = GroupKind::Role;
    let mut hosts_rule = rule(role.id, Direction::Inbound, "4242");
    hosts_rule.protocol = Protocol::Udp;
    hosts_rule.remotes = vec![Remote::Hosts { role: Some(role.id), tags: vec!["env:prod".into()] }];
    once!(store, insert_security_group(&grants::grant((role).organization_id), &role, &[hosts_rule]))
        .unwrap();
    let mut idle = group(org, "idle");
    idle.kind = GroupKind::Role;
    idle.serial =
        once!(store, insert_security_group(&grants::grant((idle).organization_id), &idle, &[])).unwrap();
    groups.extend([role.id, idle.id]);
    let mut lighthouse = host(org, private.id, "lh", Some(role.id));
    lighthouse.overlay.is_lighthouse = true;
    let mut request = ip_request(org, private, IpVersion::V4);
    request.allocation = Some(Allocation {
        server_id: lighthouse.server.id,
        interface_id: lighthouse.server.interfaces[0].id,
    });
    once!(
        store,
        insert_host(&grants::grant((lighthouse).server.organization_id), &lighthouse, &[], Some(&request))
    )
    .unwrap();
    once!(
        store,
        insert_host(
            &grants::grant((host(org, private.id, "roleless", None)).server.organization_id),
            &host(org, private.id, "roleless", None),
            &[],
            None
        )
    )
    .unwrap();
    (org, groups)
}

/// The snapshot holds exactly what the per-object reads give, in their order: the organization's
/// objects of every kind and the global address lists, nothing of another organization.
pub async fn policy_snapshot_equals_the_per_object_reads(store: Arc<dyn Store>) {
    let (net, private) = fixture_networks(&store, "snap-dc").await;
    let global = snapshot_list(None, "blocklist", &["203.0.113.0/24"]);
    once!(store, insert_address_list(&grants::list_grant((global).organization_id), &global)).unwrap();
    let (org, groups) = policy_fixture(&store, &net, &private, "snap").await;
    // Another organization with objects of every kind, created after: none may appear.
    let (other, _) = policy_fixture(&store, &net, &private, "snap-other").await;

    let snapshot = store.policy_snapshot(org).await.unwrap();
    let revision = revision(&store, org).await;
    assert!(revision > 0, "the fixture's writes moved the revision");
    assert_eq!((snapshot.organization_id, snapshot.revision), (org, revision));

    // Groups and roles, in creation order, each as read alone, with its rules.
    assert_eq!(snapshot.groups.iter().map(|g| g.group.id).collect::<Vec<_>>(), groups);
    for g in &snapshot.groups {
        assert_eq!(Some(&g.group), once!(store, security_group(g.group.id)).unwrap().as_ref());
        assert_eq!(*g.rules, once!(store, list_rules(g.group.id, ALL)).unwrap().items, "{}", g.group.name);
    }
    assert_eq!(snapshot.rule_count(), 5);
    for kind in [GroupKind::SecurityGroup, GroupKind::Role] {
        let listed = once!(store, list_security_groups(org, kind, &GroupFilter::default(), ALL)).unwrap();
        let ours: Vec<SecurityGroup> = snapshot.groups_of(kind).map(|g| g.group.clone()).collect();
        assert_eq!(ours, listed.items);
    }

    // Servers (hosts included) with their interfaces, addresses and tags.
    assert_eq!(snapshot.servers, once!(store, list_servers(org, ALL)).unwrap().items);
    assert_eq!(snapshot.servers.len(), 4);
    assert_eq!(snapshot.servers[0].interfaces[0].addresses.len(), 2, "the allocated address is there");
    assert_eq!(snapshot.servers[1].interfaces.len(), 2);
    for s in &snapshot.servers {
        assert_eq!(Some(s), once!(store, server(org, s.id)).unwrap().as_ref());
    }

    assert_eq!(snapshot.server_groups, once!(store, list_server_groups(org, ALL)).unwrap().items);
    assert_eq!(snapshot.tags, once!(store, list_tags(org, ALL)).unwrap().items);
    assert_eq!(snapshot.address_lists, once!(store, list_address_lists(Some(org), ALL)).unwrap().items);
    assert_eq!(snapshot.global_address_lists, vec![global.clone()]);
    assert_eq!(snapshot.global_address_lists, once!(store, list_address_lists(None, ALL)).unwrap().items);
    assert_eq!((snapshot.server_groups.len(), snapshot.tags.len(), snapshot.address_lists.len()), (2, 2, 2));

    // Hosts with their roles: whole, as the host reads give them.
    let hosts = once!(store, list_hosts(org, HostFilter::default(), ALL)).unwrap().items;
    let ours: Vec<Host> = snapshot.hosts.iter().map(|h| snapshot.host(h.server_id).unwrap()).collect();
    assert_eq!(ours, hosts);
    assert_eq!(ours.iter().map(|h| h.role.is_some()).collect::<Vec<_>>(), [true, false]);

    // The other organization's snapshot is its own, with the same global lists.
    let theirs = store.policy_snapshot(other).await.unwrap();
    assert_eq!(theirs.groups.len(), snapshot.groups.len());
    assert!(theirs.groups.iter().all(|g| g.group.organization_id == other));
    assert!(theirs.servers.iter().all(|s| s.organization_id == other));
    assert!(theirs.tags.iter().all(|t| t.organization_id == other));
    assert_eq!(theirs.servers, once!(store, list_servers(other, ALL)).unwrap().items);
    assert_eq!(theirs.global_address_lists, vec![global]);
    for (mine, theirs) in snapshot.groups.iter().zip(&theirs.groups) {
        assert_ne!(mine.group.id, theirs.group.id);
    }
}

/// An organization with nothing has an empty snapshot (but for the global lists, which every
/// organization sees); so has one that does not exist.
pub async fn policy_snapshot_of_an_empty_organization_is_empty(store: Arc<dyn Store>) {
    let org = organization("snap-empty");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    assert_eq!(store.policy_snapshot(org.id).await.unwrap(), PolicySnapshot::empty(org.id));
    // Another organization's objects change nothing.
    let (net, private) = fixture_networks(&store, "snap-empty-dc").await;
    policy_fixture(&store, &net, &private, "snap-empty-other").await;
    assert_eq!(store.policy_snapshot(org.id).await.unwrap(), PolicySnapshot::empty(org.id));
    let missing = OrganizationId::random();
    assert_eq!(store.policy_snapshot(missing).await.unwrap(), PolicySnapshot::empty(missing));
    // A global list is everybody's.
    let global = snapshot_list(None, "global", &["203.0.113.9"]);
    once!(store, insert_address_list(&grants::list_grant((global).organization_id), &global)).unwrap();
    // It bumps every organization's revision, this one's too.
    let want =
        PolicySnapshot { global_address_lists: vec![global], revision: 1, ..PolicySnapshot::empty(org.id) };
    assert_eq!(store.policy_snapshot(org.id).await.unwrap(), want);
}

/// A snapshot is one state of the database, even while writes commit: a writer changes, in each
/// transaction, a group's description (its row: the round), members, annotations and rules
/// (three other tables, read by three other queries) to the same count, `round % 8`; every
/// snapshot sees all four agree. Reads that were not one transaction (or PostgreSQL's READ
/// COMMITTED, where each statement sees its own state) catch some between two commits.
pub async fn policy_snapshot_is_one_state_under_concurrent_writes(store: Arc<dyn Store>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let org = organization("snap-race");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let dc = data_center("snap-race-dc");
    once!(store, insert_data_center(&grants::op(), &dc)).unwrap();
    let net = network(dc.id, None, false, None);
    once!(store, insert_network(&grants::op(), &net)).unwrap();
    let mut servers = Vec::new();
    for _ in 0..8 {
        let s = server(org.id, net.id, &[]);
        once!(store, insert_server(&grants::grant((s).organization_id), &s, &[])).unwrap();
        servers.push(Member::Server(s.id));
    }
    let mut g = group(org.id, "racing");
    g.description = Some("0".into());
    g.annotations = vec![];
    g.serial = once!(store, insert_security_group(&grants::grant((g).organization_id), &g, &[])).unwrap();

    const ROUNDS: usize = 80;
    let done = Arc::new(AtomicBool::new(false));
    // The writer starts once every reader has taken its first snapshot.
    let started = Arc::new(tokio::sync::Barrier::new(3));
    let writer = {
        let (store, done, started) = (store.clone(), done.clone(), started.clone());
        tokio::spawn(async move {
            started.wait().await;
            for round in 1..=ROUNDS {
                let k = round % 8;
                let patch = SecurityGroupPatch {
                    description: Some(Some(round.to_string())),
                    members: Some(servers[..k].to_vec()),
                    annotations: Some(
                        (0..k).map(|i| Annotation { key: format!("k{i}"), value: None }).collect(),
                    ),
                    rules: Some(
                        (0..k).map(|i| rule(g.id, Direction::Inbound, &format!("{}", 100 + i))).collect(),
                    ),
                    ..Default::default()
                };
                once!(
                    store,
                    update_security_group(&grants::group_grant(&store, g.id).await, g.id, &patch, now())
                )
                .unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (store, done, started) = (store.clone(), done.clone(), started.clone());
        readers.push(tokio::spawn(async move {
            let mut rounds = std::collections::BTreeSet::new();
            for taken in 0usize.. {
                if taken == 1 {
                    started.wait().await;
                }
                let last = done.load(Ordering::SeqCst);
                let snapshot = store.policy_snapshot(org.id).await.unwrap();
                let read = snapshot.group(g.id).unwrap();
                let round: usize = read.group.description.as_deref().unwrap().parse().unwrap();
                let counts = (read.group.members.len(), read.group.annotations.len(), read.rules.len());
                let k = round % 8;
                assert_eq!(counts, (k, k, k), "a snapshot of round {round} mixes states");
                assert_eq!(
                    read.group.members,
                    snapshot.servers[..k].iter().map(|s| Member::Server(s.id)).collect::<Vec<_>>()
                );
                rounds.insert(round);
                if last {
                    assert_eq!(round, ROUNDS, "the last snapshot sees the last write");
                    break;
                }
            }
            rounds.len()
        }));
    }
    writer.await.unwrap();
    for reader in readers {
        let rounds = reader.await.unwrap();
        assert!(rounds >= 3, "the snapshots saw {rounds} states: the reads did not overlap the writes");
    }
}

// ---------------------------------------------------------------- enforcement

/// Whether an announcement comes within `wait`.
async fn woken(sub: &mut palisade_core::changes::Subscription, wait: std::time::Duration) -> bool {
    tokio::time::timeout(wait, sub.changed()).await.is_ok()
}

/// A committed policy change is announced to the organization's waiters (and only to its), a
/// rolled-back one is not; agents' reports are stored per server, a failed attempt keeping the
/// rules last applied, and they bump no revision.
pub async fn policy_changes_are_announced_and_reports_kept(store: Arc<dyn Store>) {
    use std::time::Duration;
    let (org, net) = ipam_fixture(&store, &["10.9.0.0/24"], &[]).await;
    let other = organization("announced-elsewhere");
    once!(store, insert_organization(&grants::op(), &other)).unwrap();
    let changes = store.policy_changes();
    let mut sub = changes.subscribe(org);
    // A listener that starts (PostgreSQL's, at the first subscription) may have missed
    // announcements: it wakes every waiter once it listens. Let that pass.
    woken(&mut sub, Duration::from_millis(500)).await;
    once!(store, insert_security_group(&grants::grant(other.id), &group(other.id, "theirs"), &[])).unwrap();
    assert!(!woken(&mut sub, Duration::from_millis(200)).await, "another organization's change");
    let mut tx = store.write().await.unwrap();
    tx.insert_security_group(&grants::grant(org), &group(org, "dropped"), &[]).await.unwrap();
    drop(tx);
    assert!(!woken(&mut sub, Duration::from_millis(200)).await, "a rolled-back change");
    once!(store, insert_security_group(&grants::grant(org), &group(org, "kept"), &[])).unwrap();
    assert!(woken(&mut sub, Duration::from_millis(200)).await, "a committed change");

    let s = server(org, net.id, &[]);
    once!(store, insert_server(&grants::grant(org), &s, &[])).unwrap();
    assert!(woken(&mut sub, Duration::from_millis(200)).await, "a new server");
    // On PostgreSQL the commit is announced twice: at once to this node, then through NOTIFY.
    while woken(&mut sub, Duration::from_millis(300)).await {}
    assert_eq!(sub.announced(), Some(revision(&store, org).await), "announced with its revision");
    let start = revision(&store, org).await;
    assert_eq!(store.read().await.unwrap().enforcement(org, s.id).await.unwrap(), None);
    let at = time::OffsetDateTime::from_unix_timestamp(now().unix_timestamp()).unwrap();
    let applied = EnforcementReport {
        server_id: s.id,
        applied_revision: Some(start),
        applied_digest: Some("d1".into()),
        applied_at: Some(at),
        last_error: None,
        reported_at: at,
    };
    once!(store, report_enforcement(&grants::grant(org), &applied)).unwrap();
    let read =
        |store: Arc<dyn Store>| async move { store.read().await.unwrap().enforcement(org, s.id).await };
    assert_eq!(read(store.clone()).await.unwrap(), Some(applied.clone()));
    let failed = EnforcementReport {
        applied_revision: None,
        applied_digest: None,
        applied_at: None,
        last_error: Some("nft: no such file".into()),
        ..applied.clone()
    };
    once!(store, report_enforcement(&grants::grant(org), &failed)).unwrap();
    let kept = read(store.clone()).await.unwrap().unwrap();
    assert_eq!((kept.applied_revision, kept.applied_digest.as_deref()), (Some(start), Some("d1")));
    assert_eq!(kept.last_error.as_deref(), Some("nft: no such file"));
    assert!(matches!(
        once!(store, report_enforcement(&grants::grant(other.id), &applied)),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(revision(&store, org).await, start, "reports change no policy");
    assert!(!woken(&mut sub, Duration::from_millis(200)).await, "nor announce any");
}

/// The audit trail: events read back as written (their changes' JSON included), newest first,
/// and each filter selects what it names.
pub async fn audit_events_read_back_newest_first_and_filter(store: Arc<dyn Store>) {
    use palisade_core::audit::{Actor, AuditEvent, AuditFilter, FieldChange, ObjectKind, Verb};
    use palisade_core::id::{ApiTokenId, AuditEventId, OrganizationId};

    let (a, b) = (OrganizationId::random(), OrganizationId::random());
    let token = Actor::Token(ApiTokenId::random());
    let at = now();
    let event = |org, actor, kind, ago: i64, request: &str| AuditEvent {
        id: AuditEventId::random(),
        at: at - time::Duration::seconds(ago),
        organization_id: org,
        actor,
        face: "native".into(),
        request_id: Some(request.into()),
        operation: Verb::Update,
        object_kind: kind,
        object_id: "7d2c".into(),
        changes: vec![FieldChange {
            field: "name".into(),
            before: serde_json::json!("a"),
            after: serde_json::json!({"nested": [1, null, "ü"]}),
        }],
    };
    let written = [
        event(Some(a), Actor::Operator, ObjectKind::Tag, 30, "r1"),
        event(Some(a), token, ObjectKind::Rule, 20, "r2"),
        event(Some(b), token, ObjectKind::Tag, 10, "r3"),
        event(None, Actor::Operator, ObjectKind::DataCenter, 5, "r4"),
    ];
    for e in &written {
        once!(store, record_audit(e)).unwrap();
    }
    let [e0, e1, e2, e3] = written;
    let listed = |filter: AuditFilter| {
        let store = store.clone();
        async move { once!(store, list_audit_events(&filter, PageRequest::default())).unwrap().items }
    };
    let all = AuditFilter::default();
    assert_eq!(listed(all.clone()).await, [e3.clone(), e2.clone(), e1.clone(), e0.clone()]);
    assert_eq!(
        listed(AuditFilter { organization_id: Some(a), ..all.clone() }).await,
        [e1.clone(), e0.clone()]
    );
    assert_eq!(listed(AuditFilter { actor: Some(token), ..all.clone() }).await, [e2.clone(), e1.clone()]);
    assert_eq!(
        listed(AuditFilter { actor: Some(Actor::Operator), ..all.clone() }).await,
        [e3.clone(), e0.clone()]
    );
    let tags =
        AuditFilter { object_kind: Some(ObjectKind::Tag), object_id: Some("7d2c".into()), ..all.clone() };
    assert_eq!(listed(tags).await, [e2.clone(), e0.clone()]);
    assert_eq!(
        listed(AuditFilter { request_id: Some("r2".into()), ..all.clone() }).await,
        std::slice::from_ref(&e1)
    );
    let window = AuditFilter {
        since: Some(at - time::Duration::seconds(25)),
        until: Some(at - time::Duration::seconds(10)),
        ..all.clone()
    };
    assert_eq!(listed(window).await, std::slice::from_ref(&e1));
    let second = once!(store, list_audit_events(&all, PageRequest { page: 2, per_page: 3 })).unwrap();
    assert_eq!((second.items, second.total), (vec![e0], 4));

    // A retention deletes the events recorded before its cutoff, and those only.
    let cutoff = at - time::Duration::seconds(15);
    let purged = once!(store, purge_audit_events(&grants::op(), cutoff)).unwrap();
    assert_eq!(purged, 2);
    assert_eq!(listed(all).await, [e3, e2]);
}

/// A snapshot keeps the servers it read (with their interfaces, addresses and tags) while their
/// revision stays, so one after a write of groups or rules reads none; after a server write, it
/// keeps those whose version did not move. Whoever writes (this store or another node, `other`),
/// the next snapshot of either shows the servers as the per-object reads do after every kind of
/// write that changes a server: one inserted, renamed with other tags and a server group, an
/// address allocated to an interface, detached, attached again and detached, its server
/// group deleted, a host inserted and changed, a server deleted; and after writes of groups,
/// rules and address lists, the servers as they were.
pub async fn policy_snapshots_keep_servers_only_while_unchanged(
    store: Arc<dyn Store>,
    other: Arc<dyn Store>,
) {
    let (net, private) = fixture_networks(&store, "kept-servers-dc").await;
    let (org, groups) = policy_fixture(&store, &net, &private, "kept-servers").await;
    let grant = grants::grant(org);
    /// Each node's snapshot against the per-object reads; the servers.
    async fn check(nodes: [&Arc<dyn Store>; 2], org: OrganizationId, what: &str) -> Vec<Server> {
        let store = nodes[0];
        let servers = once!(store, list_servers(org, ALL)).unwrap().items;
        let hosts = once!(store, list_hosts(org, HostFilter::default(), ALL)).unwrap().items;
        for node in nodes {
            let s = node.policy_snapshot(org).await.unwrap();
            assert_eq!(s.servers, servers, "servers after {what}");
            let ours: Vec<Host> = s.hosts.iter().map(|h| s.host(h.server_id).unwrap()).collect();
            assert_eq!(ours, hosts, "hosts after {what}");
        }
        servers
    }
    let nodes = [&store, &other];
    let servers = check(nodes, org, "the fixture").await;

    let mut new = server(org, net.id, &["10.20.0.50"]);
    new.tags = vec!["env:new".into()];
    once!(other, insert_server(&grant, &new, &claims(&new))).unwrap();
    check(nodes, org, "a server inserted").await;

    let kept_group = server_group(org, "kept");
    once!(store, insert_server_group(&grant, &kept_group)).unwrap();
    let renamed = Server {
        name: "renamed".into(),
        tags: vec!["a".into(), "b".into()],
        server_group: Some(kept_group.id),
        ..new.clone()
    };
    once!(other, update_server(&grant, &renamed)).unwrap();
    check(nodes, org, "a server renamed, with tags and a server group").await;

    let mut request = ip_request(org, &net, IpVersion::V4);
    request.allocation = Some(Allocation { server_id: new.id, interface_id: new.interfaces[0].id });
    let ip = once!(store, allocate_ip(&grant, &request)).unwrap();
    let allocated = check(nodes, org, "an address allocated to an interface").await;
    assert_eq!(allocated.iter().find(|s| s.id == new.id).unwrap().interfaces[0].addresses.len(), 2);
    once!(other, set_ip_allocation(&grant, ip.id, None)).unwrap();
    check(nodes, org, "an address detached").await;
    once!(store, set_ip_allocation(&grant, ip.id, request.allocation)).unwrap();
    let attached = check(nodes, org, "an address attached again").await;
    assert_eq!(attached.iter().find(|s| s.id == new.id).unwrap().interfaces[0].addresses.len(), 2);
    once!(other, set_ip_allocation(&grant, ip.id, None)).unwrap();
    check(nodes, org, "an address detached again").await;

    once!(other, delete_server_group(&grant, kept_group.id)).unwrap();
    let after = check(nodes, org, "its server group deleted").await;
    assert_eq!(after.iter().find(|s| s.id == new.id).unwrap().server_group, None);

    let mut h = host(org, private.id, "kept-host", None);
    once!(store, insert_host(&grant, &h, &[], None)).unwrap();
    check(nodes, org, "a host inserted").await;
    h.server.name = "kept-host-2".into();
    h.server.tags = vec!["t".into()];
    once!(other, update_host(&grant, &h)).unwrap();
    check(nodes, org, "a host renamed with tags").await;

    once!(store, delete_server(&grant, new.id)).unwrap();
    let now_servers = check(nodes, org, "a server deleted").await;
    assert_eq!(now_servers.len(), servers.len() + 1, "the host stays");

    // Writes of groups, rules and address lists leave the servers as they are.
    let g = group(org, "kept-servers-web");
    once!(other, insert_security_group(&grant, &g, &[rule(g.id, Direction::Inbound, "22")])).unwrap();
    once!(store, insert_rule(&grant, &rule(groups[0], Direction::Inbound, "8080"))).unwrap();
    let list = snapshot_list(Some(org), "kept", &["192.0.2.9"]);
    once!(other, insert_address_list(&grants::list_grant(Some(org)), &list)).unwrap();
    let unchanged = check(nodes, org, "writes of groups, rules and lists").await;
    assert_eq!(unchanged, now_servers);
}

/// A snapshot keeps the groups' rules it read (by group and rules version), so the next one
/// reads only the rules of groups a write touched. Whoever writes (this store or another node,
/// `other`, on the same database), the next snapshot shows every group's rules as they are now:
/// a rule replaced, added or deleted, the rules replaced wholesale (one under a kept id with other
/// remotes and ports), a direction's rules dropped by an allow-all flag, the group deleted and
/// made again under its id.
pub async fn policy_snapshots_keep_a_groups_rules_only_while_unchanged(
    store: Arc<dyn Store>,
    other: Arc<dyn Store>,
) {
    let org = organization("kept");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let grant = grants::grant(org.id);
    let mut g = group(org.id, "web");
    g.allow_all_outbound = false;
    let untouched = group(org.id, "untouched");
    let rules: Vec<Rule> =
        ["22", "80,443", "1000-2000"].iter().map(|p| rule(g.id, Direction::Inbound, p)).collect();
    once!(store, insert_security_group(&grant, &g, &rules)).unwrap();
    let kept_rules = vec![rule(untouched.id, Direction::Inbound, "25")];
    once!(store, insert_security_group(&grant, &untouched, &kept_rules)).unwrap();
    let rules_now = |s: &palisade_core::snapshot::PolicySnapshot| -> Vec<Rule> {
        s.groups.iter().filter(|p| p.group.id == g.id).flat_map(|p| p.rules.iter().cloned()).collect()
    };
    let check = |s: &palisade_core::snapshot::PolicySnapshot| {
        let untouched_now: Vec<Rule> = s
            .groups
            .iter()
            .filter(|p| p.group.id == untouched.id)
            .flat_map(|p| p.rules.iter().cloned())
            .collect();
        assert_eq!(untouched_now, kept_rules);
    };
    let first = store.policy_snapshot(org.id).await.unwrap();
    assert_eq!(rules_now(&first), rules);

    // Replaced on either node: the next snapshot of either shows it.
    for (writer, reader) in [(&other, &store), (&store, &store), (&store, &other)] {
        let mut changed = rules_now(&reader.policy_snapshot(org.id).await.unwrap())[0].clone();
        changed.remotes = vec![Remote::Cidr(format!("192.0.2.{}/32", changed.ports.len() + 7))];
        changed.ports.push(PortRange { from: 9000, to: 9000 });
        once!(writer, replace_rule(&grant, &changed)).unwrap();
        let seen = reader.policy_snapshot(org.id).await.unwrap();
        assert_eq!(rules_now(&seen)[0], changed);
        assert_eq!(rules_now(&seen), once!(reader, list_rules(g.id, ALL)).unwrap().items);
        check(&seen);
    }

    // The rules replaced wholesale on the other node, one of them under a kept id with other
    // children; then one more added and one deleted.
    let mut again = rules_now(&store.policy_snapshot(org.id).await.unwrap());
    again[1].remotes = vec![Remote::AnyIpv6];
    again[1].ports = port_ranges("53");
    again.remove(2);
    let patch = SecurityGroupPatch { rules: Some(again.clone()), ..Default::default() };
    once!(other, update_security_group(&grant, g.id, &patch, now())).unwrap();
    assert_eq!(rules_now(&store.policy_snapshot(org.id).await.unwrap()), again);
    let added = rule(g.id, Direction::Inbound, "8443");
    once!(other, insert_rule(&grant, &added)).unwrap();
    let mut with_added = again.clone();
    with_added.push(added.clone());
    assert_eq!(rules_now(&store.policy_snapshot(org.id).await.unwrap()), with_added);
    once!(other, delete_rule(&grant, again[0].id)).unwrap();
    let seen = store.policy_snapshot(org.id).await.unwrap();
    check(&seen);
    let seen = rules_now(&seen);
    assert_eq!(seen, once!(store, list_rules(g.id, ALL)).unwrap().items);
    assert_eq!(seen.iter().map(|r| r.id).collect::<Vec<_>>(), [again[1].id, added.id]);
    assert_eq!((seen[0].remotes.clone(), seen[0].ports.clone()), (vec![Remote::AnyIpv6], port_ranges("53")));

    // Rules replaced, then inbound allowed to all, on the other node: the inbound rules go.
    let one = vec![rule(g.id, Direction::Inbound, "7")];
    let patch = SecurityGroupPatch { rules: Some(one.clone()), ..Default::default() };
    once!(other, update_security_group(&grant, g.id, &patch, now())).unwrap();
    assert_eq!(rules_now(&store.policy_snapshot(org.id).await.unwrap()), one);
    let patch = SecurityGroupPatch { allow_all_inbound: Some(true), ..Default::default() };
    once!(other, update_security_group(&grant, g.id, &patch, now())).unwrap();
    assert_eq!(rules_now(&store.policy_snapshot(org.id).await.unwrap()), []);

    // Deleted and made again under its id, with other rules.
    once!(other, delete_security_group(&grant, g.id)).unwrap();
    let anew = vec![rule(g.id, Direction::Outbound, "123")];
    once!(other, insert_security_group(&grant, &g, &anew)).unwrap();
    let seen = store.policy_snapshot(org.id).await.unwrap();
    assert_eq!(rules_now(&seen), anew);
    check(&seen);
}
