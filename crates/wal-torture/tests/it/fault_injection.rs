//! A fault at every k-th call of its kind, for every k, in a workload of
//! 300 operations: every waiter of the failed group gets an error, the log
//! is poisoned until reopened, nothing acknowledged is lost after reopening
//! (and after a power loss on top), and appending afterwards works.

use wal_torture::{FaultKind, Plan, faults};

use crate::support::run_and_report;

const OPS: usize = 300;

fn explore(seed: u64, kinds: &[FaultKind]) -> wal_torture::Counts {
    let plan = Plan::from_seed(seed, OPS).with_concurrent(true);
    let names: Vec<_> = kinds.iter().map(|k| k.name()).collect();
    run_and_report(&format!("{} at every k, {plan}", names.join(", ")), || {
        faults::explore(&plan, kinds)
    })
}

#[test]
fn eio_at_every_sync() {
    let counts = explore(0x5000, &[FaultKind::SyncEio]);
    // One case per sync of a 300-operation workload: at least one each.
    assert!(counts.fault_cases >= OPS as u64, "{counts}");
}

#[test]
fn eio_at_every_sync_encrypted_and_compressed() {
    // Shorter: AES-GCM is slow in a debug build.
    let plan = Plan::from_seed(0x5003, 60).with_concurrent(true);
    run_and_report(&format!("sync-eio at every k, {plan}"), || {
        faults::explore(&plan, &[FaultKind::SyncEio])
    });
}

#[test]
fn fsync_that_fails_once_and_forgets_at_every_sync() {
    let counts = explore(0x500a, &[FaultKind::SyncEioForgets]);
    assert!(counts.fault_cases >= OPS as u64, "{counts}");
}

#[test]
fn eio_and_enospc_at_every_write() {
    let counts = explore(0x5008, &[FaultKind::WriteEio, FaultKind::WriteEnospc]);
    assert!(counts.fault_cases >= 2 * OPS as u64, "{counts}");
}

#[test]
fn short_writes_dir_sync_eio_and_enospc_on_allocation() {
    let counts = explore(
        0x5002,
        &[
            FaultKind::ShortWrite,
            FaultKind::DirSyncEio,
            FaultKind::AllocEnospc,
        ],
    );
    assert!(counts.fault_cases >= OPS as u64, "{counts}");
}

#[test]
fn the_disk_fills_up_at_every_kib() {
    let counts = explore(0x5006, &[FaultKind::DiskFull]);
    assert!(counts.disk_full_cases >= 50, "{counts}");
}
