//! Listing many groups: one organization with `groups` Hostway firewall groups (one rule and
//! one member each) and as many Katapult virtual machine groups, seeded through the core, then
//! listed over HTTP — the whole Hostway list, one Hostway page of 200, the Katapult VM-group
//! list as a client asks for it (no paging arguments) and one page of 200. Each listing is
//! repeated; the median time and the body size are printed.

use std::time::Instant;

use anyhow::Context;
use palisade_core::policy::{Action, Direction, GroupKind, Member, PortRange, Protocol, Remote};
use palisade_core::service::{CreateRule, CreateSecurityGroup};
use palisade_core::Principal;
use palisade_testkit::{Backend, TestDatabase};
use serde_json::{json, Value};

use crate::measure::ms;
use crate::{backend_name, OPERATOR};

const REPEATS: usize = 5;

pub async fn run(backends: &[Backend], groups: usize) -> anyhow::Result<()> {
    println!(
        "palisade group lists: {groups} Hostway groups (1 rule, 1 member each) and {groups} VM groups; median of {REPEATS}"
    );
    println!("{:>9} | {:<44} | {:>8} | {:>10} | {:>9}", "backend", "request", "items", "bytes", "median ms");
    for &backend in backends {
        one(backend, groups).await?;
    }
    Ok(())
}

async fn one(backend: Backend, groups: usize) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await;
    let crate::Served { base, core, stop, server: serving } = crate::serve(&db.url).await?;
    let client = reqwest::Client::new();

    let org: Value = client
        .post(format!("{base}/api/v1/organizations"))
        .bearer_auth(OPERATOR)
        .json(&json!({"name": "b", "sub_domain": "b"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let org_text = org["organization"]["id"].as_str().context("no organization id")?.to_owned();
    let token: Value = client
        .post(format!("{base}/api/v1/organizations/{org_text}/api_tokens"))
        .bearer_auth(OPERATOR)
        .json(&json!({"name": "bench", "scopes": ["security_groups", "virtual_machine_groups"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = token["secret"].as_str().context("no secret")?.to_owned();
    let server: Value = client
        .post(format!("{base}/api/v1/organizations/{org_text}/servers"))
        .bearer_auth(OPERATOR)
        .json(&json!({"name": "s"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let server_id =
        server["server"]["id"].as_str().context("no server id")?.parse().map_err(anyhow::Error::msg)?;

    let org: palisade_core::id::OrganizationId = org_text.parse().map_err(anyhow::Error::msg)?;
    let seeding = Instant::now();
    for i in 0..groups {
        let rule = CreateRule {
            direction: Direction::Inbound,
            action: Action::Allow,
            protocol: Protocol::Tcp,
            ports: vec![PortRange { from: 22, to: 22 }],
            icmp: None,
            priority: Some(0),
            remotes: vec![Remote::Cidr(format!("10.{}.{}.0/24", i / 256, i % 256))],
            description: None,
        };
        let input = CreateSecurityGroup {
            name: format!("group-{i:05}"),
            description: Some("a firewall group of the benchmark".into()),
            allow_all_inbound: false,
            allow_all_outbound: true,
            allow_unmatched_outbound: false,
            members: vec![Member::Server(server_id)],
            annotations: Vec::new(),
            rules: vec![rule],
            id: None,
            ip_version: None,
        };
        core.create_security_group(&Principal::Operator, org, GroupKind::SecurityGroup, Ok(input), None)
            .await?;
        core.create_server_group(&Principal::Operator, org, format!("vm-group-{i:05}"), true).await?;
    }
    let seeded = seeding.elapsed();

    let hostway = format!("{base}/accounts/{org_text}/os-security-groups");
    let katapult =
        format!("{base}/core/v1/organizations/_/virtual_machine_groups?organization[sub_domain]=b");
    for (label, url, key) in [
        ("Hostway list, no paging arguments", hostway.clone(), "securityGroups"),
        ("Hostway list, page=1&pageSize=200", format!("{hostway}?page=1&pageSize=200"), "securityGroups"),
        ("Katapult VM groups, no paging arguments", katapult.clone(), "virtual_machine_groups"),
        ("Katapult VM groups, per_page=200", format!("{katapult}&per_page=200"), "virtual_machine_groups"),
    ] {
        let mut times = Vec::with_capacity(REPEATS);
        let mut size = 0;
        let mut items = 0;
        for _ in 0..REPEATS {
            let started = Instant::now();
            let body = client.get(&url).bearer_auth(&token).send().await?.error_for_status()?.bytes().await?;
            times.push(started.elapsed());
            size = body.len();
            let parsed: Value = serde_json::from_slice(&body)?;
            items = parsed[key].as_array().map_or(0, Vec::len);
        }
        times.sort();
        println!(
            "{:>9} | {label:<44} | {items:>8} | {size:>10} | {:>9.1}",
            backend_name(backend),
            ms(times[REPEATS / 2]),
        );
    }
    println!("{:>9} | (seeding through the core took {:.1} s)", backend_name(backend), seeded.as_secs_f64());
    let _ = stop.send(());
    serving.await??;
    Ok(())
}
