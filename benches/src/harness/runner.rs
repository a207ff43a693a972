//! The workload runner: `W` writer threads appending in a loop, a warm-up
//! phase, a measured phase, per-thread histograms merged at the end.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{DurableLog, GroupStats};

// The phase is read with `SeqCst` around every append (cheap next to an
// append), so an append whose engine-side effect follows a switch observes it.

/// Appends run but are not counted.
const WARMUP: u8 = 0;
/// Appends that complete now are counted and their latency recorded.
const MEASURE: u8 = 1;
/// Writers stop after their current append.
const STOP: u8 = 2;

/// The highest latency a histogram holds (longer ones are clamped): 60 s.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// One run's shape: how many writers, how large each payload, how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Concurrent writer threads.
    pub writers: usize,
    /// Payload bytes per append.
    pub payload_len: usize,
    /// Appends before measuring starts (not counted).
    pub warmup: Duration,
    /// The measured interval.
    pub measure: Duration,
}

/// Latency percentiles of the measured appends, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Appends the figures are drawn from.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// The figures of one (engine, writers, payload size) run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The engine's name.
    pub engine: String,
    /// Concurrent writers.
    pub writers: usize,
    /// Payload bytes per append.
    pub payload_len: usize,
    /// Appends that completed in the measured interval.
    pub commits: u64,
    /// Length of the measured interval, in seconds.
    pub elapsed_secs: f64,
    /// `commits / elapsed_secs`.
    pub commits_per_sec: f64,
    /// Payload bytes made durable per second, in MB/s (10^6 bytes; record
    /// headers not counted).
    pub mb_per_sec: f64,
    /// Latency of each counted append, from the call to its return.
    pub latency: LatencySummary,
    /// Records per sync in the measured interval, if the engine reports it.
    pub avg_group: Option<f64>,
    /// The engine's group-commit counters over the measured interval.
    pub group: Option<GroupStats>,
    /// The fewest appends one writer completed in the measured interval.
    pub thread_commits_min: u64,
    /// The most appends one writer completed in the measured interval.
    pub thread_commits_max: u64,
    /// With `--repeat`: the commits/s of every run of this configuration
    /// (this result is the median one).
    #[serde(default)]
    pub samples: Vec<f64>,
}

/// Drives the phases of a run from the coordinating thread: see
/// [`run_with`].
#[allow(missing_debug_implementations)] // holds a `&dyn DurableLog`
pub struct Control<'a> {
    phase: &'a AtomicU8,
    log: &'a dyn DurableLog,
    start: Option<(Instant, Option<GroupStats>)>,
    end: Option<(Instant, Option<GroupStats>)>,
}

impl Control<'_> {
    /// Ends the warm-up: appends that complete from now on are counted. Does
    /// nothing after the run stopped (a writer failed) or when called twice.
    pub fn start_measuring(&mut self) {
        if self.start.is_some() {
            return;
        }
        let stats = self.log.stats();
        if self
            .phase
            .compare_exchange(WARMUP, MEASURE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.start = Some((Instant::now(), stats));
        }
    }

    /// Ends the measured interval; writers stop after their current append.
    pub fn stop(&mut self) {
        if self.end.is_some() {
            return;
        }
        self.phase.store(STOP, Ordering::SeqCst);
        self.end = Some((Instant::now(), self.log.stats()));
    }

    /// Whether the run has stopped, by [`Control::stop`] or because a writer
    /// failed.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.phase.load(Ordering::SeqCst) == STOP
    }

    /// The engine under test (for a control that waits on its counters).
    #[must_use]
    pub fn log(&self) -> &dyn DurableLog {
        self.log
    }
}

/// What one writer thread hands back.
struct WriterResult {
    histogram: Histogram<u64>,
    commits: u64,
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (1 ns to 60 s, 3 significant digits).
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"))
}

/// Runs `writers` threads appending `payload_len`-byte payloads to `log`
/// until `control` returns (or calls [`Control::stop`]).
///
/// Writers start at once, in the warm-up phase; `control` runs on the
/// calling thread and decides when measuring starts
/// ([`Control::start_measuring`]) and ends ([`Control::stop`]). An append is
/// counted, and its latency recorded, when it completes in the measured
/// phase. [`run_workload`] is this with a timed control; tests drive it
/// by counts instead.
///
/// # Errors
///
/// The first append error of any writer (the run stops at it), a writer
/// that panicked, or a thread that could not be started.
pub fn run_with<F>(
    engine: &str,
    log: &dyn DurableLog,
    writers: usize,
    payload_len: usize,
    control: F,
) -> io::Result<RunResult>
where
    F: FnOnce(&mut Control<'_>),
{
    if writers == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no writers"));
    }
    let phase = AtomicU8::new(WARMUP);
    let first_error: Mutex<Option<io::Error>> = Mutex::new(None);

    let (results, start, end) = thread::scope(|scope| {
        let mut handles = Vec::with_capacity(writers);
        let mut spawn_error = None;
        for i in 0..writers {
            let spawned = thread::Builder::new()
                .name(format!("writer-{i}"))
                .spawn_scoped(scope, || writer(log, payload_len, &phase, &first_error));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        let mut ctl = Control {
            phase: &phase,
            log,
            start: None,
            end: None,
        };
        if spawn_error.is_none() {
            control(&mut ctl);
        }
        ctl.stop();
        let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        if let Some(e) = spawn_error {
            return Err(e);
        }
        let mut results = Vec::with_capacity(joined.len());
        for j in joined {
            results.push(j.map_err(|_| io::Error::other("a writer thread panicked"))?);
        }
        Ok((results, ctl.start, ctl.end))
    })?;

    if let Some(e) = first_error
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(e);
    }

    let mut merged = new_histogram();
    let mut commits = 0u64;
    let mut thread_min = u64::MAX;
    let mut thread_max = 0u64;
    for r in &results {
        merged
            .add(&r.histogram)
            .map_err(|e| io::Error::other(format!("histogram merge: {e:?}")))?;
        commits += r.commits;
        thread_min = thread_min.min(r.commits);
        thread_max = thread_max.max(r.commits);
    }

    let (elapsed_secs, group) = match (start, end) {
        (Some((t0, s0)), Some((t1, s1))) => {
            let group = match (s0, s1) {
                (Some(a), Some(b)) => Some(b.since(a)),
                _ => None,
            };
            (t1.duration_since(t0).as_secs_f64(), group)
        }
        _ => (0.0, None),
    };
    let per_sec = |x: f64| {
        if elapsed_secs > 0.0 {
            x / elapsed_secs
        } else {
            0.0
        }
    };
    Ok(RunResult {
        engine: engine.to_owned(),
        writers,
        payload_len,
        commits,
        elapsed_secs,
        commits_per_sec: per_sec(commits as f64),
        mb_per_sec: per_sec(commits as f64 * payload_len as f64) / 1e6,
        latency: summarize(&merged),
        avg_group: group.and_then(GroupStats::avg_group),
        group,
        thread_commits_min: thread_min,
        thread_commits_max: thread_max,
        samples: Vec::new(),
    })
}

fn writer(
    log: &dyn DurableLog,
    payload_len: usize,
    phase: &AtomicU8,
    first_error: &Mutex<Option<io::Error>>,
) -> WriterResult {
    let payload = crate::payload(payload_len);
    let mut histogram = new_histogram();
    let mut commits = 0u64;
    while phase.load(Ordering::SeqCst) != STOP {
        let t0 = Instant::now();
        if let Err(e) = log.append(&payload) {
            let mut slot = first_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            slot.get_or_insert(e);
            phase.store(STOP, Ordering::SeqCst);
            break;
        }
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if phase.load(Ordering::SeqCst) == MEASURE {
            histogram.saturating_record(ns.max(1));
            commits += 1;
        }
    }
    WriterResult { histogram, commits }
}

/// Runs `workload` against `log`: warm-up, then the measured interval, both
/// timed on the calling thread.
///
/// # Errors
///
/// As [`run_with`].
pub fn run_workload(
    engine: &str,
    log: &dyn DurableLog,
    workload: &Workload,
) -> io::Result<RunResult> {
    let (warmup, measure) = (workload.warmup, workload.measure);
    run_with(engine, log, workload.writers, workload.payload_len, |ctl| {
        pause(ctl, warmup);
        ctl.start_measuring();
        pause(ctl, measure);
        ctl.stop();
    })
}

/// Sleeps for `d`, or less if the run stopped early (a writer failed).
fn pause(ctl: &Control<'_>, d: Duration) {
    let deadline = Instant::now() + d;
    while !ctl.stopped() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

/// Percentiles of a histogram of nanosecond latencies, in microseconds.
#[must_use]
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let us = |ns: u64| ns as f64 / 1_000.0;
    LatencySummary {
        count: h.len(),
        p50_us: us(h.value_at_quantile(0.50)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        max_us: us(h.max()),
        mean_us: h.mean() / 1_000.0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    /// Appends without I/O; counts them, and reports a group of 4.
    #[derive(Default)]
    struct Counting {
        appended: AtomicU64,
        fail_after: Option<u64>,
    }

    impl DurableLog for Counting {
        fn append(&self, _payload: &[u8]) -> io::Result<u64> {
            let n = self.appended.fetch_add(1, Ordering::SeqCst) + 1;
            if self.fail_after.is_some_and(|limit| n > limit) {
                return Err(io::Error::other("injected"));
            }
            Ok(n)
        }

        fn stats(&self) -> Option<GroupStats> {
            let records = self.appended.load(Ordering::SeqCst);
            Some(GroupStats {
                records,
                syncs: records / 4,
            })
        }
    }

    impl Counting {
        fn wait_for(&self, n: u64) {
            while self.appended.load(Ordering::SeqCst) < n {
                thread::yield_now();
            }
        }
    }

    #[test]
    fn commits_add_up_across_threads() {
        let log = Counting::default();
        let writers = 4;
        let count = || log.appended.load(Ordering::SeqCst);
        // Engine-side counts just before and just after each switch.
        let (mut before_start, mut after_start, mut before_stop, mut after_stop) = (0, 0, 0, 0);
        let r = run_with("counting", &log, writers, 100, |ctl| {
            log.wait_for(1_000);
            before_start = count();
            ctl.start_measuring();
            after_start = count();
            log.wait_for(after_start + 10_000);
            before_stop = count();
            ctl.stop();
            after_stop = count();
        })
        .unwrap();
        assert_eq!(r.engine, "counting");
        assert_eq!((r.writers, r.payload_len), (4, 100));
        // Every counted append has one latency sample, and per-thread counts
        // sum to the total.
        assert_eq!(r.latency.count, r.commits);
        assert!(r.thread_commits_min <= r.thread_commits_max);
        assert!(r.thread_commits_max <= r.commits);
        // Counted: the appends between the switches, give or take the one
        // append each writer may have in flight at each switch.
        let w = writers as u64;
        assert!(
            r.commits + w >= before_stop - after_start,
            "{} commits",
            r.commits
        );
        assert!(
            r.commits <= after_stop - before_start + w,
            "{} commits",
            r.commits
        );
        assert!(r.commits >= 10_000 - w);
        // Group stats are the difference over the measured interval.
        let g = r.group.unwrap();
        assert!(g.records >= before_stop - after_start);
        assert!(g.records <= after_stop - before_start);
        let avg = r.avg_group.unwrap();
        assert!((avg - 4.0).abs() < 0.01, "{avg}");
        assert!(r.elapsed_secs > 0.0);
        let back = r.commits_per_sec * r.elapsed_secs;
        assert!((back - r.commits as f64).abs() < 1e-6 * r.commits as f64);
        assert!((r.mb_per_sec * 1e6 - r.commits_per_sec * 100.0).abs() < 1e-3);
    }

    #[test]
    fn never_measured_means_zero() {
        let log = Counting::default();
        let r = run_with("counting", &log, 2, 8, |ctl| {
            log.wait_for(10);
            ctl.stop();
            // Too late: the run has stopped.
            ctl.start_measuring();
        })
        .unwrap();
        assert_eq!((r.commits, r.commits_per_sec, r.mb_per_sec), (0, 0.0, 0.0));
        assert_eq!(r.latency, LatencySummary::default());
        assert_eq!(r.group, None);
    }

    #[test]
    fn the_first_error_stops_the_run() {
        let log = Counting {
            fail_after: Some(50),
            ..Counting::default()
        };
        let err = run_with("failing", &log, 3, 8, |ctl| {
            ctl.start_measuring();
            while !ctl.stopped() {
                thread::yield_now();
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "injected");
    }

    #[test]
    fn zero_writers_is_refused() {
        let log = Counting::default();
        let err = run_with("x", &log, 0, 8, |_| {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn merged_histograms_give_the_percentiles_of_all_samples() {
        // Two "threads": one with 1..=500 µs, one with 501..=1000 µs.
        let mut a = new_histogram();
        let mut b = new_histogram();
        for us in 1..=500u64 {
            a.record(us * 1_000).unwrap();
            b.record((us + 500) * 1_000).unwrap();
        }
        a.add(&b).unwrap();
        let s = summarize(&a);
        assert_eq!(s.count, 1_000);
        // 3 significant digits: within 0.1%.
        let close = |x: f64, want: f64| (x - want).abs() <= want * 0.001;
        assert!(close(s.p50_us, 500.0), "{s:?}");
        assert!(close(s.p99_us, 990.0), "{s:?}");
        assert!(close(s.p999_us, 999.0), "{s:?}");
        assert!(close(s.max_us, 1_000.0), "{s:?}");
        assert!(close(s.mean_us, 500.5), "{s:?}");
        assert_eq!(summarize(&new_histogram()), LatencySummary::default());
    }
}
