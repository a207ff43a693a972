//! A fault at every k-th call of a workload of 300 operations.

use wal_torture::{FaultKind, Plan, faults};

use crate::support::run_and_report;

#[test]
fn eio_at_every_sync() {
    let plan = Plan::from_seed(0x300, 300).with_concurrent(true);
    let out = run_and_report(&format!("EIO at every sync, {plan}"), || {
        faults::explore(&plan, &[FaultKind::SyncEio])
    });
    assert!(out.counts.fault_cases >= 300);
}
