//! The comparison harness: the [`DurableLog`] engine trait, the workload
//! runner ([`run_workload`]), the buffered-throughput and recovery
//! workloads ([`buffered`]), the disk's own limits ([`disk`]), the report
//! (tables, ratios, JSON: [`report`]), the plots ([`svg`]) and the `compare`
//! binary's arguments ([`cli`]).
//!
//! An engine is anything that appends a record and returns once the record
//! is durable. The runner starts `W` writer threads that each append
//! payloads of `S` bytes in a loop, one at a time, waiting for durability
//! before the next, and records every append's latency in a per-thread HDR
//! histogram (no shared lock on the hot path; the histograms are merged at
//! the end).

pub mod buffered;
pub mod cli;
pub mod disk;
pub mod fs;
pub mod report;
mod runner;
pub mod svg;

use std::io;

use serde::{Deserialize, Serialize};

pub use buffered::{RecordSource, Verifier};
pub use runner::{Control, LatencySummary, RunResult, Workload, run_with, run_workload, summarize};

/// A durable log under test.
///
/// `append` returns only once the record is durable under the engine's
/// chosen sync policy (normally after an `fdatasync` that covers its bytes).
/// Appends come from many threads at once, each thread waiting for its
/// previous append before the next.
pub trait DurableLog: Send + Sync {
    /// Appends `payload` as one record and returns its LSN (or sequence
    /// number) once the record is durable.
    ///
    /// # Errors
    ///
    /// Any I/O error of the write or the sync; the run stops at the first.
    fn append(&self, payload: &[u8]) -> io::Result<u64>;

    /// The buffered-throughput workload: appends every record of `source`
    /// from this one thread without waiting for each to be durable (the
    /// engine's cheapest way to log a stream of records), then makes all of
    /// them durable before returning.
    ///
    /// # Errors
    ///
    /// `Unsupported` (the default) if the engine has no such mode; otherwise
    /// any I/O error.
    fn write_buffered(&self, source: &mut RecordSource) -> io::Result<()> {
        let _ = source;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no buffered mode in this engine",
        ))
    }

    /// Cumulative group-commit counters since the engine was opened, if the
    /// engine keeps them. The runner takes a snapshot when measuring starts
    /// and another when it stops, and reports `records / syncs` of the
    /// difference as the average group size.
    fn stats(&self) -> Option<GroupStats> {
        None
    }

    /// Flushes and stops the engine (joins its threads, closes its files).
    /// Called once after the run; dropping the engine must also be safe.
    ///
    /// # Errors
    ///
    /// Any error of the final flush.
    fn close(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// Cumulative group-commit counters of an engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStats {
    /// Records made durable.
    pub records: u64,
    /// Syncs (`fsync`/`fdatasync` calls, or the engine's equivalent) that
    /// made them durable.
    pub syncs: u64,
}

impl GroupStats {
    /// The counters accumulated between `earlier` and `self`.
    #[must_use]
    pub fn since(self, earlier: Self) -> Self {
        Self {
            records: self.records.saturating_sub(earlier.records),
            syncs: self.syncs.saturating_sub(earlier.syncs),
        }
    }

    /// Records per sync, or `None` when there was no sync.
    #[must_use]
    pub fn avg_group(self) -> Option<f64> {
        (self.syncs > 0).then(|| self.records as f64 / self.syncs as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_stats_delta_and_average() {
        let before = GroupStats {
            records: 100,
            syncs: 10,
        };
        let after = GroupStats {
            records: 500,
            syncs: 110,
        };
        let delta = after.since(before);
        assert_eq!(
            delta,
            GroupStats {
                records: 400,
                syncs: 100
            }
        );
        assert_eq!(delta.avg_group(), Some(4.0));
        assert_eq!(GroupStats::default().avg_group(), None);
        // A counter that went backwards (a reopened engine) saturates.
        assert_eq!(before.since(after), GroupStats::default());
    }
}
