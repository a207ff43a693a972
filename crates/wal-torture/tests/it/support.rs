//! Running an exploration and reporting it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wal_torture::{Counts, CrashConfig, Outcome, Plan, Workload, crash};

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

/// Post-crash states per crash point.
const VARIANTS: u32 = 12;

/// Post-crash states per crash point of an encrypted workload (AES-GCM is
/// slow in a debug build).
const ENCRYPTED_VARIANTS: u32 = 6;

/// The crash-point plan of `seed` (bit 0: encryption) with `ops`
/// operations, or `encrypted_ops` when encrypted, and how many post-crash
/// states each of its crash points gets.
pub(crate) fn crash_plan(seed: u64, ops: usize, encrypted_ops: usize) -> (Plan, u32) {
    if seed & 1 == 1 {
        (Plan::from_seed(seed, encrypted_ops), ENCRYPTED_VARIANTS)
    } else {
        (Plan::from_seed(seed, ops), VARIANTS)
    }
}

/// Every crash point of `plan`'s `workload` (`calls` of them, as its
/// coverage counted) with `variants` post-crash states each and a crash
/// at every call of the recovery, dealt out to [`JOBS`] threads; checks
/// that every one was explored, adds the cases to `cases` and prints the
/// running total.
pub(crate) fn explore_crash_points(
    name: &str,
    (plan, variants): &(Plan, u32),
    workload: Workload,
    calls: u64,
    cases: &AtomicU64,
) -> Counts {
    let config = CrashConfig {
        variants: *variants,
        recovery: true,
    };
    let counts = run_and_report(&format!("{name}, {plan}"), || {
        crash::explore_parallel(plan, workload, &config, JOBS)
    });
    assert_eq!(counts.crash_points, calls);
    assert_eq!(counts.crash_cases, calls * u64::from(*variants));
    assert!(counts.recovery_crash_cases >= calls);
    let total = cases.fetch_add(counts.crash_cases, Ordering::SeqCst) + counts.crash_cases;
    eprintln!("wal-torture {name}: {total} (crash point, post-crash state) cases so far");
    counts
}
