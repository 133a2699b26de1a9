//! End to end: from an API write to the rules in force on a host. One server runs in process
//! on each backend; one host is a network namespace with the server's address, enforced by
//! `palisade agent` (its code, in process, applying with `ip netns exec … nft -f`). Each change
//! adds a Katapult rule on a new port to the host's group; the time is from just before the
//! write's request to the moment `nft list` in the namespace shows the port: the write, the
//! long poll's answer, the compile, `nft -f` and the look. The look's own cost (one `nft list`)
//! is printed beside it: it bounds the resolution.

use std::process::Command;
use std::time::{Duration, Instant};

use palisade_testkit::netns::Lab;
use palisade_testkit::{Backend, TestDatabase};
use serde_json::json;

use crate::measure::{ms, Stats};
use crate::{backend_name, post, serve, OPERATOR};

pub async fn run(backends: &[Backend], changes: usize, max: Duration) -> anyhow::Result<()> {
    println!("enforcement end to end: API write (a Katapult rule) → rules in force on the host (nft), {changes} changes");
    println!(
        "{:>9} | {:>8} {:>8} {:>8} {:>8} | {:>14}",
        "backend", "p50 ms", "p90 ms", "p99 ms", "max ms", "nft list ms"
    );
    for &backend in backends {
        let db = TestDatabase::new(backend).await;
        let served = serve(&db.url).await?;
        let base = served.base.clone();
        let client = reqwest::Client::new();
        let api = |path: &str| format!("{base}{path}");
        let org =
            post(&client, api("/api/v1/organizations"), OPERATOR, json!({"name": "E", "sub_domain": "e"}))
                .await?;
        let org = org["organization"]["id"].as_str().unwrap_or_default().to_owned();
        let country = json!({"name": "UK", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false});
        let dc = post(
            &client,
            api("/api/v1/data_centers"),
            OPERATOR,
            json!({"name": "L", "permalink": "l", "country": country}),
        )
        .await?;
        let net = post(
            &client,
            api("/api/v1/networks"),
            OPERATOR,
            json!({"name": "N", "data_center_id": dc["data_center"]["id"], "prefixes": ["198.51.100.0/24"]}),
        )
        .await?;
        let body = json!({"name": "web", "interfaces": [{"network_id": net["network"]["id"], "addresses": ["198.51.100.10"]}]});
        let server =
            post(&client, api(&format!("/api/v1/organizations/{org}/servers")), OPERATOR, body).await?;
        let server = server["server"]["id"].as_str().unwrap_or_default().to_owned();
        let scopes = json!({"name": "t", "scopes": ["security_groups", "virtual_machines"]});
        let token =
            post(&client, api(&format!("/api/v1/organizations/{org}/api_tokens")), OPERATOR, scopes).await?;
        let token = token["secret"].as_str().unwrap_or_default().to_owned();
        let agent_token = post(
            &client,
            api(&format!("/api/v1/servers/{server}/agent_tokens")),
            OPERATOR,
            json!({"name": "a"}),
        )
        .await?;
        let agent_token = agent_token["secret"].as_str().unwrap_or_default().to_owned();
        let vm = palisade_api::katapult::ids::render("vm", uuid::Uuid::parse_str(&server)?.as_bytes());
        let group = post(
            &client,
            api("/core/v1/organizations/_/security_groups"),
            &token,
            json!({"organization": {"sub_domain": "e"}, "properties": {"name": "web", "associations": [vm],
                "allow_all_inbound": false, "allow_all_outbound": true}}),
        )
        .await?;
        let group = group["security_group"]["id"].as_str().unwrap_or_default().to_owned();

        let mut lab = Lab::new()?;
        let host = lab.host(&["198.51.100.10/24".parse()?])?;
        let config = palisade::agent::AgentConfig {
            control_plane: base.clone(),
            token: agent_token,
            server: server.parse()?,
            netns: Some(host.name().to_owned()),
            state_dir: None,
            poll_wait: Duration::from_secs(30),
            max_backoff: Duration::from_millis(200),
            nft: "nft".into(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(palisade::agent::run(config, async move {
            let _ = stopped.await;
        }));
        let ns = host.name().to_owned();
        let shows = move |port: u16| -> anyhow::Result<bool> {
            let out = Command::new("ip")
                .args(["netns", "exec", &ns, "nft", "list", "table", "inet", "palisade"])
                .output()?;
            Ok(out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains(&format!("dport {port} ")))
        };
        let started = Instant::now();
        let (mut took, mut looks) = (Vec::new(), Vec::new());
        for i in 0..changes {
            if started.elapsed() > max {
                break;
            }
            let port = u16::try_from(20_000 + i)?;
            let rule = json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": port.to_string(),
                "targets": ["198.51.100.0/24"]}});
            let t0 = Instant::now();
            post(&client, api(&format!("/core/v1/security_groups/{group}/rules")), &token, rule).await?;
            loop {
                let look = Instant::now();
                let shows = shows.clone();
                let seen = tokio::task::spawn_blocking(move || shows(port)).await??;
                looks.push(look.elapsed());
                if seen {
                    took.push(t0.elapsed());
                    break;
                }
                anyhow::ensure!(t0.elapsed() < Duration::from_secs(10), "port {port} never reached the host");
            }
        }
        let _ = stop.send(());
        agent.await??;
        let stats = Stats::from_latencies(took, Duration::ZERO);
        looks.sort();
        println!(
            "{:>9} | {:>8.1} {:>8.1} {:>8.1} {:>8.1} | {:>14.1}",
            backend_name(backend),
            ms(stats.percentile(0.5)),
            ms(stats.percentile(0.9)),
            ms(stats.percentile(0.99)),
            ms(stats.percentile(1.0)),
            ms(looks[looks.len() / 2]),
        );
        let _ = served.stop.send(());
        drop(lab);
    }
    println!("(target: a change in force within a second; the host's table holds 1 rule more per change)");
    Ok(())
}
