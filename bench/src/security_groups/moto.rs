//! moto, the AWS mock server, as the peer the security-group bench compares with: found, started
//! on a free loopback port, and spoken to through the EC2 query API.
//!
//! moto is a Python package; `scripts/bench-peers.sh` installs a pinned version into
//! `.ci/venv-bench`. moto routes a request to a service by the credential scope of its
//! `Authorization` header (an unsigned POST goes to S3) and does not check signatures, so every
//! request carries a SigV4-shaped header naming `ec2` with a dummy signature.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{pair_levels, seed, Plan, Side};
use crate::measure::median_of;
use crate::process::{free_port, Spawned};

/// What to run when moto is missing.
pub const INSTALL_HINT: &str = "scripts/bench-peers.sh (installs a pinned moto into .ci/venv-bench)";

const VERSION: &str = "2016-11-15";
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=bench/20240101/us-east-1/ec2/aws4_request, \
                             SignedHeaders=host, Signature=0000000000000000";

/// The `moto_server` to start: `explicit` if given, else the bench venv's, else the first on PATH.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return path.is_file().then(|| path.to_owned());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let venv = root.join(".ci/venv-bench/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("moto_server")).find(|p| p.is_file())
}

/// moto's version, asked of the Python beside `server` (a venv's or pyenv's), or "version unknown".
pub fn version(server: &Path) -> String {
    let python = server.with_file_name("python3");
    Command::new(python)
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "version unknown".to_owned())
}

/// A running `moto_server` (stopped when dropped) and a client for its EC2 API.
#[derive(Debug)]
pub struct Moto {
    _server: Spawned,
    pub ec2: Ec2,
}

impl Moto {
    pub async fn start(server: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(server);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stderr(std::process::Stdio::null());
        let mut spawned = Spawned::start(command, port)?;
        spawned.ready("/moto-api/", Duration::from_secs(60)).await?;
        let ec2 = Ec2 { client: reqwest::Client::new(), url: format!("{}/", spawned.base) };
        Ok(Self { _server: spawned, ec2 })
    }
}

/// EC2's query API: form-encoded POSTs, XML answers.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: reqwest::Client,
    url: String,
}

impl Ec2 {
    /// Calls `action` with `params`; the XML answer, or an error carrying it when not a success.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<String> {
        let mut form = vec![("Action", action), ("Version", VERSION)];
        form.extend_from_slice(params);
        let reply =
            self.client.post(&self.url).header("Authorization", AUTHORIZATION).form(&form).send().await?;
        let status = reply.status();
        let body = reply.text().await?;
        anyhow::ensure!(status.is_success(), "moto {action}: {status}: {body}");
        Ok(body)
    }
}

/// moto's numbers: `plan.groups` groups (each with two ingress rules and a tag; EC2 groups have
/// no members) walked with one unfiltered DescribeSecurityGroups, then create+rule pairs.
pub async fn measure(server: &Path, plan: &Plan) -> anyhow::Result<Side> {
    let moto = Moto::start(server).await?;
    let ec2 = moto.ec2.clone();
    seed("moto", plan.groups, plan.max, move |n| {
        let ec2 = ec2.clone();
        async move {
            let name = format!("group-{n:05}");
            ec2.call(
                "CreateSecurityGroup",
                &[
                    ("GroupName", &name),
                    ("GroupDescription", "a security group of the benchmark"),
                    ("TagSpecification.1.ResourceType", "security-group"),
                    ("TagSpecification.1.Tag.1.Key", "tier"),
                    ("TagSpecification.1.Tag.1.Value", "web"),
                ],
            )
            .await?;
            let cidr = format!("10.{}.{}.0/24", n / 256 % 256, n % 256);
            ec2.call(
                "AuthorizeSecurityGroupIngress",
                &[
                    ("GroupName", &name),
                    ("IpPermissions.1.IpProtocol", "tcp"),
                    ("IpPermissions.1.FromPort", "22"),
                    ("IpPermissions.1.ToPort", "22"),
                    ("IpPermissions.1.IpRanges.1.CidrIp", &cidr),
                    ("IpPermissions.2.IpProtocol", "tcp"),
                    ("IpPermissions.2.FromPort", "443"),
                    ("IpPermissions.2.ToPort", "443"),
                    ("IpPermissions.2.IpRanges.1.CidrIp", "0.0.0.0/0"),
                ],
            )
            .await?;
            Ok(())
        }
    })
    .await?;

    let (walk, walk_items) = median_of(plan.repeats, plan.max, || {
        let ec2 = &moto.ec2;
        async move {
            let started = Instant::now();
            let body = ec2.call("DescribeSecurityGroups", &[]).await?;
            Ok((started.elapsed(), body.matches("<securityGroupArn>").count()))
        }
    })
    .await?;
    // The default VPC's default group is listed too.
    anyhow::ensure!(walk_items > plan.groups, "moto listed {walk_items} groups, fewer than were made");

    let ec2 = moto.ec2.clone();
    let levels = pair_levels(plan, move |name| {
        let ec2 = ec2.clone();
        async move { pair(&ec2, &name).await }
    })
    .await?;
    Ok(Side { walk, walk_after_change: None, walk_items, walk_requests: 1, levels })
}

/// One create+rule pair, as a client makes it.
async fn pair(ec2: &Ec2, name: &str) -> anyhow::Result<()> {
    ec2.call("CreateSecurityGroup", &[("GroupName", name), ("GroupDescription", "a pair of the benchmark")])
        .await?;
    ec2.call(
        "AuthorizeSecurityGroupIngress",
        &[
            ("GroupName", name),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "22"),
            ("IpPermissions.1.ToPort", "22"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/24"),
        ],
    )
    .await?;
    Ok(())
}
