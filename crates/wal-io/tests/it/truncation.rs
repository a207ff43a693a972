//! Purge and suffix truncation, each with a crash injected at every
//! mutating call it makes: the log recovers (opens, reads back a dense run
//! of LSNs with nothing invented) and running the operation again completes
//! it.

use std::path::Path;
use std::sync::Arc;

use wal_format::Lsn;
use wal_io::sim::{HaltingStorage, SimStorage};
use wal_io::{Error, FileStorage, LogOptions, SegmentLog, Storage, SyncMode};

use crate::support::{
    Contents, SIM_DIR, append, append_batch, range, read_log, real_tempdir, seed, small_options,
};

/// Records 1..=50 of 1000 bytes (about 15 per 16 KiB segment, so 4
/// segments), synced. Returns the first LSN of each segment.
fn build(storage: Arc<dyn Storage>, dir: &Path, options: &LogOptions) -> Vec<Lsn> {
    let mut log = SegmentLog::open(storage, dir, options).unwrap();
    for _ in 0..50 {
        append(&mut log, 1000).unwrap();
        log.sync().unwrap();
    }
    let segments = log.segments().iter().map(|s| s.first_lsn()).collect();
    log.close().unwrap();
    segments
}

/// A fresh disk: the storage, the log directory, the simulated disk (to
/// crash it) and whatever keeps a temporary directory alive.
type Fresh = (
    Arc<dyn Storage>,
    std::path::PathBuf,
    Option<SimStorage>,
    Box<dyn std::any::Any>,
);

fn options() -> LogOptions {
    let mut options = small_options(SyncMode::Data);
    // Recycle some purged segments, remove others: both paths are crashed.
    options.max_spares(2).prepare_ahead(false);
    options
}

/// Runs `op` on a fresh log with a halt at every mutating call in turn,
/// then `crash` (a power loss on the simulated disk, nothing on the real
/// one), then checks the recovered state with `check(contents, completed)`
/// and runs `op` again to completion, checking the final state with
/// `check(contents, true)`.
fn crash_at_every_call(
    name: &str,
    fresh: &dyn Fn(u64) -> Fresh,
    op: &dyn Fn(&mut SegmentLog) -> wal_io::Result<()>,
    check: &dyn Fn(&Contents, bool),
) {
    let options = options();
    let mut k = 0u64;
    loop {
        let (storage, dir, sim, _keep) = fresh(k);
        build(storage.clone(), &dir, &options);
        let halting = HaltingStorage::new(storage.clone());
        let mut log = SegmentLog::open(Arc::new(halting.clone()), &dir, &options).unwrap();
        halting.reset_count();
        halting.halt_at(k);
        let result = op(&mut log);
        let calls = halting.calls();
        drop(log);
        if let Some(sim) = &sim {
            sim.crash();
        }
        let completed = result.is_ok();
        eprintln!("{name}: halt at call {k}: completed {completed}, ran {calls:?}");
        let contents = read_log(storage.clone(), &dir, &options);
        check(&contents, completed);
        // Running the operation again completes it.
        let mut log = SegmentLog::open(storage.clone(), &dir, &options).unwrap();
        op(&mut log).unwrap();
        drop(log);
        if let Some(sim) = &sim {
            sim.crash();
        }
        check(&read_log(storage.clone(), &dir, &options), true);
        if completed {
            assert!(k > 3, "{name}: the operation made only {k} calls");
            break;
        }
        k += 1;
    }
}

fn sim_fresh(k: u64) -> Fresh {
    let s = SimStorage::new(seed().wrapping_add(k));
    (Arc::new(s.clone()), SIM_DIR.into(), Some(s), Box::new(()))
}

fn real_fresh(_k: u64) -> Fresh {
    let tmp = real_tempdir();
    let dir = tmp.path().join("wal");
    (Arc::new(FileStorage::new()), dir, None, Box::new(tmp))
}

/// The purge target: inside the fourth segment, so three segments go.
fn purge_target() -> Lsn {
    // With 1000-byte records and 16 KiB segments: 15 records a segment.
    Lsn::new(48)
}

fn check_purge(contents: &Contents, completed: bool) {
    let last = *contents.lsns.last().unwrap();
    assert_eq!(
        last,
        Lsn::new(50),
        "no record at or after the target is lost"
    );
    let first = contents.lsns[0];
    assert!(first <= purge_target());
    if completed {
        assert_eq!(contents.segments.len(), 1, "{contents:?}");
        assert_eq!(contents.lsns, range(first.get(), 51));
    }
}

#[test]
fn purge_survives_a_crash_at_every_step_on_the_simulated_disk() {
    let sim = SimStorage::new(seed());
    let segs = build(Arc::new(sim), SIM_DIR.as_ref(), &options());
    assert_eq!(segs.len(), 4, "{segs:?}");
    assert!(segs[3] <= purge_target());
    crash_at_every_call(
        "purge/sim",
        &sim_fresh,
        &|log| log.purge_below(purge_target()).map(drop),
        &check_purge,
    );
}

#[test]
fn purge_survives_a_crash_at_every_step_on_the_real_disk() {
    crash_at_every_call(
        "purge/real",
        &real_fresh,
        &|log| log.purge_below(purge_target()).map(drop),
        &check_purge,
    );
}

/// The suffix truncation target: inside the second segment.
const TRUNCATE_AT: u64 = 20;

fn check_truncate(contents: &Contents, completed: bool) {
    let n = contents.lsns.len() as u64;
    assert_eq!(contents.lsns, range(1, n + 1), "a dense prefix of the log");
    assert!(n >= TRUNCATE_AT - 1, "records before the target survive");
    if completed {
        assert_eq!(n, TRUNCATE_AT - 1, "nothing at or after the target");
    }
}

fn truncate_and_continue(log: &mut SegmentLog) -> wal_io::Result<()> {
    log.truncate_from(Lsn::new(TRUNCATE_AT))
}

#[test]
fn suffix_truncation_survives_a_crash_at_every_step_on_the_simulated_disk() {
    crash_at_every_call(
        "truncate/sim",
        &sim_fresh,
        &truncate_and_continue,
        &check_truncate,
    );
}

#[test]
fn suffix_truncation_survives_a_crash_at_every_step_on_the_real_disk() {
    crash_at_every_call(
        "truncate/real",
        &real_fresh,
        &truncate_and_continue,
        &check_truncate,
    );
}

#[test]
fn after_a_suffix_truncation_appends_continue_and_old_records_never_return() {
    for (storage, dir, sim, _keep) in [sim_fresh(0), real_fresh(0)] {
        let options = options();
        build(storage.clone(), &dir, &options);
        let mut log = SegmentLog::open(storage.clone(), &dir, &options).unwrap();
        log.truncate_from(Lsn::new(TRUNCATE_AT)).unwrap();
        assert_eq!(log.next_lsn(), Some(Lsn::new(TRUNCATE_AT)));
        for _ in 0..3 {
            append(&mut log, 300).unwrap();
        }
        log.sync().unwrap();
        drop(log);
        if let Some(sim) = &sim {
            sim.crash();
        }
        let contents = read_log(storage.clone(), &dir, &options);
        assert_eq!(contents.lsns, range(1, TRUNCATE_AT + 3));
    }
}

#[test]
fn truncating_everything_starts_the_log_again_at_that_lsn() {
    let (storage, dir, _sim, _keep) = sim_fresh(1);
    let options = options();
    build(storage.clone(), &dir, &options);
    let mut log = SegmentLog::open(storage.clone(), &dir, &options).unwrap();
    log.truncate_from(Lsn::FIRST).unwrap();
    assert!(log.segments().is_empty());
    append(&mut log, 10).unwrap();
    log.sync().unwrap();
    drop(log);
    assert_eq!(read_log(storage, &dir, &options).lsns, range(1, 2));
}

#[test]
fn truncating_inside_an_atomic_batch_is_refused_and_changes_nothing() {
    let (storage, dir, _sim, _keep) = sim_fresh(2);
    let options = options();
    let mut log = SegmentLog::open(storage.clone(), &dir, &options).unwrap();
    append(&mut log, 10).unwrap();
    append_batch(&mut log, 4, 10).unwrap(); // LSNs 2..=5
    append(&mut log, 10).unwrap();
    log.sync().unwrap();
    let e = log.truncate_from(Lsn::new(4)).unwrap_err();
    assert!(matches!(e, Error::InsideBatch { .. }), "{e}");
    // At the batch's first LSN the whole batch goes.
    log.truncate_from(Lsn::new(2)).unwrap();
    drop(log);
    assert_eq!(read_log(storage, &dir, &options).lsns, range(1, 2));
}
