//! Counters and latency histograms, updated without locks, read as a
//! snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: latencies are recorded to within 1/16
/// (about 6%).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Enough buckets for nanoseconds up to 2^40 (18 minutes); beyond is clamped.
const BUCKETS: usize = (40 - SUB_BITS as usize + 1) * SUB;

/// A lock-free log-linear histogram of durations in nanoseconds.
#[derive(Debug)]
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let msb = 63 - ns.leading_zeros();
    let shift = msb - SUB_BITS;
    let sub = (ns >> shift) as usize & (SUB - 1);
    let index = (shift as usize + 1) * SUB + sub;
    index.min(BUCKETS - 1)
}

/// The smallest value that falls in `index` (what a percentile reports).
fn bucket_floor(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let shift = (index / SUB - 1) as u32;
    let sub = (index % SUB) as u64;
    ((SUB as u64) | sub) << shift
}

impl Histogram {
    pub(crate) fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get(bucket_of(ns)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> Percentiles {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let at = |q: f64| -> Duration {
            if total == 0 {
                return Duration::ZERO;
            }
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_nanos(bucket_floor(i));
                }
            }
            Duration::ZERO
        };
        Percentiles {
            count: total,
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

/// Latency percentiles of one stage, to within about 6%.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest.
    pub max: Duration,
}

/// The committer's live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) appends: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) groups: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) max_group: AtomicU64,
    pub(crate) queue_wait: Histogram,
    pub(crate) write: Histogram,
    pub(crate) sync: Histogram,
    pub(crate) append: Histogram,
}

impl Counters {
    /// Payload bytes committed and syncs so far.
    pub(crate) fn bytes_and_syncs(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.syncs.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let appends = self.appends.load(Ordering::Relaxed);
        let groups = self.groups.load(Ordering::Relaxed);
        Stats {
            appends,
            bytes: self.bytes.load(Ordering::Relaxed),
            groups,
            syncs: self.syncs.load(Ordering::Relaxed),
            avg_group: if groups == 0 {
                0.0
            } else {
                appends as f64 / groups as f64
            },
            max_group: self.max_group.load(Ordering::Relaxed),
            queue_wait: self.queue_wait.snapshot(),
            write: self.write.snapshot(),
            sync: self.sync.snapshot(),
            append: self.append.snapshot(),
        }
    }
}

/// A snapshot of the committer's counters since it was opened.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Logical records written (counted before a sync acknowledges them).
    pub appends: u64,
    /// Payload bytes written (before compression or encryption).
    pub bytes: u64,
    /// Groups written (each one write).
    pub groups: u64,
    /// Syncs issued.
    pub syncs: u64,
    /// Records per group, on average.
    pub avg_group: f64,
    /// Records in the largest group.
    pub max_group: u64,
    /// From an append entering the queue to its group being taken.
    pub queue_wait: Percentiles,
    /// Encoding and writing a group.
    pub write: Percentiles,
    /// Syncing a group.
    pub sync: Percentiles,
    /// From an append entering the queue to it being durable (the I/O
    /// thread's view; a waiter wakes a little later).
    pub append: Percentiles,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in (0..5000u64).chain([1 << 20, (1 << 20) + 1, 123_456_789, u64::MAX]) {
            let b = bucket_of(ns);
            assert!(b >= last || ns > 5000, "bucket order at {ns}");
            last = last.max(b);
            let floor = bucket_floor(b);
            assert!(floor <= ns, "floor {floor} above {ns}");
            if ns < 1 << 40 {
                assert!(
                    ns - floor <= ns / 16,
                    "bucket of {ns} too wide (floor {floor})"
                );
            }
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p = h.snapshot();
        assert_eq!(p.count, 1000);
        let within = |got: Duration, want_us: u64| {
            let want = want_us as f64 * 1000.0;
            (got.as_nanos() as f64 - want).abs() <= want / 16.0
        };
        assert!(within(p.p50, 500), "{:?}", p.p50);
        assert!(within(p.p99, 990), "{:?}", p.p99);
        assert!(within(p.max, 1000), "{:?}", p.max);
        assert_eq!(Histogram::default().snapshot(), Percentiles::default());
    }
}
