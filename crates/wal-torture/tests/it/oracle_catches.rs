//! The campaign can fail: a disk that loses acknowledged writes is caught,
//! and a case replays.

use wal_torture::{Case, FaultKind, Plan, Workload, faults};

#[test]
fn a_disk_that_loses_acknowledged_writes_is_caught() {
    // Sequential, so that the case replays exactly.
    let plan = Plan::from_seed(0x6000, 40);
    let out = faults::explore(&plan, Workload::Records, &[FaultKind::LostWrite]);
    assert!(out.counts.fault_cases > 10);
    assert!(
        out.counts.violations > 0,
        "lost writes went unnoticed: {}",
        out.counts
    );
    let first = &out.violations[0];
    eprintln!("wal-torture oracle self-check: {first}");
    assert!(
        first
            .to_string()
            .contains("cargo xtask crash --replay fault-seq:")
    );
    // The replay line names the case, and replaying it finds a violation
    // again.
    let case: Case = first.case.to_string().parse().unwrap();
    assert_eq!(case, first.case);
    let again = wal_torture::replay(&case).unwrap_err();
    assert_eq!(again, *first);
}

#[test]
fn a_disk_that_loses_acknowledged_stream_entries_is_caught() {
    let plan = Plan::from_seed(0x6000, 40);
    let out = faults::explore(&plan, Workload::Streams, &[FaultKind::LostWrite]);
    assert!(out.counts.stream_fault_cases > 10, "{}", out.counts);
    assert!(
        out.counts.violations > 0,
        "lost writes went unnoticed: {}",
        out.counts
    );
    let first = &out.violations[0];
    eprintln!("wal-torture oracle self-check, streams: {first}");
    assert!(
        first
            .to_string()
            .contains("cargo xtask crash --replay fault-seq-streams:")
    );
    let case: Case = first.case.to_string().parse().unwrap();
    assert_eq!(case, first.case);
    assert_eq!(wal_torture::replay(&case).unwrap_err(), *first);
}

#[test]
fn a_crash_case_replays_clean() {
    let case: Case = "crash:0x1000:150:40:3".parse().unwrap();
    wal_torture::replay(&case).unwrap();
    let case: Case = "crash:0x1000:150:40:1:2".parse().unwrap();
    wal_torture::replay(&case).unwrap();
}
