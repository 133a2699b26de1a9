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
    now, Allocation, ApiToken, Country, DataCenter, Host, HostFilter, Interface, IpAddress, IpAddressPatch,
    IpFilter, IpRequest, Network, Organization, OrganizationPatch, OrganizationStatus, Overlay, Server, User,
};
use palisade_core::secret::{new_token_secret, PasswordDigest};
use palisade_core::{PageRequest, Scope, Store};

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
    store.insert_organization(&a).await.unwrap();
    assert_eq!(store.organization(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.organization_by_sub_domain("alpha").await.unwrap(), Some(a.clone()));
    assert_eq!(store.organization(OrganizationId::random()).await.unwrap(), None);

    let patch = OrganizationPatch {
        name: None,
        status: Some(OrganizationStatus::Suspended),
        resource_creation_restricted: Some(true),
    };
    let later = now() + time::Duration::seconds(5);
    let updated = store.update_organization(a.id, &patch, later).await.unwrap();
    assert_eq!(updated.status, OrganizationStatus::Suspended);
    assert!(updated.resource_creation_restricted);
    assert_eq!(updated.name, a.name);
    assert_eq!(updated.updated_at, later);
    assert_eq!(store.organization(a.id).await.unwrap(), Some(updated));
    assert_eq!(
        store.update_organization(OrganizationId::random(), &patch, later).await,
        Err(Error::not_found("organization"))
    );

    store.delete_organization(a.id).await.unwrap();
    assert_eq!(store.organization(a.id).await.unwrap(), None);
    assert_eq!(store.delete_organization(a.id).await, Err(Error::not_found("organization")));
}

pub async fn duplicate_sub_domain_is_already_exists(store: Arc<dyn Store>) {
    store.insert_organization(&organization("dup")).await.unwrap();
    let err = store.insert_organization(&organization("dup")).await.unwrap_err();
    assert_eq!(err, Error::AlreadyExists { kind: "organization", field: "sub_domain".into() });
}

pub async fn concurrent_duplicates_have_exactly_one_winner(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.insert_organization(&organization("race")).await }));
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
        store.insert_organization(&org).await.unwrap();
    }
    let page = store.list_organizations(PageRequest::new(Some(2), Some(3)).unwrap()).await.unwrap();
    assert_eq!(page.total, 7);
    assert_eq!(page.total_pages(), 3);
    assert_eq!(page.items.iter().map(|o| o.id).collect::<Vec<_>>(), ids[3..6]);
    let last = store.list_organizations(PageRequest::new(Some(3), Some(3)).unwrap()).await.unwrap();
    assert_eq!(last.items.iter().map(|o| o.id).collect::<Vec<_>>(), ids[6..]);
    let beyond = store.list_organizations(PageRequest::new(Some(9), Some(3)).unwrap()).await.unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 7);
}

pub async fn tokens_round_trip_and_revoke_once(store: Arc<dyn Store>) {
    let org = organization("tok");
    store.insert_organization(&org).await.unwrap();
    let t = token(org.id);
    let (secret, hash) = new_token_secret(t.id);
    store.insert_api_token(&t, &hash).await.unwrap();
    let creds = store.token_credentials(t.id).await.unwrap().unwrap();
    assert_eq!(creds.token, t);
    assert_eq!(creds.organization, org);
    assert!(creds.secret_hash.verify(secret.expose()));
    let page = store.list_api_tokens(org.id, PageRequest::default()).await.unwrap();
    assert_eq!(page.items, vec![t.clone()]);

    // Another organization cannot revoke it.
    let other = organization("other");
    store.insert_organization(&other).await.unwrap();
    assert_eq!(store.revoke_api_token(other.id, t.id, now()).await, Err(Error::not_found("api token")));

    // Concurrent revocations: exactly one succeeds, the rest conflict.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let (org, id) = (org.id, t.id);
        tasks.push(tokio::spawn(async move { store.revoke_api_token(org, id, now()).await }));
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
    assert!(store.token_credentials(t.id).await.unwrap().is_none(), "a revoked token must not authenticate");
    assert_eq!(store.list_api_tokens(org.id, PageRequest::default()).await.unwrap().total, 0);
    assert_eq!(
        store.revoke_api_token(org.id, ApiTokenId::random(), now()).await,
        Err(Error::not_found("api token"))
    );
    // A token for a missing organization is refused by the foreign key.
    let orphan = token(OrganizationId::random());
    let (_, hash) = new_token_secret(orphan.id);
    assert_eq!(store.insert_api_token(&orphan, &hash).await, Err(Error::not_found("organization")));
}

pub async fn users_round_trip(store: Arc<dyn Store>) {
    let org = organization("users");
    store.insert_organization(&org).await.unwrap();
    let user =
        User { id: UserId::random(), organization_id: org.id, username: "alice".into(), created_at: now() };
    let digest = PasswordDigest::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    store.insert_user(&user, &digest).await.unwrap();
    let creds = store.user_credentials("alice").await.unwrap().unwrap();
    assert_eq!((creds.user, creds.password, creds.organization), (user.clone(), digest.clone(), org.clone()));
    assert!(store.user_credentials("bob").await.unwrap().is_none());
    let again = User { id: UserId::random(), ..user.clone() };
    assert_eq!(
        store.insert_user(&again, &digest).await,
        Err(Error::AlreadyExists { kind: "user", field: "username".into() })
    );
    assert_eq!(store.list_users(org.id, PageRequest::default()).await.unwrap().items, vec![user]);
}

pub async fn settings_first_writer_wins(store: Arc<dyn Store>) {
    assert_eq!(store.setting("k").await.unwrap(), None);
    assert_eq!(store.init_setting("k", "first").await.unwrap(), "first");
    assert_eq!(store.init_setting("k", "second").await.unwrap(), "first");
    assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("first"));
}

pub async fn inventory_round_trip(store: Arc<dyn Store>) {
    let dc = data_center("uk-lon-01");
    store.insert_data_center(&dc).await.unwrap();
    assert_eq!(store.data_center(dc.id).await.unwrap(), Some(dc.clone()));
    assert_eq!(
        store.insert_data_center(&data_center("uk-lon-01")).await,
        Err(Error::AlreadyExists { kind: "data center", field: "permalink".into() })
    );
    assert_eq!(store.list_data_centers(PageRequest::default()).await.unwrap().items, vec![dc.clone()]);

    let org = organization("inv");
    store.insert_organization(&org).await.unwrap();
    let shared = network(dc.id, Some("public"), true, None);
    store.insert_network(&shared).await.unwrap();
    assert_eq!(store.network(shared.id).await.unwrap(), Some(shared.clone()));
    assert_eq!(
        store.insert_network(&network(dc.id, Some("public"), false, None)).await,
        Err(Error::AlreadyExists { kind: "network", field: "permalink".into() })
    );
    assert_eq!(
        store.insert_network(&network(dc.id, None, true, None)).await,
        Err(Error::AlreadyExists { kind: "default network", field: "data_center_id".into() })
    );
    let private = network(dc.id, None, false, Some(org.id));
    store.insert_network(&private).await.unwrap();
    let other = organization("inv2");
    store.insert_organization(&other).await.unwrap();
    assert_eq!(store.list_networks(None, PageRequest::default()).await.unwrap().total, 2);
    assert_eq!(
        store.list_networks(Some(org.id), PageRequest::default()).await.unwrap().items,
        vec![shared.clone(), private.clone()]
    );
    assert_eq!(
        store.list_networks(Some(other.id), PageRequest::default()).await.unwrap().items,
        vec![shared.clone()]
    );
    assert_eq!(
        store.insert_network(&network(DataCenterId::random(), None, false, None)).await,
        Err(Error::not_found("data center"))
    );

    let web = server(org.id, shared.id, &["203.0.113.10", "2001:db8::10"]);
    store.insert_server(&web, &claims(&web)).await.unwrap();
    assert_eq!(store.server(org.id, web.id).await.unwrap(), Some(web.clone()));
    assert_eq!(
        store.server(other.id, web.id).await.unwrap(),
        None,
        "servers are scoped to their organization"
    );
    let clash = server(org.id, shared.id, &["203.0.113.11", "203.0.113.10"]);
    assert_eq!(
        store.insert_server(&clash, &claims(&clash)).await,
        Err(Error::AlreadyExists { kind: "address", field: "interfaces[0].addresses[1]".into() })
    );
    assert_eq!(store.server(org.id, clash.id).await.unwrap(), None, "a failed insert leaves nothing behind");
    let db = server(org.id, shared.id, &["203.0.113.11"]);
    store.insert_server(&db, &claims(&db)).await.unwrap();
    let page = store.list_servers(org.id, PageRequest::default()).await.unwrap();
    assert_eq!(page.items, vec![web.clone(), db.clone()]);
    assert_eq!(store.delete_server(other.id, web.id).await, Err(Error::not_found("server")));
    store.delete_server(org.id, web.id).await.unwrap();
    assert_eq!(store.delete_server(org.id, web.id).await, Err(Error::not_found("server")));
    // Its addresses are free again.
    let again = server(org.id, shared.id, &["203.0.113.10"]);
    store.insert_server(&again, &claims(&again)).await.unwrap();
}

pub async fn deleting_an_organization_removes_what_it_owns(store: Arc<dyn Store>) {
    let dc = data_center("dc");
    store.insert_data_center(&dc).await.unwrap();
    let org = organization("gone");
    store.insert_organization(&org).await.unwrap();
    let private = network(dc.id, None, false, Some(org.id));
    store.insert_network(&private).await.unwrap();
    let t = token(org.id);
    let (_, hash) = new_token_secret(t.id);
    store.insert_api_token(&t, &hash).await.unwrap();
    let s = server(org.id, private.id, &["203.0.113.20"]);
    store.insert_server(&s, &claims(&s)).await.unwrap();

    store.delete_organization(org.id).await.unwrap();
    assert!(store.token_credentials(t.id).await.unwrap().is_none());
    assert_eq!(store.network(private.id).await.unwrap(), None);
    assert_eq!(store.server(org.id, s.id).await.unwrap(), None);
    assert_eq!(store.data_center(dc.id).await.unwrap(), Some(dc));
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
    store.insert_data_center(&dc).await.unwrap();
    let org = organization(&format!("o-{}", uuid::Uuid::new_v4().simple()));
    store.insert_organization(&org).await.unwrap();
    let mut net = network(dc.id, None, false, None);
    net.prefixes = prefixes.iter().map(|p| p.parse().unwrap()).collect();
    net.reserved = reserved.iter().map(|p| p.parse().unwrap()).collect();
    store.insert_network(&net).await.unwrap();
    (org.id, store.network(net.id).await.unwrap().unwrap())
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
        let ip = store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await.unwrap();
        assert_eq!(ip.prefix_len, 28);
        assert_eq!(ip.reverse_dns, format!("{}.rdns.example.net", ip.address.to_string().replace('.', "-")));
        got.push(ip.address);
    }
    let want: Vec<IpAddr> = (1..=14).map(|i| addr(&format!("198.51.100.{i}"))).collect();
    assert_eq!(got, want, "a /28 hands out .1 to .14 in order: never .0 or .15");
    assert_eq!(
        store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await,
        Err(Error::NoAvailableAddresses)
    );
    assert_eq!(
        store.allocate_ip(&ip_request(org, &net, IpVersion::V6)).await,
        Err(Error::NoAvailableAddresses)
    );
}

pub async fn reservations_and_claimed_addresses_are_skipped(store: Arc<dyn Store>) {
    let (org, net) =
        ipam_fixture(&store, &["198.51.100.0/28"], &["198.51.100.1/32", "198.51.100.8/30"]).await;
    let s = server(org, net.id, &["198.51.100.3"]);
    store.insert_server(&s, &claims(&s)).await.unwrap();
    let mut got = Vec::new();
    while let Ok(ip) = store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await {
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
        ips.push(store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await.unwrap());
    }
    store.release_ip_address(org, ips[3].id).await.unwrap();
    store.release_ip_address(org, ips[1].id).await.unwrap();
    assert_eq!(store.ip_address(org, ips[1].id).await.unwrap(), None);
    assert_eq!(store.release_ip_address(org, ips[1].id).await, Err(Error::not_found("ip address")));
    let next: Vec<IpAddr> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await.unwrap().address);
        }
        v
    };
    assert_eq!(next, vec![addr("198.51.100.2"), addr("198.51.100.4"), addr("198.51.100.7")]);
}

pub async fn ipv6_prefixes_up_to_a_48_allocate_sparsely(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["2001:db8:1::/48", "2001:db8:2::/64"], &[]).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let ip = store.allocate_ip(&ip_request(org, &net, IpVersion::V6)).await.unwrap();
        assert!(net.prefixes[0].contains(&ip.address), "{}", ip.address);
        assert_eq!(ip.prefix_len, 48);
        assert!(seen.insert(ip.address), "duplicate {}", ip.address);
    }
    // A /64 alone works the same way.
    let (org, net) = ipam_fixture(&store, &["2001:db8:3::/64"], &[]).await;
    let ip = store.allocate_ip(&ip_request(org, &net, IpVersion::V6)).await.unwrap();
    assert!(net.prefixes[0].contains(&ip.address));
    assert_ne!(ip.address, addr("2001:db8:3::"));
    // Small IPv6 prefixes are sequential, like IPv4.
    let (org, net) = ipam_fixture(&store, &["2001:db8:4::/126"], &[]).await;
    let got: Vec<IpAddr> = {
        let mut v = Vec::new();
        while let Ok(ip) = store.allocate_ip(&ip_request(org, &net, IpVersion::V6)).await {
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
        tasks.push(tokio::spawn(
            async move { store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await },
        ));
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
    store.insert_server(&s, &claims(&s)).await.unwrap();
    let iface = s.interfaces[0].id;
    let ip = store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await.unwrap();
    assert_eq!(ip.allocation, None);
    let allocation = Allocation { server_id: s.id, interface_id: iface };
    let allocated = store.set_ip_allocation(org, ip.id, Some(allocation)).await.unwrap();
    assert_eq!(allocated.allocation, Some(allocation));
    assert_eq!(
        store.set_ip_allocation(org, ip.id, Some(allocation)).await.unwrap().allocation,
        Some(allocation)
    );
    let listed = store.server(org, s.id).await.unwrap().unwrap();
    assert_eq!(listed.interfaces[0].addresses, vec![addr("198.51.100.50"), ip.address]);
    assert!(matches!(store.release_ip_address(org, ip.id).await, Err(Error::Conflict(_))));
    let filter = |allocated| IpFilter { allocated: Some(allocated) };
    assert_eq!(store.list_ip_addresses(org, filter(true), PageRequest::default()).await.unwrap().total, 2);
    assert_eq!(store.list_ip_addresses(org, filter(false), PageRequest::default()).await.unwrap().total, 0);

    // Another server's interface cannot take it while it is allocated.
    let other = server(org, net.id, &[]);
    store.insert_server(&other, &[]).await.unwrap();
    let elsewhere = Allocation { server_id: other.id, interface_id: other.interfaces[0].id };
    assert!(matches!(store.set_ip_allocation(org, ip.id, Some(elsewhere)).await, Err(Error::Conflict(_))));

    // Deleting the server releases its own address and only unallocates the other.
    store.delete_server(org, s.id).await.unwrap();
    let kept = store.ip_address(org, ip.id).await.unwrap().unwrap();
    assert_eq!(kept.allocation, None);
    assert_eq!(
        store.list_ip_addresses(org, IpFilter::default(), PageRequest::default()).await.unwrap().items,
        vec![kept]
    );
    // .50 went to the pool: a server may claim it back, and the cursor moves on meanwhile.
    let reclaimed = server(org, net.id, &["198.51.100.50"]);
    store.insert_server(&reclaimed, &claims(&reclaimed)).await.unwrap();
    let reused = store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await.unwrap();
    assert_eq!(reused.address, addr("198.51.100.2"));
    store.delete_server(org, reclaimed.id).await.unwrap();
    let pooled = store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await.unwrap();
    assert_eq!(pooled.address, addr("198.51.100.50"), "released addresses are reused first");

    let unallocated = store.set_ip_allocation(org, reused.id, None).await.unwrap();
    assert_eq!(unallocated.allocation, None);
    assert_eq!(
        store.set_ip_allocation(OrganizationId::random(), reused.id, None).await,
        Err(Error::not_found("ip address"))
    );
}

pub async fn deleting_an_organization_returns_its_addresses(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["198.51.100.0/30"], &[]).await;
    let a = store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await.unwrap();
    let b = store.allocate_ip(&ip_request(org, &net, IpVersion::V4)).await.unwrap();
    assert_eq!((a.address, b.address), (addr("198.51.100.1"), addr("198.51.100.2")));
    let other = organization("heir");
    store.insert_organization(&other).await.unwrap();
    assert_eq!(
        store.allocate_ip(&ip_request(other.id, &net, IpVersion::V4)).await,
        Err(Error::NoAvailableAddresses)
    );
    store.delete_organization(org).await.unwrap();
    let again = store.allocate_ip(&ip_request(other.id, &net, IpVersion::V4)).await.unwrap();
    assert_eq!(again.address, addr("198.51.100.1"));
}

pub async fn address_fields_update(store: Arc<dyn Store>) {
    let (org, net) = ipam_fixture(&store, &["198.51.100.0/24"], &[]).await;
    let mut request = ip_request(org, &net, IpVersion::V4);
    request.vip = true;
    request.label = Some("web".into());
    let ip = store.allocate_ip(&request).await.unwrap();
    assert_eq!((ip.vip, ip.label.as_deref()), (true, Some("web")));
    let patch =
        IpAddressPatch { vip: Some(false), label: Some(None), reverse_dns: Some("www.example.net".into()) };
    let updated = store.update_ip_address(org, ip.id, &patch).await.unwrap();
    assert_eq!(
        (updated.vip, updated.label.clone(), updated.reverse_dns.as_str()),
        (false, None, "www.example.net")
    );
    assert_eq!(store.ip_address(org, ip.id).await.unwrap(), Some(updated));
    assert_eq!(store.ip_address(OrganizationId::random(), ip.id).await.unwrap(), None);
    assert_eq!(
        store.update_ip_address(org, IpAddressId::random(), &IpAddressPatch::default()).await,
        Err(Error::not_found("ip address"))
    );
}

// ---------------------------------------------------------------- security groups and rules

use palisade_core::id::{RuleId, SecurityGroupId};
use palisade_core::policy::{
    parse_ports, Action, Annotation, Direction, GroupFilter, GroupKind, Member, Protocol, Remote, Rule,
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
        members: vec![],
        annotations: vec![Annotation { key: "env".into(), value: Some("prod".into()) }],
        created_at: at,
        updated_at: at,
    }
}

pub fn rule(group: SecurityGroupId, direction: Direction, ports: &str) -> Rule {
    Rule {
        id: RuleId::random(),
        group_id: group,
        direction,
        action: Action::Allow,
        protocol: Protocol::Tcp,
        ports: parse_ports(ports).unwrap(),
        priority: None,
        remotes: vec![Remote::AnyIpv4, Remote::Cidr("10.0.0.1/24".into())],
        description: Some("SSH".into()),
        created_at: now(),
    }
}

pub async fn security_groups_round_trip(store: Arc<dyn Store>) {
    let org = organization("sg");
    store.insert_organization(&org).await.unwrap();
    let dc = data_center("sg-dc");
    store.insert_data_center(&dc).await.unwrap();
    let net = network(dc.id, None, false, None);
    store.insert_network(&net).await.unwrap();
    let s = server(org.id, net.id, &[]);
    store.insert_server(&s, &[]).await.unwrap();

    let mut web = group(org.id, "web");
    web.members = vec![Member::Server(s.id)];
    store.insert_security_group(&web, &[]).await.unwrap();
    assert_eq!(store.security_group(web.id).await.unwrap(), Some(web.clone()));
    assert_eq!(
        store.insert_security_group(&group(org.id, "web"), &[]).await,
        Err(Error::AlreadyExists { kind: "security group", field: "name".into() })
    );
    // A role of the same name is another kind: allowed.
    let mut role = group(org.id, "web");
    role.kind = GroupKind::Role;
    store.insert_security_group(&role, &[]).await.unwrap();
    let mut db = group(org.id, "db");
    db.annotations = vec![Annotation { key: "env".into(), value: Some("staging".into()) }];
    store.insert_security_group(&db, &[]).await.unwrap();

    let all = store
        .list_security_groups(
            org.id,
            GroupKind::SecurityGroup,
            &GroupFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(all.items.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["web", "db"]);
    let prod =
        GroupFilter { annotations: vec![Annotation { key: "env".into(), value: Some("prod".into()) }] };
    let filtered = store
        .list_security_groups(org.id, GroupKind::SecurityGroup, &prod, PageRequest::default())
        .await
        .unwrap();
    assert_eq!((filtered.total, filtered.items[0].id), (1, web.id));

    let patch =
        SecurityGroupPatch { name: Some("frontend".into()), members: Some(vec![]), ..Default::default() };
    let updated = store.update_security_group(web.id, &patch, now()).await.unwrap();
    assert_eq!((updated.name.as_str(), updated.members.len(), updated.annotations.len()), ("frontend", 0, 1));
    let clash = SecurityGroupPatch { name: Some("db".into()), ..Default::default() };
    assert_eq!(
        store.update_security_group(web.id, &clash, now()).await,
        Err(Error::AlreadyExists { kind: "security group", field: "name".into() })
    );

    // Members go away with their server.
    let patch = SecurityGroupPatch { members: Some(vec![Member::Server(s.id)]), ..Default::default() };
    store.update_security_group(db.id, &patch, now()).await.unwrap();
    store.delete_server(org.id, s.id).await.unwrap();
    assert!(store.security_group(db.id).await.unwrap().unwrap().members.is_empty());

    store.delete_security_group(web.id).await.unwrap();
    assert_eq!(store.security_group(web.id).await.unwrap(), None);
    assert_eq!(store.delete_security_group(web.id).await, Err(Error::not_found("security group")));
}

pub async fn concurrent_group_names_have_one_winner(store: Arc<dyn Store>) {
    let org = organization("race-sg");
    store.insert_organization(&org).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.insert_security_group(&group(org.id, "same"), &[]).await },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(Error::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 1);
}

pub async fn rules_round_trip_and_respect_allow_all(store: Arc<dyn Store>) {
    let org = organization("rules");
    store.insert_organization(&org).await.unwrap();
    let g = group(org.id, "g");
    store.insert_security_group(&g, &[]).await.unwrap();
    let ssh = rule(g.id, Direction::Inbound, "22");
    store.insert_rule(&ssh).await.unwrap();
    assert_eq!(store.rule(ssh.id).await.unwrap(), Some(ssh.clone()));
    let web = rule(g.id, Direction::Inbound, "80,443,2000-3000");
    store.insert_rule(&web).await.unwrap();
    assert_eq!(
        store.list_rules(g.id, PageRequest::default()).await.unwrap().items,
        vec![ssh.clone(), web.clone()]
    );
    // The group allows all outbound traffic: no outbound rules.
    let out = rule(g.id, Direction::Outbound, "");
    assert!(matches!(store.insert_rule(&out).await, Err(Error::Invalid(_))));
    assert_eq!(
        store.insert_rule(&rule(SecurityGroupId::random(), Direction::Inbound, "")).await,
        Err(Error::not_found("security group"))
    );

    let mut changed = ssh.clone();
    changed.protocol = Protocol::Icmp;
    changed.ports = vec![];
    changed.description = None;
    store.replace_rule(&changed).await.unwrap();
    assert_eq!(store.rule(ssh.id).await.unwrap(), Some(changed));

    // Allowing all inbound deletes the inbound rules.
    let patch = SecurityGroupPatch { allow_all_inbound: Some(true), ..Default::default() };
    store.update_security_group(g.id, &patch, now()).await.unwrap();
    assert_eq!(store.list_rules(g.id, PageRequest::default()).await.unwrap().total, 0);
    let patch = SecurityGroupPatch {
        allow_all_inbound: Some(false),
        allow_all_outbound: Some(false),
        ..Default::default()
    };
    store.update_security_group(g.id, &patch, now()).await.unwrap();
    store.insert_rule(&out).await.unwrap();
    store.delete_rule(out.id).await.unwrap();
    assert_eq!(store.delete_rule(out.id).await, Err(Error::not_found("security group rule")));
    // Deleting the group deletes its rules.
    let last = rule(g.id, Direction::Inbound, "5432");
    store.insert_rule(&last).await.unwrap();
    store.delete_security_group(g.id).await.unwrap();
    assert_eq!(store.rule(last.id).await.unwrap(), None);
}

pub async fn tags_round_trip_and_leave_groups_with_them(store: Arc<dyn Store>) {
    use palisade_core::id::TagId;
    use palisade_core::policy::Tag;
    let org = organization("tags");
    store.insert_organization(&org).await.unwrap();
    let tag = Tag {
        id: TagId::random(),
        organization_id: org.id,
        name: "env:prod".into(),
        color: "red".into(),
        created_at: now(),
    };
    store.insert_tag(&tag).await.unwrap();
    assert_eq!(store.tag(tag.id).await.unwrap(), Some(tag.clone()));
    let dup = Tag { id: TagId::random(), ..tag.clone() };
    assert_eq!(store.insert_tag(&dup).await, Err(Error::AlreadyExists { kind: "tag", field: "name".into() }));
    let renamed = Tag { name: "env:staging".into(), color: "green".into(), ..tag.clone() };
    store.update_tag(&renamed).await.unwrap();
    assert_eq!(store.list_tags(org.id, PageRequest::default()).await.unwrap().items, vec![renamed]);

    let mut g = group(org.id, "tagged");
    g.members = vec![Member::Tag(tag.id)];
    store.insert_security_group(&g, &[]).await.unwrap();
    assert_eq!(store.security_group(g.id).await.unwrap().unwrap().members, vec![Member::Tag(tag.id)]);
    store.delete_tag(tag.id).await.unwrap();
    assert!(store.security_group(g.id).await.unwrap().unwrap().members.is_empty());
    assert_eq!(store.delete_tag(tag.id).await, Err(Error::not_found("tag")));
}

pub async fn address_lists_round_trip(store: Arc<dyn Store>) {
    use palisade_core::id::{AddressListEntryId, AddressListId};
    use palisade_core::policy::{AddressList, AddressListEntry};
    let org = organization("lists");
    store.insert_organization(&org).await.unwrap();
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
    store.insert_address_list(&list).await.unwrap();
    assert_eq!(store.address_list(id).await.unwrap(), Some(list.clone()));
    let global =
        AddressList { id: AddressListId::random(), organization_id: None, entries: vec![], ..list.clone() };
    store.insert_address_list(&global).await.unwrap();
    assert_eq!(
        store.list_address_lists(Some(org.id), PageRequest::default()).await.unwrap().items,
        vec![list.clone()]
    );
    assert_eq!(store.list_address_lists(None, PageRequest::default()).await.unwrap().items, vec![global]);

    // Bulk: add two, remove the first, atomically; a duplicate address refuses the whole change.
    let (a, b) = (entry("192.0.2.1"), entry("2001:db8::/64"));
    store.change_address_list_entries(id, &[a.clone(), b.clone()], &["10.0.0.1/24".into()]).await.unwrap();
    assert_eq!(
        store.list_address_list_entries(id, PageRequest::default()).await.unwrap().items,
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store.change_address_list_entries(id, &[entry("198.51.100.0/24"), entry("192.0.2.1")], &[]).await,
        Err(Error::AlreadyExists { kind: "address list entry", field: "address".into() })
    );
    assert_eq!(store.list_address_list_entries(id, PageRequest::default()).await.unwrap().total, 2);
    let renamed = AddressListEntry { name: None, ..a.clone() };
    store.update_address_list_entry(&renamed).await.unwrap();
    assert_eq!(store.address_list_entry(a.id).await.unwrap(), Some(renamed));
    store.delete_address_list_entry(b.id).await.unwrap();
    assert_eq!(store.delete_address_list_entry(b.id).await, Err(Error::not_found("address list entry")));

    let updated = AddressList { name: "Office".into(), annotations: vec![], ..list.clone() };
    store.update_address_list(&updated).await.unwrap();
    assert_eq!(store.address_list(id).await.unwrap().unwrap().name, "Office");
    store.delete_address_list(id).await.unwrap();
    assert_eq!(store.address_list_entry(a.id).await.unwrap(), None, "entries go with their list");
}

pub async fn groups_are_created_and_replaced_with_their_rules(store: Arc<dyn Store>) {
    let org = organization("roles");
    store.insert_organization(&org).await.unwrap();
    let mut role = group(org.id, "web");
    role.kind = GroupKind::Role;
    role.allow_all_outbound = false;
    let rules = vec![rule(role.id, Direction::Inbound, "22"), rule(role.id, Direction::Inbound, "443")];
    store.insert_security_group(&role, &rules).await.unwrap();
    assert_eq!(store.list_rules(role.id, PageRequest::default()).await.unwrap().items, rules);
    // A failing insert (duplicate name) leaves no rules behind.
    let mut clash = group(org.id, "web");
    clash.kind = GroupKind::Role;
    let orphan = rule(clash.id, Direction::Inbound, "80");
    assert!(store.insert_security_group(&clash, std::slice::from_ref(&orphan)).await.is_err());
    assert_eq!(store.rule(orphan.id).await.unwrap(), None);
    // Replacing the rules is one transaction.
    let new = vec![rule(role.id, Direction::Inbound, "8080")];
    let patch = SecurityGroupPatch {
        rules: Some(new.clone()),
        description: Some(Some(String::new())),
        ..Default::default()
    };
    store.update_security_group(role.id, &patch, now()).await.unwrap();
    assert_eq!(store.list_rules(role.id, PageRequest::default()).await.unwrap().items, new);
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
    store.insert_security_group(&web, &[]).await.unwrap();
    store.insert_security_group(&db, &[]).await.unwrap();

    // One host gets its address from IPAM in the same transaction.
    let first = host(org, net.id, "a", Some(web.id));
    let mut request = ip_request(org, &net, IpVersion::V4);
    request.allocation =
        Some(Allocation { server_id: first.server.id, interface_id: first.server.interfaces[0].id });
    let stored = store.insert_host(&first, &[], Some(&request)).await.unwrap();
    assert_eq!(stored.addresses(), [addr("10.1.0.1")]);
    assert_eq!(stored.role, Some(web.id));
    assert_eq!(stored.overlay, first.overlay);
    assert_eq!(store.host(org, first.server.id).await.unwrap(), Some(stored.clone()));
    let second = host(org, net.id, "b", Some(db.id));
    store.insert_host(&second, &[], None).await.unwrap();

    // Names are unique per organization and network; nothing of the loser remains.
    let twin = host(org, net.id, "a", None);
    let err = store.insert_host(&twin, &[], None).await.unwrap_err();
    assert_eq!(err, Error::AlreadyExists { kind: "server", field: "name".into() });
    assert_eq!(store.server(org, twin.server.id).await.unwrap(), None);

    // Filters.
    let page = PageRequest { page: 1, per_page: 10 };
    let by_role =
        store.list_hosts(org, HostFilter { role: Some(db.id), ..HostFilter::default() }, page).await.unwrap();
    assert_eq!((by_role.total, by_role.items[0].server.name.as_str()), (1, "b"));
    let all = store.list_hosts(org, HostFilter::default(), page).await.unwrap();
    assert_eq!(all.items.iter().map(|h| h.server.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let relays = HostFilter { is_relay: Some(true), ..HostFilter::default() };
    assert_eq!(store.list_hosts(org, relays, page).await.unwrap().total, 0);

    // An update moves the host to another role (one at a time) and rewrites its settings.
    let mut changed = stored;
    changed.role = Some(db.id);
    changed.server.name = "renamed".into();
    changed.server.tags = vec![];
    changed.overlay.is_relay = true;
    store.update_host(&changed).await.unwrap();
    assert_eq!(store.host(org, changed.server.id).await.unwrap(), Some(changed.clone()));
    let members = |g: SecurityGroupId| {
        let store = store.clone();
        async move { store.security_group(g).await.unwrap().unwrap().members.len() }
    };
    assert_eq!((members(web.id).await, members(db.id).await), (0, 2));
    // The native view of the same server agrees.
    assert_eq!(store.server(org, changed.server.id).await.unwrap().unwrap().name, "renamed");
    // Deleting the server removes the host and its membership.
    store.delete_server(org, changed.server.id).await.unwrap();
    assert_eq!(store.host(org, changed.server.id).await.unwrap(), None);
    assert_eq!(members(db.id).await, 1);
}

pub async fn members_are_added_one_at_a_time_concurrently(store: Arc<dyn Store>) {
    let org = organization("members");
    store.insert_organization(&org).await.unwrap();
    let dc = data_center("members-dc");
    store.insert_data_center(&dc).await.unwrap();
    let net = network(dc.id, None, false, None);
    store.insert_network(&net).await.unwrap();
    let g = group(org.id, "g");
    store.insert_security_group(&g, &[]).await.unwrap();
    let mut servers = Vec::new();
    for _ in 0..8 {
        let s = server(org.id, net.id, &[]);
        store.insert_server(&s, &[]).await.unwrap();
        servers.push(s.id);
    }
    let mut tasks = Vec::new();
    for s in servers.iter().chain(servers.iter()) {
        let store = store.clone();
        let (id, s) = (g.id, *s);
        tasks.push(tokio::spawn(async move {
            store.add_security_group_member(id, Member::Server(s), now()).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut members = store.security_group(g.id).await.unwrap().unwrap().members;
    members.sort();
    let mut want: Vec<Member> = servers.iter().map(|s| Member::Server(*s)).collect();
    want.sort();
    assert_eq!(members, want, "every server once, none lost");
    assert_eq!(
        store.add_security_group_member(SecurityGroupId::random(), Member::Server(servers[0]), now()).await,
        Err(Error::not_found("security group"))
    );
    assert_eq!(
        store.add_security_group_member(g.id, Member::Server(ServerId::random()), now()).await,
        Err(Error::not_found("server"))
    );
}

pub async fn rule_numbers_are_per_organization_and_never_reused(store: Arc<dyn Store>) {
    let org = organization("numbers");
    let other = organization("numbers-other");
    store.insert_organization(&org).await.unwrap();
    store.insert_organization(&other).await.unwrap();
    let a = group(org.id, "a");
    let first = rule(a.id, Direction::Inbound, "22");
    store.insert_security_group(&a, std::slice::from_ref(&first)).await.unwrap();
    let theirs = group(other.id, "theirs");
    store.insert_security_group(&theirs, &[]).await.unwrap();
    // Two organizations creating rules interleaved: each sees its own consecutive numbers.
    let mut mine = vec![first.id];
    let mut others = Vec::new();
    for port in ["80", "443", "8080"] {
        let r = rule(a.id, Direction::Inbound, port);
        store.insert_rule(&r).await.unwrap();
        mine.push(r.id);
        let r = rule(theirs.id, Direction::Inbound, port);
        store.insert_rule(&r).await.unwrap();
        others.push(r.id);
    }
    let numbers = store.rule_numbers(org.id, &[a.id]).await.unwrap();
    assert_eq!(numbers, mine.iter().copied().zip(1..).collect::<Vec<_>>());
    let their_numbers = store.rule_numbers(other.id, &[theirs.id]).await.unwrap();
    assert_eq!(their_numbers, others.iter().copied().zip(1..).collect::<Vec<_>>());
    // Lookups are scoped to the organization; another organization's groups give nothing.
    assert_eq!(store.rule_by_number(org.id, 2).await.unwrap(), Some(mine[1]));
    assert_eq!(store.rule_by_number(other.id, 2).await.unwrap(), Some(others[1]));
    assert_eq!(store.rule_by_number(other.id, 4).await.unwrap(), None);
    assert!(store.rule_numbers(org.id, &[theirs.id]).await.unwrap().is_empty());
    assert_eq!(store.rule_numbers(org.id, &[a.id, theirs.id]).await.unwrap().len(), 4);
    // Deleting the newest rule does not free its number for the next one.
    store.delete_rule(mine[3]).await.unwrap();
    assert_eq!(store.rule_by_number(org.id, 4).await.unwrap(), None);
    let fifth = rule(a.id, Direction::Inbound, "9000");
    store.insert_rule(&fifth).await.unwrap();
    assert_eq!(store.rule_by_number(org.id, 5).await.unwrap(), Some(fifth.id));
    // Updating a rule keeps its number; replacing a group's rules numbers the new ones.
    let mut changed = first.clone();
    changed.ports = vec![];
    store.replace_rule(&changed).await.unwrap();
    assert_eq!(store.rule_by_number(org.id, 1).await.unwrap(), Some(first.id));
    let fresh = rule(a.id, Direction::Inbound, "8443");
    let patch = SecurityGroupPatch { rules: Some(vec![fresh.clone()]), ..Default::default() };
    store.update_security_group(a.id, &patch, now()).await.unwrap();
    assert_eq!(store.rule_numbers(org.id, &[a.id]).await.unwrap(), vec![(fresh.id, 6)]);
    assert_eq!(store.rule_by_number(org.id, 1).await.unwrap(), None);
    assert_eq!(store.rule_by_number(org.id, u64::MAX).await.unwrap(), None);
    assert!(store.rule_numbers(org.id, &[SecurityGroupId::random()]).await.unwrap().is_empty());
    assert!(store.rule_numbers(org.id, &[]).await.unwrap().is_empty());
}

/// A page of groups is read in batches: every group gets its own members, annotations and rules,
/// in order, whatever the others have.
pub async fn group_pages_load_members_annotations_and_rules_in_batches(store: Arc<dyn Store>) {
    let org = organization("batches");
    store.insert_organization(&org).await.unwrap();
    let dc = data_center("batches-dc");
    store.insert_data_center(&dc).await.unwrap();
    let net = network(dc.id, None, false, None);
    store.insert_network(&net).await.unwrap();
    let servers: Vec<Server> = (0..3).map(|_| server(org.id, net.id, &[])).collect();
    for s in &servers {
        store.insert_server(s, &[]).await.unwrap();
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
        store.insert_security_group(&g, &rules).await.unwrap();
        expected.push((g, rules));
    }
    let other = organization("batches-other");
    store.insert_organization(&other).await.unwrap();
    let theirs = group(other.id, "theirs");
    store.insert_security_group(&theirs, &[rule(theirs.id, Direction::Inbound, "22")]).await.unwrap();

    for (page, range) in [(1u32, 0..5usize), (2, 5..10), (3, 10..12)] {
        let listed = store
            .list_security_groups(
                org.id,
                GroupKind::SecurityGroup,
                &GroupFilter::default(),
                PageRequest { page, per_page: 5 },
            )
            .await
            .unwrap();
        assert_eq!(listed.total, 12);
        let want: Vec<SecurityGroup> = expected[range.clone()].iter().map(|(g, _)| g.clone()).collect();
        assert_eq!(listed.items, want, "page {page}");
        let ids: Vec<SecurityGroupId> = listed.items.iter().map(|g| g.id).collect();
        let rules = store.rules_of_groups(&ids).await.unwrap();
        let want: Vec<Rule> = expected[range].iter().flat_map(|(_, r)| r.clone()).collect();
        assert_eq!(rules, want, "page {page}: its groups' rules, in creation order");
    }
    assert!(store.rules_of_groups(&[]).await.unwrap().is_empty());
    assert!(store.rules_of_groups(&[SecurityGroupId::random()]).await.unwrap().is_empty());
}

/// Lists longer than one batched `INSERT` statement (the store writes up to 500 rows per
/// statement) are written whole and in order, and all or nothing: a duplicate near the end
/// leaves none of the list behind.
pub async fn long_lists_are_written_whole_in_order_or_not_at_all(store: Arc<dyn Store>) {
    use palisade_core::id::{AddressListEntryId, AddressListId};
    use palisade_core::policy::{AddressList, AddressListEntry};
    let org = organization("long-lists");
    store.insert_organization(&org).await.unwrap();
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
        store.insert_address_list(&duplicated).await,
        Err(Error::AlreadyExists { kind: "address list entry", field: "address".into() })
    );
    assert_eq!(store.address_list(id).await.unwrap(), None, "nothing of the refused list was written");
    store.insert_address_list(&list).await.unwrap();
    assert_eq!(store.address_list(id).await.unwrap(), Some(list));
}

// ---------------------------------------------------------------- policy snapshot

use palisade_core::id::{AddressListEntryId, AddressListId, ServerGroupId, TagId};
use palisade_core::policy::{AddressList, AddressListEntry, ServerGroup, Tag};
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

fn address_list(org: Option<OrganizationId>, name: &str, addresses: &[&str]) -> AddressList {
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
    store.insert_organization(&org).await.unwrap();
    let org = org.id;
    let base = if sub_domain.ends_with("other") { 100 } else { 10 };
    let a = server(org, net.id, &[&format!("10.20.0.{base}")]);
    store.insert_server(&a, &claims(&a)).await.unwrap();
    let mut b = server(org, net.id, &[&format!("10.20.0.{}", base + 1)]);
    b.name = "db".into();
    b.tags = vec!["env:staging".into()];
    b.interfaces.push(Interface {
        id: InterfaceId::random(),
        network_id: private.id,
        addresses: vec![addr(&format!("10.30.0.{base}"))],
    });
    store.insert_server(&b, &claims(&b)).await.unwrap();
    // An address allocated to an interface after the server was created.
    let ip = store.allocate_ip(&ip_request(org, net, IpVersion::V4)).await.unwrap();
    let allocation = Allocation { server_id: a.id, interface_id: a.interfaces[0].id };
    store.set_ip_allocation(org, ip.id, Some(allocation)).await.unwrap();
    // An address held but on no interface: not part of any server.
    store.allocate_ip(&ip_request(org, net, IpVersion::V4)).await.unwrap();

    let prod = tag_object(org, "env:prod");
    let staging = tag_object(org, "env:staging");
    store.insert_tag(&prod).await.unwrap();
    store.insert_tag(&staging).await.unwrap();
    let web_servers = server_group(org, "web servers");
    store.insert_server_group(&web_servers).await.unwrap();
    store.insert_server_group(&server_group(org, "empty")).await.unwrap();
    let office = address_list(Some(org), "office", &["192.0.2.0/24", "198.51.100.7"]);
    store.insert_address_list(&office).await.unwrap();
    store.insert_address_list(&address_list(Some(org), "no entries", &[])).await.unwrap();

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
    store.insert_security_group(&web, &[rule(web.id, Direction::Inbound, "80,443"), out]).await.unwrap();
    store.insert_security_group(&db, std::slice::from_ref(&from_web)).await.unwrap();
    // A rule added later comes after the group's first ones.
    store.insert_rule(&rule(web.id, Direction::Inbound, "22")).await.unwrap();
    let empty = group(org, "empty");
    store.insert_security_group(&empty, &[]).await.unwrap();
    groups.extend([web.id, db.id, empty.id]);

    // Roles and their hosts (a host without a role, too).
    let mut role = group(org, "lighthouse");
    role.kind = GroupKind::Role;
    let mut hosts_rule = rule(role.id, Direction::Inbound, "4242");
    hosts_rule.protocol = Protocol::Udp;
    hosts_rule.remotes = vec![Remote::Hosts { role: Some(role.id), tags: vec!["env:prod".into()] }];
    store.insert_security_group(&role, &[hosts_rule]).await.unwrap();
    let mut idle = group(org, "idle");
    idle.kind = GroupKind::Role;
    store.insert_security_group(&idle, &[]).await.unwrap();
    groups.extend([role.id, idle.id]);
    let mut lighthouse = host(org, private.id, "lh", Some(role.id));
    lighthouse.overlay.is_lighthouse = true;
    let mut request = ip_request(org, private, IpVersion::V4);
    request.allocation = Some(Allocation {
        server_id: lighthouse.server.id,
        interface_id: lighthouse.server.interfaces[0].id,
    });
    store.insert_host(&lighthouse, &[], Some(&request)).await.unwrap();
    store.insert_host(&host(org, private.id, "roleless", None), &[], None).await.unwrap();
    (org, groups)
}

/// The snapshot holds exactly what the per-object reads give, in their order: the organization's
/// objects of every kind and the global address lists, nothing of another organization.
pub async fn policy_snapshot_equals_the_per_object_reads(store: Arc<dyn Store>) {
    let dc = data_center("snap-dc");
    store.insert_data_center(&dc).await.unwrap();
    let mut net = network(dc.id, None, false, None);
    net.prefixes = vec!["10.20.0.0/24".parse().unwrap()];
    store.insert_network(&net).await.unwrap();
    let mut private = network(dc.id, None, false, None);
    private.prefixes = vec!["10.30.0.0/24".parse().unwrap()];
    store.insert_network(&private).await.unwrap();
    let global = address_list(None, "blocklist", &["203.0.113.0/24"]);
    store.insert_address_list(&global).await.unwrap();
    let (org, groups) = policy_fixture(&store, &net, &private, "snap").await;
    // Another organization with objects of every kind, created after: none may appear.
    let (other, _) = policy_fixture(&store, &net, &private, "snap-other").await;

    let snapshot = store.policy_snapshot(org).await.unwrap();
    assert_eq!((snapshot.organization_id, snapshot.revision), (org, 0));

    // Groups and roles, in creation order, each as read alone, with its rules.
    assert_eq!(snapshot.groups.iter().map(|g| g.group.id).collect::<Vec<_>>(), groups);
    for g in &snapshot.groups {
        assert_eq!(Some(&g.group), store.security_group(g.group.id).await.unwrap().as_ref());
        assert_eq!(g.rules, store.list_rules(g.group.id, ALL).await.unwrap().items, "{}", g.group.name);
    }
    assert_eq!(snapshot.rule_count(), 5);
    for kind in [GroupKind::SecurityGroup, GroupKind::Role] {
        let listed = store.list_security_groups(org, kind, &GroupFilter::default(), ALL).await.unwrap();
        let ours: Vec<SecurityGroup> = snapshot.groups_of(kind).map(|g| g.group.clone()).collect();
        assert_eq!(ours, listed.items);
    }

    // Servers (hosts included) with their interfaces, addresses and tags.
    assert_eq!(snapshot.servers, store.list_servers(org, ALL).await.unwrap().items);
    assert_eq!(snapshot.servers.len(), 4);
    assert_eq!(snapshot.servers[0].interfaces[0].addresses.len(), 2, "the allocated address is there");
    assert_eq!(snapshot.servers[1].interfaces.len(), 2);
    for s in &snapshot.servers {
        assert_eq!(Some(s), store.server(org, s.id).await.unwrap().as_ref());
    }

    assert_eq!(snapshot.server_groups, store.list_server_groups(org, ALL).await.unwrap().items);
    assert_eq!(snapshot.tags, store.list_tags(org, ALL).await.unwrap().items);
    assert_eq!(snapshot.address_lists, store.list_address_lists(Some(org), ALL).await.unwrap().items);
    assert_eq!(snapshot.global_address_lists, vec![global.clone()]);
    assert_eq!(snapshot.global_address_lists, store.list_address_lists(None, ALL).await.unwrap().items);
    assert_eq!((snapshot.server_groups.len(), snapshot.tags.len(), snapshot.address_lists.len()), (2, 2, 2));

    // Hosts with their roles: whole, as the host reads give them.
    let hosts = store.list_hosts(org, HostFilter::default(), ALL).await.unwrap().items;
    let ours: Vec<Host> = snapshot.hosts.iter().map(|h| snapshot.host(h.server_id).unwrap()).collect();
    assert_eq!(ours, hosts);
    assert_eq!(ours.iter().map(|h| h.role.is_some()).collect::<Vec<_>>(), [true, false]);

    // The other organization's snapshot is its own, with the same global lists.
    let theirs = store.policy_snapshot(other).await.unwrap();
    assert_eq!(theirs.groups.len(), snapshot.groups.len());
    assert!(theirs.groups.iter().all(|g| g.group.organization_id == other));
    assert!(theirs.servers.iter().all(|s| s.organization_id == other));
    assert!(theirs.tags.iter().all(|t| t.organization_id == other));
    assert_eq!(theirs.servers, store.list_servers(other, ALL).await.unwrap().items);
    assert_eq!(theirs.global_address_lists, vec![global]);
    for (mine, theirs) in snapshot.groups.iter().zip(&theirs.groups) {
        assert_ne!(mine.group.id, theirs.group.id);
    }
}

/// An organization with nothing has an empty snapshot (but for the global lists, which every
/// organization sees); so has one that does not exist.
pub async fn policy_snapshot_of_an_empty_organization_is_empty(store: Arc<dyn Store>) {
    let org = organization("snap-empty");
    store.insert_organization(&org).await.unwrap();
    assert_eq!(store.policy_snapshot(org.id).await.unwrap(), PolicySnapshot::empty(org.id));
    // Another organization's objects change nothing.
    let dc = data_center("snap-empty-dc");
    store.insert_data_center(&dc).await.unwrap();
    let mut net = network(dc.id, None, false, None);
    net.prefixes = vec!["10.20.0.0/24".parse().unwrap()];
    store.insert_network(&net).await.unwrap();
    let mut private = network(dc.id, None, false, None);
    private.prefixes = vec!["10.30.0.0/24".parse().unwrap()];
    store.insert_network(&private).await.unwrap();
    policy_fixture(&store, &net, &private, "snap-empty-other").await;
    assert_eq!(store.policy_snapshot(org.id).await.unwrap(), PolicySnapshot::empty(org.id));
    let missing = OrganizationId::random();
    assert_eq!(store.policy_snapshot(missing).await.unwrap(), PolicySnapshot::empty(missing));
    // A global list is everybody's.
    let global = address_list(None, "global", &["203.0.113.9"]);
    store.insert_address_list(&global).await.unwrap();
    let want = PolicySnapshot { global_address_lists: vec![global], ..PolicySnapshot::empty(org.id) };
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
    store.insert_organization(&org).await.unwrap();
    let dc = data_center("snap-race-dc");
    store.insert_data_center(&dc).await.unwrap();
    let net = network(dc.id, None, false, None);
    store.insert_network(&net).await.unwrap();
    let mut servers = Vec::new();
    for _ in 0..8 {
        let s = server(org.id, net.id, &[]);
        store.insert_server(&s, &[]).await.unwrap();
        servers.push(Member::Server(s.id));
    }
    let mut g = group(org.id, "racing");
    g.description = Some("0".into());
    g.annotations = vec![];
    store.insert_security_group(&g, &[]).await.unwrap();

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
                store.update_security_group(g.id, &patch, now()).await.unwrap();
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
