//! A server the bench starts as a child process (the `palisade` binary, `moto_server`): on a
//! free loopback port, waited for until a probe path answers, killed and reaped when dropped so
//! that an error or a panic in the bench never leaves it running.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A started child and the base URL it serves.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    pub base: String,
}

/// A loopback port nobody listens on now (the child binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Spawned {
    /// Starts `command` (already given its arguments, including `port`), standard output discarded.
    pub fn start(mut command: Command, port: u16) -> anyhow::Result<Self> {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command.stdout(Stdio::null()).spawn().with_context(|| format!("starting {program}"))?;
        Ok(Self { child, base: format!("http://127.0.0.1:{port}") })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET {base}{path}` answers a success, for at most `within`.
    pub async fn ready(&mut self, path: &str, within: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(r) = client.get(format!("{}{path}", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the server for {} exited ({status}) before it was ready", self.base);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the server at {} did not become ready within {} s", self.base, within.as_secs())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
