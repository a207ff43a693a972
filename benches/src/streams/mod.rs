//! The streams workloads: many logical logs in one engine, durable appends
//! from `W` writer threads, groupwal's streams against raft-engine's
//! regions (raft-engine's reason to exist: TiKV's thousands of Raft groups
//! in one log).
//!
//! - `own`: writer `w` appends to stream `w` (each writer a Raft group).
//! - `spread`: every append goes to one of `N` streams drawn at random
//!   (10,000 groups, few appends each).
//! - `churn`: `W` writers on 100 streams; after every 100th entry a
//!   stream purges what it does not keep: a quarter keep 100 entries, a
//!   quarter 1,000, a quarter 10,000, a quarter never purge (lagging
//!   followers). The figure is device bytes per payload byte: what the
//!   process caused to be written (`write_bytes` of `/proc/self/io`, page
//!   cache write-back included) over the payload bytes made durable.
//!
//! Appends to one stream are ordered: groupwal takes the stream's index
//! and queues the entry under its index lock and waits outside it;
//! raft-engine needs each region's entries in index order, so the harness
//! holds the region's lock across `Engine::write` (two writers meet on a
//! region only in `spread` and `churn`, rarely).

pub mod engines;

use std::io;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// A log of many streams under test.
pub trait StreamLog: Send + Sync {
    /// Appends `payload` to `stream` and returns once it is durable.
    ///
    /// # Errors
    ///
    /// The engine's.
    fn append(&self, stream: u64, payload: &[u8]) -> io::Result<u64>;

    /// Removes the entries of `stream` below `index`, as the engine's
    /// documentation says to (and reclaims space as it does).
    ///
    /// # Errors
    ///
    /// The engine's.
    fn purge(&self, stream: u64, index: u64) -> io::Result<()>;

    /// Periodic maintenance the engine's documentation asks the
    /// application to run (raft-engine: `purge_expired_files`).
    ///
    /// # Errors
    ///
    /// The engine's.
    fn maintain(&self) -> io::Result<()> {
        Ok(())
    }

    /// Flushes and stops the engine.
    ///
    /// # Errors
    ///
    /// The engine's.
    fn close(self: Box<Self>) -> io::Result<()>;
}

/// Which stream each append goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Shape {
    /// Writer `w` appends to stream `w`.
    Own,
    /// Each append to one of this many streams, at random.
    Spread(u64),
    /// 100 streams at random, purging at four rates (one never).
    Churn,
}

impl Shape {
    /// The name in tables.
    #[must_use]
    pub fn name(self) -> String {
        match self {
            Shape::Own => "own stream per writer".into(),
            Shape::Spread(n) => format!("{n} streams, random"),
            Shape::Churn => "purge churn, 100 streams".into(),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamResult {
    /// The engine.
    pub engine: String,
    /// The workload.
    pub shape: Shape,
    /// Writers.
    pub writers: usize,
    /// Payload bytes.
    pub payload_len: usize,
    /// Durable appends per second in the measured interval.
    pub commits_per_sec: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Bytes the process caused to be written to the device over the
    /// whole run (warm-up included) per payload byte made durable in it.
    pub device_per_payload: f64,
    /// Bytes of the engine's files at the end.
    pub disk_bytes: u64,
}

/// `write_bytes` of `/proc/self/io`: bytes this process caused to be sent
/// to the storage layer (0 where there is no such file).
#[must_use]
pub fn device_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The bytes of every file under `dir`.
#[must_use]
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// How many entries a churn stream keeps (`None`: it never purges).
fn keeps(stream: u64) -> Option<u64> {
    match stream % 4 {
        0 => Some(100),
        1 => Some(1_000),
        2 => Some(10_000),
        _ => None,
    }
}

/// A small per-thread generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Runs one workload on `log` (in `dir`): `warmup`, then `measure`.
///
/// # Errors
///
/// The first error of a writer.
#[allow(clippy::too_many_arguments)]
pub fn run(
    engine: &str,
    log: &dyn StreamLog,
    dir: &std::path::Path,
    shape: Shape,
    writers: usize,
    payload_len: usize,
    warmup: Duration,
    measure: Duration,
) -> io::Result<StreamResult> {
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let payload_bytes = AtomicU64::new(0);
    let start = Barrier::new(writers + 1);
    let device_before = device_bytes();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (measuring, stop, bytes, start) = (&measuring, &stop, &payload_bytes, &start);
                scope.spawn(move || -> io::Result<(u64, Histogram<u64>)> {
                    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1));
                    let payload = vec![b'a' + (w % 26) as u8; payload_len];
                    let mut counted = 0u64;
                    start.wait();
                    while !stop.load(Ordering::Relaxed) {
                        let stream = match shape {
                            Shape::Own => w as u64,
                            Shape::Spread(n) => rng.below(n),
                            Shape::Churn => rng.below(100),
                        };
                        let t = Instant::now();
                        let index = log.append(stream, &payload)?;
                        let took = t.elapsed();
                        bytes.fetch_add(payload_len as u64, Ordering::Relaxed);
                        if shape == Shape::Churn
                            && index % 100 == 0
                            && let Some(keep) = keeps(stream)
                            && index > keep
                        {
                            log.purge(stream, index - keep)?;
                        }
                        if measuring.load(Ordering::Relaxed) {
                            counted += 1;
                            let _ = hist
                                .record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
                        }
                    }
                    Ok((counted, hist))
                })
            })
            .collect();
        start.wait();
        std::thread::sleep(warmup);
        measuring.store(true, Ordering::SeqCst);
        let began = Instant::now();
        let mut next_maintenance = Instant::now();
        while began.elapsed() < measure {
            std::thread::sleep(Duration::from_millis(100));
            if next_maintenance.elapsed() >= Duration::from_secs(1) {
                log.maintain()?;
                next_maintenance = Instant::now();
            }
        }
        measuring.store(false, Ordering::SeqCst);
        let elapsed = began.elapsed();
        stop.store(true, Ordering::SeqCst);
        let mut total = 0;
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
            .map_err(|e| io::Error::other(e.to_string()))?;
        for h in handles {
            let (n, h) = h
                .join()
                .map_err(|_| io::Error::other("writer panicked"))??;
            total += n;
            let _ = hist.add(h);
        }
        log.maintain()?;
        Ok::<_, io::Error>((total, hist, elapsed))
    })
    .map(|(total, hist, elapsed)| {
        let device = device_bytes().saturating_sub(device_before);
        let disk_bytes = dir_bytes(dir);
        let payload = payload_bytes.load(Ordering::Relaxed).max(1);
        StreamResult {
            engine: engine.to_owned(),
            shape,
            writers,
            payload_len,
            commits_per_sec: total as f64 / elapsed.as_secs_f64(),
            p50_us: hist.value_at_quantile(0.5) as f64 / 1000.0,
            p99_us: hist.value_at_quantile(0.99) as f64 / 1000.0,
            device_per_payload: device as f64 / payload as f64,
            disk_bytes,
        }
    })
}
