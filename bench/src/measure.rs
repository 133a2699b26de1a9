//! Running an operation from many tasks and summarising its latencies.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// What one run measured. `latencies` are in operation order (index = sequence number taken).
#[derive(Debug)]
pub struct Stats {
    pub done: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    sorted: Vec<Duration>,
}

impl Stats {
    /// Latencies measured elsewhere (in the order they were taken) over `elapsed`.
    pub fn from_latencies(latencies: Vec<Duration>, elapsed: Duration) -> Self {
        let mut sorted = latencies.clone();
        sorted.sort();
        Self { done: latencies.len(), elapsed, latencies, sorted }
    }

    /// Several runs as one: their operations and their times added up.
    pub fn merge(runs: Vec<Stats>) -> Self {
        let elapsed = runs.iter().map(|r| r.elapsed).sum();
        Self::from_latencies(runs.into_iter().flat_map(|r| r.latencies).collect(), elapsed)
    }

    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((self.sorted.len() as f64 - 1.0) * p).round() as usize;
        self.sorted[idx]
    }

    /// Mean latency of operations `range` (in operation order).
    pub fn mean_of(&self, range: std::ops::Range<usize>) -> Duration {
        let slice =
            &self.latencies[range.start.min(self.latencies.len())..range.end.min(self.latencies.len())];
        if slice.is_empty() {
            return Duration::ZERO;
        }
        slice.iter().sum::<Duration>() / u32::try_from(slice.len()).unwrap_or(u32::MAX)
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `op(n)` from `clients` tasks for n = 0, 1, ... until `limit` operations, `max` time,
/// or an operation answers `false` (nothing left to do).
pub async fn drive<F, Fut>(clients: usize, limit: usize, max: Duration, op: F) -> anyhow::Result<Stats>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<bool>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::with_capacity(limit.min(1 << 20))));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (op, next, stop, results) = (op.clone(), next.clone(), stop.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < max {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= limit {
                    break;
                }
                let t = Instant::now();
                if op(n).await? {
                    mine.push((n, t.elapsed()));
                } else {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            results.lock().await.extend(mine);
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed();
    let mut results = std::mem::take(&mut *results.lock().await);
    results.sort_by_key(|(n, _)| *n);
    let latencies: Vec<Duration> = results.into_iter().map(|(_, d)| d).collect();
    Ok(Stats::from_latencies(latencies, elapsed))
}

/// Runs `op` once to warm up (connections, caches, lazy loading in the peer), then `repeats`
/// times or until `max` has passed (at least once); the median of the durations it reports,
/// and what its last run returned.
pub async fn median_of<T, F, Fut>(repeats: usize, max: Duration, mut op: F) -> anyhow::Result<(Duration, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Duration, T)>>,
{
    let (_, mut last) = op().await?;
    let start = Instant::now();
    let mut times = Vec::with_capacity(repeats);
    while times.len() < repeats.max(1) && (times.is_empty() || start.elapsed() < max) {
        let (took, value) = op().await?;
        times.push(took);
        last = value;
    }
    Ok((Stats::from_latencies(times, start.elapsed()).percentile(0.5), last))
}

/// One operation of a contender in [`take_turns`], given its sequence number (unique over the
/// contender's turns): `Ok(false)` when it has nothing left to do.
pub type Op = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = anyhow::Result<bool>> + Send>> + Send + Sync>;

/// Runs each contender `per_turn` operations at a time from `clients` tasks, taking turns for
/// `rounds` rounds, each round led by the next contender: none is always measured right after
/// another's work, and drift over the run falls on all alike. A contender stops once a turn ends
/// short (nothing left, or its `max` spent in all). Each one's turns, merged.
pub async fn take_turns<const N: usize>(
    contenders: [Op; N],
    clients: usize,
    rounds: usize,
    per_turn: usize,
    max: Duration,
) -> anyhow::Result<[Stats; N]> {
    let mut runs: [Vec<Stats>; N] = std::array::from_fn(|_| Vec::new());
    let mut done = [false; N];
    for round in 0..rounds {
        for turn in 0..N {
            let which = (round + turn) % N;
            let spent: Duration = runs[which].iter().map(|s| s.elapsed).sum();
            if done[which] || spent >= max {
                continue;
            }
            let (op, first) = (contenders[which].clone(), round * per_turn);
            let stats = drive(clients, per_turn, max - spent, move |n| op(first + n)).await?;
            done[which] = stats.done < per_turn;
            runs[which].push(stats);
        }
    }
    Ok(runs.map(Stats::merge))
}
