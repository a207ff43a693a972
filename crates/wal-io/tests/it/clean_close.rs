//! What an open makes durable before anything is built on the log: the
//! directory's names (which a failed directory sync may have left
//! undurable), and the clean-close marker's removal (by the first change,
//! never by an open that changes nothing). A close that synced everything
//! leaves the marker, saying where the data ends; only a resume exactly
//! there may skip rewriting the last segment's records (which, after a
//! failed sync, may be only in the page cache).

use std::path::Path;

use wal_io::sim::{Fault, SimStorage};
use wal_io::{CLEAN_FILE, Error, SegmentLog, Storage, SyncMode};

use crate::support::{SIM_DIR, append, seed, sim, small_options};

fn marker_present(storage: &SimStorage) -> bool {
    storage
        .list_dir(Path::new(SIM_DIR))
        .unwrap()
        .iter()
        .any(|e| e.name == CLEAN_FILE)
}

fn open_in(storage: &SimStorage, mode: SyncMode) -> SegmentLog {
    let mut options = small_options(mode);
    options.create(true);
    SegmentLog::open(std::sync::Arc::new(storage.clone()), SIM_DIR, &options).unwrap()
}

fn open(storage: &SimStorage) -> SegmentLog {
    open_in(storage, SyncMode::Data)
}

/// Writes a few records (two segments' worth) and syncs them.
fn write_some(log: &mut SegmentLog) {
    while log.segments().len() < 2 {
        append(log, 1000).unwrap();
    }
    append(log, 1000).unwrap();
    log.sync().unwrap();
}

/// A log on a simulated disk of `seed`, open, with [`write_some`] written.
fn written(seed: u64) -> (SimStorage, SegmentLog) {
    let storage = sim(seed);
    let mut log = open(&storage);
    write_some(&mut log);
    (storage, log)
}

/// Where the last segment's records end, and the next LSN.
fn tail(log: &SegmentLog) -> (u64, wal_format::Lsn) {
    let last = log.segments().last().unwrap().first_lsn();
    let reader = log.open_segment(last).unwrap();
    let mut iter = reader.records(1 << 20);
    let mut next = last;
    for record in iter.by_ref() {
        next = record.unwrap().header.lsn.checked_next().unwrap();
    }
    (iter.end().unwrap().offset(), next)
}

#[test]
fn a_clean_close_lets_the_next_resume_skip_the_rewrite() {
    let (storage, log) = written(seed());
    log.close().unwrap();
    assert!(marker_present(&storage), "a clean close leaves the marker");

    let mut log = open(&storage);
    assert!(log.opened_clean());
    let marker = *log.clean_marker().unwrap();
    assert!(marker_present(&storage), "an open alone changes nothing");
    // Resuming writes nothing: a failing write would not be reached.
    let (end, next) = tail(&log);
    assert_eq!((marker.end_offset, marker.next_lsn), (end, next));
    assert_eq!(marker.segment, log.segments().last().unwrap().first_lsn());
    storage.inject(Fault::WriteEio);
    log.resume(end, next).unwrap();
    assert!(!marker_present(&storage), "the resume removes it");
}

#[test]
fn a_resume_elsewhere_than_the_marked_end_rewrites() {
    let (storage, log) = written(seed());
    log.close().unwrap();
    let mut log = open(&storage);
    assert!(log.opened_clean());
    // One record short of the marked end (as a recovery that cut damage
    // would): the marker no longer describes the log.
    let last = log.segments().last().unwrap().first_lsn();
    let reader = log.open_segment(last).unwrap();
    let final_record = reader.records(1 << 20).map(Result::unwrap).last().unwrap();
    assert!(final_record.offset > 96, "the segment holds two records");
    storage.inject(Fault::WriteEio);
    let err = log
        .resume(final_record.offset, final_record.header.lsn)
        .unwrap_err();
    assert!(
        matches!(err, Error::Io { op: "rewrite", .. }),
        "the rewrite met the fault: {err:?}"
    );
}

#[test]
fn an_open_that_changes_nothing_leaves_the_marker_valid() {
    let (storage, log) = written(seed());
    log.close().unwrap();
    // Opened and dropped (as by a recovery that refused the log).
    drop(open(&storage));
    assert!(marker_present(&storage));
    assert!(open(&storage).opened_clean());
}

#[test]
fn a_marker_that_does_not_verify_is_no_evidence() {
    let (storage, log) = written(seed());
    log.close().unwrap();
    let path = Path::new(SIM_DIR).join(CLEAN_FILE);
    let file = storage.open(&path, wal_io::OpenOptions::write()).unwrap();
    // Cut short, as a power loss right after the close can leave it; then
    // the empty file of format version 1.
    file.set_len(30).unwrap();
    drop(file);
    assert!(!open(&storage).opened_clean());
    let file = storage.open(&path, wal_io::OpenOptions::write()).unwrap();
    file.set_len(0).unwrap();
    drop(file);
    let mut log = open(&storage);
    assert!(!log.opened_clean());
    let (end, next) = tail(&log);
    storage.inject(Fault::WriteEio);
    assert!(
        log.resume(end, next).is_err(),
        "no marker: the resume rewrites"
    );
}

#[test]
fn the_open_makes_the_names_it_lists_durable() {
    // A name created and never synced (as a failed directory sync leaves
    // one, the machine still up): after an open, a power loss keeps it.
    for s in 0..16 {
        let storage = sim(seed() + s);
        let mut log = open(&storage);
        write_some(&mut log);
        drop(log);
        let unsynced = Path::new(SIM_DIR).join("unsynced");
        storage
            .open(&unsynced, wal_io::OpenOptions::create_new())
            .unwrap();
        drop(open(&storage));
        storage.crash();
        let names = storage.list_dir(Path::new(SIM_DIR)).unwrap();
        assert!(
            names.iter().any(|e| e.name == "unsynced"),
            "seed {}",
            seed() + s
        );
    }
}

#[test]
fn the_resume_removes_the_marker_durably() {
    // The marker made durable first (the close does not sync it), so that
    // only the resume's own directory sync can keep a power loss from
    // bringing it back. A crash keeps a random prefix of the directory's
    // unsynced changes: several seeds.
    for s in 0..16 {
        let (storage, log) = written(seed() + s);
        log.close().unwrap();
        storage.sync_dir(Path::new(SIM_DIR)).unwrap();
        let mut log = open(&storage);
        assert!(log.opened_clean());
        let (end, next) = tail(&log);
        log.resume(end, next).unwrap();
        drop(log);
        storage.crash();
        assert!(!marker_present(&storage), "seed {}", seed() + s);
        assert!(!open(&storage).opened_clean());
    }
}

#[test]
fn without_a_clean_close_resume_rewrites_the_last_segment() {
    let (storage, log) = written(seed());
    drop(log);
    assert!(!marker_present(&storage), "a dropped log leaves no marker");

    let mut log = open(&storage);
    assert!(!log.opened_clean());
    let (end, next) = tail(&log);
    storage.inject(Fault::WriteEio);
    let err = log.resume(end, next).unwrap_err();
    assert!(
        matches!(err, Error::Io { op: "rewrite", .. }),
        "the rewrite met the fault: {err:?}"
    );
}

#[test]
fn a_failed_log_leaves_no_marker() {
    let storage = sim(seed());
    let mut log = open(&storage);
    write_some(&mut log);
    append(&mut log, 1000).unwrap();
    storage.inject(Fault::SyncEioForgets);
    log.sync().unwrap_err();
    log.close().unwrap_err();
    assert!(!marker_present(&storage));
}

#[test]
fn a_log_opened_after_a_crash_and_never_resumed_leaves_no_marker() {
    // Opened (say, to list its segments) and closed without a resume: its
    // last segment was never rewritten, so it is not known to be durable.
    let (storage, log) = written(seed());
    drop(log);
    open(&storage).close().unwrap();
    assert!(!marker_present(&storage));
    // An empty log has nothing to lose.
    let empty = SimStorage::new(seed());
    open(&empty).close().unwrap();
    assert!(marker_present(&empty));
}

#[test]
fn a_log_that_syncs_nothing_leaves_no_marker() {
    // Its writes may still be only in the page cache, in every segment: a
    // later session that syncs must not take them for durable.
    let storage = sim(seed());
    let mut log = open_in(&storage, SyncMode::None);
    write_some(&mut log);
    log.close().unwrap();
    assert!(!marker_present(&storage));
}
