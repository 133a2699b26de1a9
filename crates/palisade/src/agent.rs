//! `palisade agent`: enforces one server's policy on its host with nftables.
//!
//! The loop: fetch the server's effective policy from the control plane
//! (`GET /api/v1/servers/{id}/policy`), compile it with `palisade-dataplane`, apply it with one
//! `nft -f` transaction that replaces only the `inet palisade` table (no other table is touched),
//! keep the script in `--state-dir`, report what was applied (`PUT …/enforcement`), then wait
//! for the next change with a long poll (`?after_revision=N` and `If-None-Match: "<digest>"`,
//! which the control plane holds until this server's policy differs). A change therefore
//! reaches the host as soon as it is committed, not at the next poll.
//!
//! What it never does is remove the rules: when the control plane is unreachable or answers
//! errors the rules in force stay, and the agent keeps trying (backing off up to
//! [`AgentConfig::max_backoff`]); after a restart it first re-applies the script it kept, so
//! the host is enforced before the control plane answers; on SIGTERM it exits and leaves them.
//! A policy it cannot compile or apply is reported as the server's `last_error`, and the rules
//! applied before stay in force.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use palisade_dataplane::EffectivePolicy;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// Everything `palisade agent` is told.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The control plane's base URL (`http://10.0.0.1:8080`).
    pub control_plane: String,
    /// The server's agent token.
    pub token: String,
    pub server: Uuid,
    /// Apply inside this network namespace (`ip netns exec NAME nft …`).
    pub netns: Option<String>,
    /// Where the last applied script is kept, to restore it after a restart.
    pub state_dir: Option<PathBuf>,
    /// How long the control plane may hold one long poll.
    pub poll_wait: Duration,
    /// Longest pause between attempts while the control plane fails.
    pub max_backoff: Duration,
    /// The `nft` program.
    pub nft: String,
}

/// What the agent keeps in `--state-dir`: the policy in force, so that it can be restored
/// before the control plane answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Applied {
    server_id: Uuid,
    revision: u64,
    digest: String,
    script: String,
}

/// One answer of the control plane.
enum Fetched {
    Policy {
        policy: Box<EffectivePolicy>,
        digest: String,
    },
    /// Nothing changed for this server; the organization's revision is now this.
    NotModified {
        revision: Option<u64>,
    },
}

/// Runs until `shutdown` completes, then returns, leaving the rules in place.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let agent = Agent::new(config)?;
    tokio::pin!(shutdown);
    tokio::select! {
        result = agent.run() => result,
        () = &mut shutdown => {
            tracing::info!("stopping; the rules in force stay");
            Ok(())
        }
    }
}

struct Agent {
    config: AgentConfig,
    client: reqwest::Client,
    policy_url: String,
    report_url: String,
}

impl Agent {
    fn new(config: AgentConfig) -> anyhow::Result<Self> {
        let base = config.control_plane.trim_end_matches('/');
        if !base.starts_with("http://") {
            bail!("--control-plane must be an http:// URL (this build speaks plain HTTP; put TLS in front)");
        }
        let server = config.server;
        let policy_url = format!("{base}/api/v1/servers/{server}/policy");
        let report_url = format!("{base}/api/v1/servers/{server}/enforcement");
        // A long poll is held up to `poll_wait`: allow that and a margin before giving up.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.poll_wait + Duration::from_secs(15))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { config, client, policy_url, report_url })
    }

    async fn run(&self) -> anyhow::Result<()> {
        let mut applied = self.restore().await;
        // The first question is unconditional: whatever was restored, report what is in force.
        let mut first = true;
        let mut backoff = Duration::from_millis(200);
        loop {
            let known = applied.as_ref().filter(|_| !first);
            match self.fetch(known).await {
                Ok(Fetched::Policy { policy, digest }) => {
                    first = false;
                    let same = applied.as_ref().is_some_and(|a| a.digest == digest);
                    if same {
                        // Restored, and still the policy: nothing to apply.
                        if let Some(a) = applied.as_mut() {
                            a.revision = policy.revision;
                        }
                    } else {
                        match self.enforce(&policy, &digest).await {
                            Ok(now) => applied = Some(now),
                            Err(e) => {
                                tracing::error!(error = %format!("{e:#}"), revision = policy.revision, "could not apply the policy; the rules in force stay");
                                self.report_failure(&format!("{e:#}")).await;
                                tokio::time::sleep(backoff).await;
                                backoff = (backoff * 2).min(self.config.max_backoff);
                                continue;
                            }
                        }
                    }
                    if let Some(a) = &applied {
                        self.report_applied(a).await;
                    }
                    backoff = Duration::from_millis(200);
                }
                Ok(Fetched::NotModified { revision }) => {
                    // This server's policy is the same at a later revision: say so.
                    if let (Some(a), Some(revision)) = (applied.as_mut(), revision) {
                        if revision > a.revision {
                            a.revision = revision;
                            let a = a.clone();
                            self.report_applied(&a).await;
                        }
                    }
                    backoff = Duration::from_millis(200);
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, "control plane not answering; the rules in force stay");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    /// Re-applies the script kept in the state directory, if any (after a restart, before the
    /// control plane answers).
    async fn restore(&self) -> Option<Applied> {
        let path = self.state_file()?;
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the kept policy");
                return None;
            }
        };
        let kept: Applied = match serde_json::from_str(&text) {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "the kept policy is unreadable; ignoring it");
                return None;
            }
        };
        if kept.server_id != self.config.server {
            tracing::warn!(path = %path.display(), "the kept policy is another server's; ignoring it");
            return None;
        }
        match self.nft(&kept.script).await {
            Ok(()) => {
                tracing::info!(revision = kept.revision, "restored the kept policy");
                Some(kept)
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "could not restore the kept policy");
                None
            }
        }
    }

    async fn fetch(&self, known: Option<&Applied>) -> anyhow::Result<Fetched> {
        let mut request = self.client.get(&self.policy_url).bearer_auth(&self.config.token);
        if let Some(known) = known {
            let wait = self.config.poll_wait.as_secs().to_string();
            let after = known.revision.to_string();
            request = request
                .query(&[("after_revision", after.as_str()), ("wait", wait.as_str())])
                .header(IF_NONE_MATCH, format!("\"{}\"", known.digest));
        }
        let response = request.send().await.context("asking for the policy")?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            let revision = response
                .headers()
                .get(palisade_api::native::policy::REVISION_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            return Ok(Fetched::NotModified { revision });
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("the control plane answered {status}: {body}");
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_owned());
        let body = response.bytes().await.context("reading the policy")?;
        let policy: EffectivePolicy =
            serde_json::from_slice(&body).context("the policy answer is not one")?;
        if policy.server_id != self.config.server.to_string() {
            bail!(
                "the control plane answered the policy of server {}, not {}",
                policy.server_id,
                self.config.server
            );
        }
        let digest = etag.ok_or_else(|| anyhow!("the policy answer has no ETag"))?;
        Ok(Fetched::Policy { policy: Box::new(policy), digest })
    }

    /// Compiles and applies `policy`, then keeps its script.
    async fn enforce(&self, policy: &EffectivePolicy, digest: &str) -> anyhow::Result<Applied> {
        let script = palisade_dataplane::script(policy).context("compiling the policy")?;
        self.nft(&script).await?;
        tracing::info!(revision = policy.revision, digest, "applied the policy");
        let applied = Applied {
            server_id: self.config.server,
            revision: policy.revision,
            digest: digest.to_owned(),
            script,
        };
        if let Err(e) = self.keep(&applied).await {
            tracing::warn!(error = %format!("{e:#}"), "could not keep the applied policy for a restart");
        }
        Ok(applied)
    }

    /// `nft -f -` with `script` on standard input, in the namespace if one is set.
    async fn nft(&self, script: &str) -> anyhow::Result<()> {
        let mut command = match &self.config.netns {
            Some(ns) => {
                let mut c = tokio::process::Command::new("ip");
                c.args(["netns", "exec", ns, &self.config.nft]);
                c
            }
            None => tokio::process::Command::new(&self.config.nft),
        };
        command
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().with_context(|| format!("running {}", self.config.nft))?;
        let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("nft has no standard input"))?;
        stdin.write_all(script.as_bytes()).await.context("writing to nft")?;
        drop(stdin);
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .context("nft took over 60 s")?
            .context("waiting for nft")?;
        if !output.status.success() {
            bail!("nft -f failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    }

    fn state_file(&self) -> Option<PathBuf> {
        self.config.state_dir.as_ref().map(|dir| dir.join("applied.json"))
    }

    /// Writes the applied policy to the state directory, atomically (a temporary file renamed).
    async fn keep(&self, applied: &Applied) -> anyhow::Result<()> {
        let Some(path) = self.state_file() else { return Ok(()) };
        let dir = path.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
        let temporary = path.with_extension("json.new");
        tokio::fs::write(&temporary, serde_json::to_vec(applied)?).await?;
        tokio::fs::rename(&temporary, &path).await?;
        Ok(())
    }

    async fn report_applied(&self, applied: &Applied) {
        let body =
            serde_json::json!({"applied_revision": applied.revision, "applied_digest": applied.digest});
        self.report(body).await;
    }

    async fn report_failure(&self, error: &str) {
        self.report(serde_json::json!({ "error": error })).await;
    }

    /// Best effort: a report lost now is made again after the next apply or poll.
    async fn report(&self, body: serde_json::Value) {
        let sent = self.client.put(&self.report_url).bearer_auth(&self.config.token).json(&body).send().await;
        match sent {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(status = %response.status(), "the control plane refused the report")
            }
            Err(e) => tracing::warn!(error = %e, "could not report to the control plane"),
        }
    }
}
