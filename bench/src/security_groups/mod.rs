//! Security groups side by side with moto (issue 12, point 7), in one run: a full walk of an
//! organization of `--groups` groups (Katapult's list, page after page of the largest size it
//! allows, vs moto's one unfiltered DescribeSecurityGroups), one create+rule pair (median
//! latency, and pairs per second at each `--clients` level), and Katapult list pages at several
//! organization sizes, each split into the time the core takes for it in-process and the rest
//! (HTTP, authentication, views, JSON), so that what a page costs per item, and whether a page
//! costs more in a bigger organization, shows. Palisade keeps list pages by policy revision
//! (`palisade_core`'s `group_pages`): the walk is timed both as a client repeating it sees it
//! and right after a policy change (a new tag), when every page is read again; the pages table
//! times pages read again.
//!
//! Times are client-measured latencies over loopback: the server's time plus a loopback round
//! trip, which is the same for both sides. Palisade runs in this process on each backend of
//! `--backends` (fresh databases); moto runs once, as a child process, if it is installed.

mod moto;
mod palisade;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use palisade_testkit::Backend;

use crate::backend_name;
use crate::measure::{drive, ms, Stats};

/// Page sizes timed at every organization size (200 is the largest Katapult allows).
const PAGE_SIZES: [u32; 4] = [1, 50, 100, 200];
/// Concurrent clients that seed an organization (on either side).
const SEED_CLIENTS: usize = 8;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Groups in the walked organization (and in moto).
    pub groups: usize,
    /// Further organization sizes at which pages are timed.
    pub org_sizes: Vec<usize>,
    /// Timed repeats of each read (the median is printed), after one warm-up.
    pub repeats: usize,
    /// Create+rule pairs per concurrency level.
    pub pairs: usize,
    pub clients: Vec<usize>,
    /// The `moto_server` to start instead of looking for one.
    pub moto_server: Option<PathBuf>,
    /// Bound on every seeding, measuring and repeating loop.
    pub max: Duration,
}

/// What one system measured for the side-by-side table.
#[derive(Debug)]
struct Side {
    /// Median time to list every group, over `walk_requests` requests that returned
    /// `walk_items` groups.
    walk: Duration,
    /// Median time of the same walk right after a policy change, when no page kept by policy
    /// revision can answer (Palisade only; moto keeps nothing).
    walk_after_change: Option<Duration>,
    walk_items: usize,
    walk_requests: usize,
    /// Create+rule pairs, one entry per level of `Plan::clients`.
    levels: Vec<Stats>,
}

/// One Katapult page: the request's median latency and the median time of the same page asked
/// of the core in-process.
#[derive(Debug)]
struct Pages {
    org_groups: usize,
    page: u32,
    per_page: u32,
    items: usize,
    bytes: usize,
    http: Duration,
    core: Duration,
}

pub async fn run(backends: &[Backend], plan: &Plan) -> anyhow::Result<()> {
    let peer = match moto::locate(plan.moto_server.as_deref()) {
        Some(server) => {
            let version = moto::version(&server);
            eprintln!("moto {version} ({})", server.display());
            Some((version, moto::measure(&server, plan).await?))
        }
        None => {
            println!(
                "moto: no moto_server found{}: run {} or pass --moto-server; measuring Palisade alone",
                plan.moto_server.as_ref().map(|p| format!(" at {}", p.display())).unwrap_or_default(),
                moto::INSTALL_HINT
            );
            None
        }
    };
    let mut measured = Vec::new();
    for &backend in backends {
        eprintln!("palisade on {}", backend_name(backend));
        measured.push((backend, palisade::measure(backend, plan).await?));
    }
    side_by_side(plan, peer.as_ref(), &measured);
    pages_table(&measured);
    Ok(())
}

/// Runs `op(n)` for n = 0..count from [`SEED_CLIENTS`] clients; fails if `max` ran out first.
async fn seed<F, Fut>(what: &str, count: usize, max: Duration, op: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = std::time::Instant::now();
    let seeded = drive(SEED_CLIENTS, count, max, move |n| {
        let done = op(n);
        async move { done.await.map(|()| true) }
    })
    .await?;
    anyhow::ensure!(
        seeded.done == count,
        "{what}: seeded {} of {count} groups within --max-secs {}: raise it",
        seeded.done,
        max.as_secs()
    );
    eprintln!("  {what}: {count} groups seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `plan.pairs` create+rule pairs (named uniquely) at each level of `plan.clients`, after one
/// warm-up pair.
async fn pair_levels<F, Fut>(plan: &Plan, pair: F) -> anyhow::Result<Vec<Stats>>
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    pair("warm-up".to_owned()).await?;
    let mut levels = Vec::with_capacity(plan.clients.len());
    for &clients in &plan.clients {
        let pair = pair.clone();
        let stats = drive(clients, plan.pairs, plan.max, move |n| {
            let done = pair(format!("pair-{clients}-{n}"));
            async move { done.await.map(|()| true) }
        })
        .await?;
        levels.push(stats);
    }
    Ok(levels)
}

/// One row: moto's value, each backend's, and whether more is better (a rate) or worse (a time).
struct Row {
    label: String,
    moto: Option<f64>,
    palisade: Vec<f64>,
    rate: bool,
}

fn side_by_side(plan: &Plan, peer: Option<&(String, Side)>, measured: &[(Backend, (Side, Vec<Pages>))]) {
    let moto_side = peer.map(|(_, side)| side);
    println!();
    match peer {
        Some((version, _)) => {
            println!(
                "security groups: Palisade's Katapult face vs moto {version} (EC2 query API), in one run"
            );
        }
        None => {
            println!("security groups: Palisade's Katapult face (moto is not installed: no moto numbers)")
        }
    }
    println!(
        "server time = client-measured latency over loopback with a keep-alive client (moto answers \
         'Connection: close':"
    );
    println!(
        "  each moto request also opens a loopback connection); reads: median of {} after a warm-up",
        plan.repeats
    );
    println!("seeded: Palisade groups with 2 members (a VM and a tag), 1 annotation and 2 rules;");
    println!("  moto groups with 1 tag and 2 ingress rules (EC2 groups have no members)");
    println!("ratio = moto time / Palisade time (for pairs/s: Palisade rate / moto rate); above 1: Palisade faster");
    let mut rows = Vec::new();
    let pages = measured.first().map_or(0, |(_, (side, _))| side.walk_requests);
    rows.push(Row {
        label: format!("full walk of {} groups, ms ({} vs 1 call)", plan.groups, plural(pages, "page")),
        moto: moto_side.map(|s| ms(s.walk)),
        palisade: measured.iter().map(|(_, (s, _))| ms(s.walk)).collect(),
        rate: false,
    });
    rows.push(Row {
        label: "  the same walk right after a policy change, ms".to_owned(),
        moto: moto_side.map(|s| ms(s.walk)),
        palisade: measured.iter().map(|(_, (s, _))| s.walk_after_change.map_or(f64::NAN, ms)).collect(),
        rate: false,
    });
    for (i, &clients) in plan.clients.iter().enumerate() {
        let clients = plural(clients, "client");
        let level = |side: &Side| side.levels.get(i).map_or(f64::NAN, |stats| ms(stats.percentile(0.5)));
        let rate = |side: &Side| side.levels.get(i).map_or(f64::NAN, Stats::rate);
        rows.push(Row {
            label: format!("create+rule pair, median ms, {clients}"),
            moto: moto_side.map(level),
            palisade: measured.iter().map(|(_, (s, _))| level(s)).collect(),
            rate: false,
        });
        rows.push(Row {
            label: format!("create+rule pairs/s, {clients}"),
            moto: moto_side.map(rate),
            palisade: measured.iter().map(|(_, (s, _))| rate(s)).collect(),
            rate: true,
        });
    }
    print!("{:<48} | {:>9}", "measurement", "moto");
    for (backend, _) in measured {
        print!(" | {:>9} {:>7}", backend_name(*backend), "ratio");
    }
    println!();
    for row in rows {
        print!("{:<48} | {:>9}", row.label, row.moto.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}")));
        for &value in &row.palisade {
            let ratio = row.moto.map(|m| if row.rate { value / m } else { m / value });
            print!(" | {value:>9.1} {:>7}", ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}x")));
        }
        println!();
    }
    if let Some((_, side)) = peer {
        println!(
            "(moto listed {} groups: the {} made and its default VPC's default group)",
            side.walk_items, plan.groups
        );
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn pages_table(measured: &[(Backend, (Side, Vec<Pages>))]) {
    println!();
    println!(
        "Katapult list pages, each read right after a policy change (no page kept by revision), median ms:"
    );
    println!("  http = the request, as the table above measures it");
    println!(
        "  core = the same page asked of palisade_core::Core in-process (authorization, organization \
         check, store queries, row decoding)"
    );
    println!(
        "  rest = http - core (loopback, authentication, rate limit, arguments, organization lookup, \
         views, JSON, ETag)"
    );
    println!(
        "{:>9} | {:>10} | {:>4} | {:>8} | {:>5} | {:>7} | {:>8} | {:>8} | {:>8}",
        "backend", "org groups", "page", "per_page", "items", "bytes", "http ms", "core ms", "rest ms"
    );
    for (backend, (_, pages)) in measured {
        for p in pages {
            println!(
                "{:>9} | {:>10} | {:>4} | {:>8} | {:>5} | {:>7} | {:>8.2} | {:>8.2} | {:>8.2}",
                backend_name(*backend),
                p.org_groups,
                p.page,
                p.per_page,
                p.items,
                p.bytes,
                ms(p.http),
                ms(p.core),
                ms(p.http.saturating_sub(p.core)),
            );
        }
        // The cost of one more item: page 1 of 200 against page 1 of 1, in the largest organization.
        let largest = pages.iter().map(|p| p.org_groups).max().unwrap_or(0);
        let first_page = |per_page: u32| {
            pages.iter().find(|p| p.org_groups == largest && p.page == 1 && p.per_page == per_page)
        };
        if let (Some(one), Some(full)) = (first_page(1), first_page(PAGE_SIZES[PAGE_SIZES.len() - 1])) {
            let extra = (full.items.saturating_sub(one.items)).max(1) as f64;
            let per_item = |a: Duration, b: Duration| (ms(b) - ms(a)) / extra;
            println!(
                "{:>9} | per item (org of {largest}, 1 -> {} items): http {:.4} ms, core {:.4} ms, rest {:.4} ms",
                backend_name(*backend),
                full.items,
                per_item(one.http, full.http),
                per_item(one.core, full.core),
                per_item(one.http.saturating_sub(one.core), full.http.saturating_sub(full.core)),
            );
        }
    }
}
