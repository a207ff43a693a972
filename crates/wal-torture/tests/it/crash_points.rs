//! Every mutating storage call of a workload is a crash point; each gets
//! several post-crash states, and crashes inside the recovery after it.

use wal_torture::{CrashConfig, Plan, crash};

use crate::support::run_and_report;

fn explore(seed: u64, ops: usize) -> wal_torture::Counts {
    let plan = Plan::from_seed(seed, ops);
    run_and_report(&format!("crash points, {plan}"), || {
        crash::explore(&plan, &CrashConfig::default())
    })
    .counts
}

#[test]
fn crash_points_plain() {
    let c = explore(0x100, 60);
    assert!(c.crash_cases > 0);
}
