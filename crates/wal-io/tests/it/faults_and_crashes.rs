//! Random faults and power losses on the simulated disk: every append that
//! was acknowledged (written and synced without error) is recovered, the
//! recovered LSNs are dense, and a log that failed refuses to write until it
//! is reopened.

use std::sync::Arc;

use wal_format::Lsn;
use wal_io::sim::{Fault, SimStorage};
use wal_io::{Error, SegmentLog, SyncMode};

use crate::support::{SIM_DIR, append, read_log, seed, small_options};

/// Recovers the log the simple way a reader would: open it, and resume at
/// the end of the last segment's valid data.
/// Faults are off while recovering (a real recovery would retry).
fn recover(sim: &SimStorage, mode: SyncMode) -> SegmentLog {
    set_faults(sim, 0);
    let log = recover_quietly(sim, mode);
    set_faults(sim, 15_000);
    log
}

fn set_faults(sim: &SimStorage, per_million: u32) {
    for fault in [
        Fault::WriteEio,
        Fault::ShortWrite,
        Fault::SyncEio,
        Fault::SyncEioForgets,
    ] {
        sim.set_fault_rate(fault, per_million);
    }
}

fn recover_quietly(sim: &SimStorage, mode: SyncMode) -> SegmentLog {
    let options = small_options(mode);
    let contents = read_log(Arc::new(sim.clone()), SIM_DIR.as_ref(), &options);
    let mut log = SegmentLog::open(Arc::new(sim.clone()), SIM_DIR, &options).unwrap();
    if let Some(last) = log.segments().last() {
        let first = last.first_lsn();
        let next = contents
            .lsns
            .last()
            .filter(|&&l| l >= first)
            .map_or(first, |l| l.checked_next().unwrap());
        log.resume(contents.end_offset.unwrap(), next).unwrap();
    }
    log
}

#[test]
fn acknowledged_appends_survive_random_faults_and_power_losses() {
    for mode in [SyncMode::Data, SyncMode::Dsync, SyncMode::Direct] {
        for round in 0..6 {
            let seed = seed().wrapping_add(round);
            eprintln!("mode {mode:?} seed {seed}");
            let sim = SimStorage::new(seed);
            for fault in [
                Fault::WriteEio,
                Fault::ShortWrite,
                Fault::SyncEio,
                Fault::SyncEioForgets,
            ] {
                sim.set_fault_rate(fault, 15_000);
            }
            let mut log = recover(&sim, mode);
            let mut acked: Vec<Lsn> = Vec::new();
            let mut failures = 0;
            for i in 0..300usize {
                let result = append(&mut log, 50 + (i * 97) % 1400).and_then(|lsn| {
                    log.sync()?;
                    Ok(lsn)
                });
                match result {
                    Ok(lsn) => acked.push(lsn),
                    Err(e) => {
                        failures += 1;
                        // A failed log stays failed.
                        assert!(matches!(log.sync(), Err(Error::Failed { .. }) | Ok(())));
                        assert!(append(&mut log, 10).is_err());
                        let _ = e;
                        drop(log);
                        sim.crash();
                        log = recover(&sim, mode);
                    }
                }
            }
            drop(log);
            set_faults(&sim, 0);
            sim.crash();
            let contents = read_log(
                Arc::new(sim.clone()),
                SIM_DIR.as_ref(),
                &small_options(mode),
            );
            for lsn in &acked {
                assert!(
                    contents.lsns.contains(lsn),
                    "acknowledged {lsn:?} lost ({mode:?}, seed {seed})"
                );
            }
            assert!(failures > 0, "no fault was injected (seed {seed})");
            assert!(acked.len() > 100, "too few appends succeeded (seed {seed})");
        }
    }
}

#[test]
fn a_full_disk_fails_the_append_with_a_typed_error() {
    let sim = crate::support::sim(seed());
    let options = small_options(SyncMode::Data);
    let mut log = SegmentLog::open(Arc::new(sim.clone()), SIM_DIR, &options).unwrap();
    append(&mut log, 100).unwrap();
    log.sync().unwrap();
    // Room for the current segment (preallocated) but not for a new one.
    sim.set_capacity(Some(20 * 1024));
    let mut result = Ok(Lsn::FIRST);
    for _ in 0..40 {
        result = append(&mut log, 1000);
        if result.is_err() {
            break;
        }
    }
    let e = result.unwrap_err();
    match &e {
        Error::Io { source, path, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::ENOSPC), "{e}");
            assert!(path.starts_with(SIM_DIR));
        }
        other => panic!("expected ENOSPC, got {other}"),
    }
    // Appends that fit the preallocated segments went through before it.
    assert!(log.next_lsn().unwrap() > Lsn::new(10));
}

/// A sync through a `SyncHandle` that failed fails every later sync of the
/// segment, the log's own included: after a failed `fsync` the kernel may
/// call the pages clean, and a later sync's success would be a lie (a
/// rotation built on one left a gap in the LSNs after a power loss).
#[test]
fn a_failed_sync_through_a_handle_fails_the_logs_own() {
    let sim = SimStorage::new(seed());
    let mut log = SegmentLog::open(
        Arc::new(sim.clone()),
        SIM_DIR,
        &small_options(SyncMode::Data),
    )
    .unwrap();
    append(&mut log, 100).unwrap();
    log.sync().unwrap();
    append(&mut log, 100).unwrap();
    let handle = log.sync_handle().unwrap();
    sim.inject(Fault::SyncEioForgets);
    assert!(handle.sync().is_err());
    assert!(
        log.sync().is_err(),
        "a sync after a failed one reported the segment durable"
    );
    assert!(append(&mut log, 100).is_err());
}
