//! Palisade's side: the in-process server on a fresh database, organizations seeded through the
//! Katapult face (as a Terraform run would create them), then walked, paged and written to.
//!
//! Everything goes through HTTP except the "core" timing of a page, which asks
//! `palisade_core::Core` for the same page in-process so that the store's share of a page can be
//! told apart from the HTTP face's.

use std::time::{Duration, Instant};

use anyhow::Context;
use palisade_api::katapult::ids;
use palisade_core::id::{OrganizationId, ServerId};
use palisade_core::policy::{GroupFilter, GroupKind};
use palisade_core::{PageRequest, Principal};
use palisade_testkit::{Backend, TestDatabase};
use serde_json::{json, Value};

use super::{pair_levels, seed, Pages, Plan, Side, PAGE_SIZES, SEED_CLIENTS};
use crate::measure::median_of;
use crate::{post, serve_with, Served, OPERATOR};

/// Katapult's per-credential request limit, out of the way of the measurement.
const UNLIMITED: u32 = 100_000_000;

/// One backend's numbers: the side-by-side ones and the page timings.
pub async fn measure(backend: Backend, plan: &Plan) -> anyhow::Result<(Side, Vec<Pages>)> {
    let db = TestDatabase::new(backend).await;
    let api =
        palisade_api::ApiConfig { requests_per_minute: UNLIMITED, ..palisade_api::ApiConfig::default() };
    let Served { base, core, stop, server } = serve_with(&db.url, api).await?;
    let widest = plan.clients.iter().copied().max().unwrap_or(1).max(SEED_CLIENTS);
    let client = reqwest::Client::builder().pool_max_idle_per_host(widest).build()?;

    let mut sizes = plan.org_sizes.clone();
    sizes.push(plan.groups);
    sizes.sort_unstable();
    sizes.dedup();
    // Every organization exists before anything is timed, so that they differ in size only.
    let mut tenants = Vec::with_capacity(sizes.len());
    for &size in &sizes {
        let tenant = Tenant::new(&client, &base, &format!("sg-{size}")).await?;
        tenant.seed(size, plan.max).await?;
        tenants.push((size, tenant));
    }
    let mut pages = Vec::new();
    let mut walk = None;
    for (size, tenant) in &tenants {
        if *size == plan.groups {
            let warm = median_of(plan.repeats, plan.max, || tenant.walk(*size)).await?;
            let cold = median_of(plan.repeats, plan.max, || async {
                tenant.touch().await?;
                tenant.walk(*size).await
            })
            .await?;
            walk = Some((warm, cold.0));
        }
        // Pages are timed right after a policy change: what reading them costs, not what
        // answering a page kept for the current policy revision costs.
        for (page, per_page) in page_plan(*size) {
            let (http, seen) = median_of(plan.repeats, plan.max, || async {
                tenant.touch().await?;
                tenant.page(page, per_page).await
            })
            .await?;
            let request = PageRequest { page, per_page };
            let (in_core, items) = median_of(plan.repeats, plan.max, || {
                let core = &core;
                let org = tenant.org;
                async move {
                    tenant.touch().await?;
                    let started = Instant::now();
                    let listed = core
                        .list_security_groups(
                            &Principal::Operator,
                            org,
                            GroupKind::SecurityGroup,
                            &GroupFilter::default(),
                            request,
                        )
                        .await?;
                    Ok((started.elapsed(), listed.items.len()))
                }
            })
            .await?;
            anyhow::ensure!(items == seen.items, "the core listed {items} groups, HTTP {}", seen.items);
            pages.push(Pages {
                org_groups: *size,
                page,
                per_page,
                items,
                bytes: seen.bytes,
                http,
                core: in_core,
            });
        }
    }
    let ((walk, (walk_items, walk_requests)), walk_after_change) =
        walk.context("the walked organization was not seeded")?;
    anyhow::ensure!(walk_items == plan.groups, "the walk saw {walk_items} groups of {}", plan.groups);

    let pairs = Tenant::new(&client, &base, "pairs").await?;
    let levels = pair_levels(plan, move |name| {
        let tenant = pairs.clone();
        async move { tenant.pair(&name).await }
    })
    .await?;
    let _ = stop.send(());
    server.await??;
    Ok((Side { walk, walk_after_change: Some(walk_after_change), walk_items, walk_requests, levels }, pages))
}

/// The pages timed in an organization of `size`: page 1 at each size, and its last page of 200.
fn page_plan(size: usize) -> Vec<(u32, u32)> {
    let mut plan: Vec<(u32, u32)> = PAGE_SIZES.iter().map(|&per_page| (1, per_page)).collect();
    let last = u32::try_from(size.div_ceil(PageRequest::MAX_PER_PAGE as usize)).unwrap_or(u32::MAX);
    if last > 1 {
        plan.push((last, PageRequest::MAX_PER_PAGE));
    }
    plan
}

/// What a list page held.
#[derive(Debug, Clone, Copy)]
struct Seen {
    items: usize,
    bytes: usize,
    total_pages: u64,
}

/// An organization with a token for its security groups and tags, a server and a tag that
/// groups can have as members.
#[derive(Debug, Clone)]
struct Tenant {
    client: reqwest::Client,
    base: String,
    sub_domain: String,
    org: OrganizationId,
    token: String,
    vm: String,
    tag: String,
}

impl Tenant {
    async fn new(client: &reqwest::Client, base: &str, sub_domain: &str) -> anyhow::Result<Self> {
        let native = format!("{base}/api/v1/organizations");
        let org =
            post(client, native.clone(), OPERATOR, json!({"name": sub_domain, "sub_domain": sub_domain}))
                .await?;
        let org_text = org["organization"]["id"].as_str().context("no organization id")?;
        let scopes = json!({"name": "bench", "scopes": ["security_groups", "tags"]});
        let token = post(client, format!("{native}/{org_text}/api_tokens"), OPERATOR, scopes).await?;
        let server =
            post(client, format!("{native}/{org_text}/servers"), OPERATOR, json!({"name": "s"})).await?;
        let server: ServerId =
            server["server"]["id"].as_str().context("no server id")?.parse().map_err(anyhow::Error::msg)?;
        let mut tenant = Self {
            client: client.clone(),
            base: base.to_owned(),
            sub_domain: sub_domain.to_owned(),
            org: org_text.parse().map_err(anyhow::Error::msg)?,
            token: token["secret"].as_str().context("no secret")?.to_owned(),
            vm: ids::render(ids::SERVER, server.as_bytes()),
            tag: String::new(),
        };
        let tag = tenant.katapult("organizations/_/tags", json!({"properties": {"name": "bench"}})).await?;
        tenant.tag = tag["tag"]["id"].as_str().context("no tag id")?.to_owned();
        Ok(tenant)
    }

    /// POSTs a Katapult request naming this organization.
    async fn katapult(&self, path: &str, mut body: Value) -> anyhow::Result<Value> {
        body["organization"] = json!({"sub_domain": self.sub_domain});
        post(&self.client, format!("{}/core/v1/{path}", self.base), &self.token, body).await
    }

    async fn rule(&self, group: &str, ports: &str, target: &str) -> anyhow::Result<()> {
        let properties =
            json!({"direction": "inbound", "protocol": "TCP", "ports": ports, "targets": [target]});
        self.katapult(&format!("security_groups/{group}/rules"), json!({"properties": properties})).await?;
        Ok(())
    }

    /// Creates `n` groups, each with two members (the server and the tag), an annotation and
    /// two rules; fails if `max` ran out first.
    async fn seed(&self, n: usize, max: Duration) -> anyhow::Result<()> {
        let tenant = self.clone();
        seed(&self.sub_domain, n, max, move |i| {
            let tenant = tenant.clone();
            async move {
                let properties =
                    json!({"name": format!("group-{i:05}"), "associations": [tenant.vm, tenant.tag]});
                let annotations = json!([{"key": "tier", "value": "web"}]);
                let group = tenant
                    .katapult(
                        "organizations/_/security_groups",
                        json!({"properties": properties, "annotations": annotations}),
                    )
                    .await?;
                let id = group["security_group"]["id"].as_str().context("no group id")?;
                tenant.rule(id, "22", &format!("10.{}.{}.0/24", i / 256 % 256, i % 256)).await?;
                tenant.rule(id, "443", "all:ipv4").await
            }
        })
        .await
    }

    /// A policy change (a new tag), so that no page kept for the previous policy revision
    /// answers the next read.
    async fn touch(&self) -> anyhow::Result<()> {
        static TOUCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!("touch-{}", TOUCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.katapult("organizations/_/tags", json!({"properties": {"name": name}})).await.map(drop)
    }

    /// One create+rule pair, as a client makes it.
    async fn pair(&self, name: &str) -> anyhow::Result<()> {
        let group =
            self.katapult("organizations/_/security_groups", json!({"properties": {"name": name}})).await?;
        let id = group["security_group"]["id"].as_str().context("no group id")?;
        self.rule(id, "22", "10.0.0.0/24").await
    }

    /// One list page: its latency and what it held.
    async fn page(&self, page: u32, per_page: u32) -> anyhow::Result<(Duration, Seen)> {
        let url = format!(
            "{}/core/v1/organizations/_/security_groups?organization[sub_domain]={}&page={page}&per_page={per_page}",
            self.base, self.sub_domain
        );
        let started = Instant::now();
        let reply = self.client.get(url).bearer_auth(&self.token).send().await?;
        let status = reply.status();
        let body = reply.bytes().await?;
        let took = started.elapsed();
        anyhow::ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
        let parsed: Value = serde_json::from_slice(&body)?;
        let seen = Seen {
            items: parsed["security_groups"].as_array().map_or(0, Vec::len),
            bytes: body.len(),
            total_pages: parsed["pagination"]["total_pages"].as_u64().context("no total_pages")?,
        };
        Ok((took, seen))
    }

    /// Every page of the largest size Katapult allows, one after another, as `total_pages`
    /// says: the sum of their latencies, the groups seen and the requests made. At most enough
    /// pages for `expected` groups and one more, whatever the pagination claims.
    async fn walk(&self, expected: usize) -> anyhow::Result<(Duration, (usize, usize))> {
        let per_page = PageRequest::MAX_PER_PAGE;
        let bound = u32::try_from(expected.div_ceil(per_page as usize) + 1)?;
        let (mut took, mut groups) = (Duration::ZERO, 0);
        for page in 1..=bound {
            let (t, seen) = self.page(page, per_page).await?;
            took += t;
            groups += seen.items;
            if u64::from(page) >= seen.total_pages {
                return Ok((took, (groups, page as usize)));
            }
        }
        anyhow::bail!("the walk did not end within {bound} pages")
    }
}
