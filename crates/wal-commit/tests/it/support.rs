//! Opening logs on the simulated disk and reading them back.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use wal_commit::{CommitOptions, Committer};
use wal_format::{LogicalKind, Lsn};
use wal_io::sim::{HaltingStorage, SimStorage};
use wal_io::{LogOptions, Storage};
use wal_reader::{LogReader, ReadOptions};

pub(crate) const DIR: &str = "/wal";

pub(crate) fn log_options() -> LogOptions {
    let mut o = LogOptions::new();
    o.create(true).segment_size(64 * 1024);
    o
}

pub(crate) fn commit_options() -> CommitOptions {
    let mut o = CommitOptions::new();
    // Spares prepared inline: the order of storage calls, which the fault
    // and crash tests aim at, then follows from the seed alone.
    o.fragment_size(3000)
        .max_record_len(20_000)
        .prepare_in_background(false);
    o
}

/// Opens the log on `storage` as every opener must: recovery
/// (`wal_reader::recover`, default mode) finds where its data ends, then the
/// committer starts on the recovered log.
pub(crate) fn open_with(storage: Arc<dyn Storage>, options: &CommitOptions) -> Committer {
    open_reading_with(storage, options, &ReadOptions::new())
}

/// [`open_with`], recovering with `read` (the keys of an encrypted log).
pub(crate) fn open_reading_with(
    storage: Arc<dyn Storage>,
    options: &CommitOptions,
    read: &ReadOptions,
) -> Committer {
    let (log, _) = wal_reader::recover(storage, DIR, &log_options(), read)
        .unwrap_or_else(|e| panic!("recovery failed: {e} ({e:?})"));
    Committer::from_log(log, options).unwrap_or_else(|e| panic!("open failed: {e} ({e:?})"))
}

pub(crate) fn open(storage: &SimStorage) -> Committer {
    open_with(Arc::new(storage.clone()), &commit_options())
}

/// The last LSN of a committer just opened (what recovery kept).
pub(crate) fn last_lsn(log: &Committer) -> Lsn {
    log.next_lsn().checked_prev().unwrap_or(Lsn::ZERO)
}

/// Opens a log on `sim` through a [`HaltingStorage`] that lets the log make
/// `calls` more mutating calls (at least one, counted after the open) and
/// fails every one after, as if the process died there. Crash the disk
/// after the log is dropped to model a power loss at that point.
pub(crate) fn open_dying_after(sim: &SimStorage, calls: u64) -> Committer {
    let halting = HaltingStorage::new(Arc::new(sim.clone()));
    let log = open_with(Arc::new(halting.clone()), &commit_options());
    halting.halt_at(halting.calls_made() + calls.max(1));
    log
}

/// Runs `writers` threads on `log`, writer `w` as `write(&log, w)`, which
/// appends until an append fails (the process died: [`open_dying_after`]);
/// then checks that the failed call poisoned the log (it did not carry
/// on), drops the log and fails the power.
pub(crate) fn write_until_the_crash(
    seed: u64,
    storage: &SimStorage,
    log: Committer,
    writers: u64,
    write: impl Fn(&Committer, u64) + Sync,
) {
    std::thread::scope(|s| {
        for w in 0..writers {
            let (log, write) = (&log, &write);
            s.spawn(move || write(log, w));
        }
    });
    assert!(
        log.poisoned().is_some(),
        "seed {seed}: log not poisoned by the failed call"
    );
    drop(log);
    storage.crash();
}

/// A payload that says which writer and which of its appends it is, with a
/// length that varies (some above the fragment size).
pub(crate) fn payload(writer: u64, seq: u64) -> Vec<u8> {
    let len = ((writer * 7919 + seq * 104_729) % 5000) as usize + 8;
    let mut p = format!("w{writer}s{seq}:").into_bytes();
    p.resize(len, (writer as u8).wrapping_add(seq as u8));
    p
}

/// A logical record read back: LSN, kind, payload.
pub(crate) type Logical = (Lsn, LogicalKind, Vec<u8>);

/// Every logical record of the log, in order, read back by the real reader
/// (default mode: any damage or gap fails the test), as (LSN, kind,
/// payload).
pub(crate) fn read_all(storage: Arc<dyn Storage>, dir: &Path) -> Vec<Logical> {
    LogReader::open(storage, dir, &read_options())
        .expect("open a reader")
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("reading back: {e} ({e:?})"));
            (r.lsn, r.kind, r.payload)
        })
        .collect()
}

/// Read options that fit [`commit_options`].
pub(crate) fn read_options() -> ReadOptions {
    let mut o = ReadOptions::new();
    o.max_record_len(20_000);
    o
}

/// The oracle after a crash: what came back is a gap-free prefix from LSN 1,
/// each record is exactly what was submitted at its LSN, and every
/// acknowledged LSN is there.
pub(crate) fn check_oracle(
    seed: u64,
    recovered: &[(Lsn, LogicalKind, Vec<u8>)],
    submitted: &BTreeMap<Lsn, Vec<u8>>,
    acked: impl IntoIterator<Item = Lsn>,
) {
    for (i, (lsn, _, p)) in recovered.iter().enumerate() {
        assert_eq!(lsn.get(), i as u64 + 1, "seed {seed}: gap before lsn {lsn}");
        assert_eq!(
            submitted.get(lsn),
            Some(p),
            "seed {seed}: lsn {lsn} is not what was submitted"
        );
    }
    let last = recovered.last().map_or(Lsn::ZERO, |r| r.0);
    for lsn in acked {
        assert!(
            lsn <= last,
            "seed {seed}: acknowledged lsn {lsn} lost (recovered up to {last})"
        );
    }
}
