//! ZStack's CreateSecurityGroup and its poll, as the SDKs run them: `POST /security-groups`
//! (202 with a `location`), then `GET location` until it answers 200. One pair = one group
//! with its two default rules and its job record, written in one transaction. The same run
//! measures the ceiling without HTTP: the core's create with its job record, from as many
//! tasks.

use std::time::Duration;

use anyhow::Context;
use palisade_core::id::{JobId, SecurityGroupId};
use palisade_core::policy::{GroupKind, IpVersion, Rule, SecurityGroup};
use palisade_core::service::{CreateSecurityGroup, Job};
use palisade_core::Principal;
use palisade_testkit::{Backend, TestDatabase};
use serde_json::{json, Value};

use crate::measure::{drive, ms, Stats};
use crate::{backend_name, post, serve, OPERATOR};

pub async fn run(backends: &[Backend], levels: &[usize], pairs: usize, max: Duration) -> anyhow::Result<()> {
    println!(
        "palisade ZStack CreateSecurityGroup + poll to completion ({pairs} per level, at most {}s each)",
        max.as_secs()
    );
    println!(
        "{:>9} {:>8} | {:>8} {:>8} {:>8} | {:>10} | {:>6}",
        "backend", "clients", "pairs/s", "p50 ms", "p99 ms", "core/s", "HTTP/core"
    );
    for &backend in backends {
        for &clients in levels {
            level(backend, clients, pairs, max).await?;
        }
    }
    Ok(())
}

async fn level(backend: Backend, clients: usize, pairs: usize, max: Duration) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await;
    let crate::Served { base, core, stop, server } = serve(&db.url).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let org = post(
        &client,
        format!("{base}/api/v1/organizations"),
        OPERATOR,
        json!({"name": "b", "sub_domain": "b"}),
    )
    .await?;
    let org = org["organization"]["id"].as_str().context("no organization id")?.to_owned();
    let user = json!({"username": "bench", "password": "password"});
    post(&client, format!("{base}/api/v1/organizations/{org}/users"), OPERATOR, user).await?;
    let login = json!({"logInByAccount": {"accountName": "bench",
        "password": palisade_core::secret::sha512_hex("password")}});
    let session: Value =
        client.put(format!("{base}/zstack/v1/accounts/login")).json(&login).send().await?.json().await?;
    let session = session["inventory"]["uuid"].as_str().context("no session")?.to_owned();

    let (c, b) = (client.clone(), base.clone());
    let http = drive(clients, pairs, max, move |n| {
        let (client, base, session) = (c.clone(), b.clone(), session.clone());
        async move {
            let accepted: Value = client
                .post(format!("{base}/zstack/v1/security-groups"))
                .header("Authorization", format!("OAuth {session}"))
                .header("X-Job-UUID", palisade_api::zstack::gson::hex(JobId::random().as_uuid()))
                .body(json!({"params": {"name": format!("http-{n}"), "ipVersion": 4}}).to_string())
                .send()
                .await?
                .json()
                .await?;
            let location = accepted["location"].as_str().context("no location")?.to_owned();
            loop {
                let polled =
                    client.get(&location).header("Authorization", format!("OAuth {session}")).send().await?;
                match polled.status().as_u16() {
                    200 => break,
                    202 => tokio::time::sleep(Duration::from_millis(1)).await,
                    other => anyhow::bail!("poll: {other}: {}", polled.text().await?),
                }
            }
            Ok(true)
        }
    })
    .await?;
    anyhow::ensure!(http.done > 0, "no pair completed");

    // The ceiling: the same writes through the core, no HTTP (the operator acts in the
    // organization; the job's answer is rendered as the face renders it).
    let org: palisade_core::id::OrganizationId = org.parse().map_err(anyhow::Error::msg)?;
    let raw = drive(clients, pairs, max, move |n| {
        let core = core.clone();
        async move {
            let id = SecurityGroupId::random();
            let input = CreateSecurityGroup {
                id: Some(id),
                name: format!("core-{n}"),
                description: None,
                allow_all_inbound: false,
                allow_all_outbound: false,
                allow_unmatched_outbound: true,
                members: Vec::new(),
                annotations: Vec::new(),
                rules: palisade_api::zstack::groups::default_rules(id),
                ip_version: Some(IpVersion::V4),
            };
            let render = |(group, rules): &(SecurityGroup, Vec<Rule>)| {
                let views = palisade_api::zstack::views::group(group, rules, &Default::default());
                palisade_api::zstack::views::inventory(views)
            };
            let job = Job { id: JobId::random(), render: &render };
            core.create_security_group(
                &Principal::Operator,
                org,
                GroupKind::SecurityGroup,
                Ok(input),
                Some(job),
            )
            .await?;
            Ok(true)
        }
    })
    .await?;
    print_row(backend, clients, &http, &raw);
    let _ = stop.send(());
    server.await??;
    Ok(())
}

fn print_row(backend: Backend, clients: usize, http: &Stats, raw: &Stats) {
    println!(
        "{:>9} {:>8} | {:>8.0} {:>8.2} {:>8.2} | {:>10.0} | {:>5.0} %",
        backend_name(backend),
        clients,
        http.rate(),
        ms(http.percentile(0.5)),
        ms(http.percentile(0.99)),
        raw.rate(),
        100.0 * http.rate() / raw.rate(),
    );
}
