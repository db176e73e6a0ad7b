//! Sequential round trips (latency samples) and pipelined clients (rate), over [`Probe`]s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::probe::Probe;

/// The `p` quantile (0..=1) of ascending `sorted` samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// p50 and p99 of `samples` (sorted in place).
pub fn p50_p99(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (percentile(samples, 0.5), percentile(samples, 0.99))
}

/// `n` sequential round trips on `topic`: microseconds from publish to the next message received,
/// which `check` sees.
pub async fn sequential(
    p: &mut Probe,
    topic: &str,
    n: usize,
    mut request: impl FnMut(usize) -> Vec<u8>,
    mut check: impl FnMut(&[u8]),
) -> Vec<f64> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let payload = request(i);
        let start = Instant::now();
        p.send(topic, payload).await;
        let reply = p.next().await;
        samples.push(reply.at.duration_since(start).as_secs_f64() * 1e6);
        check(&reply.payload);
    }
    samples
}

/// The next request of client `c` (`None`: nothing more to send).
pub type NextRequest = Arc<dyn Fn(usize) -> Option<Vec<u8>> + Send + Sync>;
/// Sees every reply.
pub type OnReply = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Replies counted over a measured time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    /// Replies received within the time.
    pub completed: u64,
    /// From the start to the last counted reply.
    pub elapsed: Duration,
}

impl Rate {
    /// Replies per second.
    pub fn per_second(&self) -> f64 {
        if self.elapsed.is_zero() { 0.0 } else { self.completed as f64 / self.elapsed.as_secs_f64() }
    }

    /// Both counts together.
    pub fn add(&mut self, other: Rate) {
        self.completed += other.completed;
        self.elapsed += other.elapsed;
    }
}

/// Every probe keeps `window` requests in flight on `topic` (`{id}`: the probe's id) for
/// `duration`, or until `next` has nothing more; counts the replies that arrived within it. The
/// probes come back with nothing in flight.
pub async fn pipelined(
    probes: Vec<Probe>,
    topic: &str,
    window: usize,
    duration: Duration,
    next: NextRequest,
    on_reply: OnReply,
) -> (Vec<Probe>, Rate) {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = probes
        .into_iter()
        .enumerate()
        .map(|(c, mut p)| {
            let topic = topic.replace("{id}", &p.id);
            let (next, on_reply) = (next.clone(), on_reply.clone());
            tokio::spawn(async move {
                let (mut in_flight, mut completed, mut last) = (0usize, 0u64, start);
                for _ in 0..window {
                    let Some(request) = next(c) else { break };
                    p.send(&topic, request).await;
                    in_flight += 1;
                }
                while in_flight > 0 {
                    let reply = p.next().await;
                    in_flight -= 1;
                    on_reply(&reply.payload);
                    if reply.at <= deadline {
                        completed += 1;
                        last = last.max(reply.at);
                    }
                    if Instant::now() < deadline
                        && let Some(request) = next(c)
                    {
                        p.send(&topic, request).await;
                        in_flight += 1;
                    }
                }
                (p, completed, last)
            })
        })
        .collect();
    let (mut probes, mut rate, mut last) = (Vec::new(), Rate::default(), start);
    for task in tasks {
        let (p, completed, at) = task.await.expect("client task");
        probes.push(p);
        rate.completed += completed;
        last = last.max(at);
    }
    rate.elapsed = last.duration_since(start);
    (probes, rate)
}
