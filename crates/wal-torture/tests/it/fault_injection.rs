//! A fault at every k-th call of its kind, for every k, in a workload of
//! 300 operations: every waiter of the failed group gets an error, the log
//! is poisoned until reopened, nothing acknowledged is lost after reopening
//! (and after a power loss on top), and appending afterwards works. Some
//! faults are injected into the streams workload instead (entries
//! submitted to several streams before waiting, batches across streams,
//! purges, truncations, live entries copied forward out of old segments),
//! where after reopening every stream, read through the facade, holds
//! what the model allows.

use wal_torture::{FaultKind, Plan, Workload, crash, faults};

use crate::support::run_and_report;

const OPS: usize = 300;

/// Operations of a streams workload (it does more per operation: live
/// entries are copied forward, every stream is read back).
const STREAM_OPS: usize = 180;

fn explore(seed: u64, kinds: &[FaultKind]) -> wal_torture::Counts {
    explore_with(seed, OPS, Workload::Records, kinds)
}

fn explore_with(
    seed: u64,
    ops: usize,
    workload: Workload,
    kinds: &[FaultKind],
) -> wal_torture::Counts {
    let plan = Plan::from_seed(seed, ops).with_concurrent(true);
    let names: Vec<_> = kinds.iter().map(|k| k.name()).collect();
    run_and_report(
        &format!(
            "{} at every k, {workload} workload, {plan}",
            names.join(", ")
        ),
        || faults::explore(&plan, workload, kinds),
    )
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
        faults::explore(&plan, Workload::Records, &[FaultKind::SyncEio])
    });
}

#[test]
fn fsync_that_fails_once_and_forgets_at_every_sync() {
    // Half the operations on records, half on streams.
    let half = OPS / 2;
    let counts = explore_with(
        0x500a,
        half,
        Workload::Records,
        &[FaultKind::SyncEioForgets],
    );
    assert!(counts.fault_cases >= half as u64, "{counts}");
    let counts = explore_with(
        0x500a,
        half,
        Workload::Streams,
        &[FaultKind::SyncEioForgets],
    );
    assert!(counts.stream_fault_cases >= half as u64, "{counts}");
}

#[test]
fn eio_and_enospc_at_every_write() {
    // EIO on records, ENOSPC on streams.
    let counts = explore(0x5008, &[FaultKind::WriteEio]);
    assert!(counts.fault_cases >= OPS as u64, "{counts}");
    // Live entries are copied forward (`Plan::options`) many times.
    let plan = Plan::from_seed(0x5008, STREAM_OPS).with_concurrent(true);
    let cover = crash::coverage(&plan, Workload::Streams).unwrap();
    assert!(cover.written_forward >= 10, "{plan}: {cover:?}");
    let counts = explore_with(
        0x5008,
        STREAM_OPS,
        Workload::Streams,
        &[FaultKind::WriteEnospc],
    );
    assert!(counts.stream_fault_cases >= STREAM_OPS as u64, "{counts}");
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
