//! Running an exploration and reporting it.

use std::time::Instant;

use wal_torture::{Counts, Outcome};

/// Threads each crash-point exploration deals its crash points out to
/// (`crash::explore_parallel`): a case spends much of its time waiting for
/// the log's own threads, so one exploration leaves the cores idle; with
/// the two tests the harness runs at once on two cores, six threads keep
/// both busy.
pub(crate) const JOBS: usize = 3;

/// Runs `explore`, prints its counts (the CI log quotes them) and any
/// violation with its replay line, and fails on a violation.
pub(crate) fn run_and_report(name: &str, explore: impl FnOnce() -> Outcome) -> Counts {
    let started = Instant::now();
    let out = explore();
    eprintln!(
        "wal-torture {name}: {} in {:.1?}",
        out.counts,
        started.elapsed()
    );
    for v in &out.violations {
        eprintln!("  {v}");
    }
    assert_eq!(
        out.counts.violations,
        0,
        "{name}: {} violations, first: {:?}",
        out.counts.violations,
        out.violations.first().map(ToString::to_string)
    );
    out.counts
}
