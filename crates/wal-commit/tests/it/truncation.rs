//! Prefix purge and suffix truncation through the committer: both run on
//! the I/O thread between groups; a suffix truncation waits for what is in
//! flight, and the LSNs after it continue from the cut.

use std::path::Path;
use std::sync::Arc;

use wal_commit::Error;
use wal_format::Lsn;
use wal_io::sim::SimStorage;

use crate::support::{DIR, open, payload, read_all};

#[test]
fn truncate_from_discards_the_suffix_and_appends_continue_there() {
    let storage = SimStorage::new(21);
    let log = open(&storage);
    for s in 0..30 {
        log.append(&payload(0, s)).unwrap();
    }
    assert_eq!(log.truncate_from(Lsn::new(21)).unwrap(), Lsn::new(21));
    assert_eq!(log.next_lsn(), Lsn::new(21));
    assert_eq!(log.durable_lsn(), Lsn::new(20));
    assert_eq!(log.append(b"new 21").unwrap(), Lsn::new(21));
    log.close().unwrap();

    // Power loss after close: the cut and the new record are durable.
    storage.crash();
    let reopened = open(&storage);
    assert_eq!(crate::support::last_lsn(&reopened), Lsn::new(21));
    reopened.close().unwrap();
    let records = read_all(Arc::new(storage), Path::new(DIR));
    assert_eq!(records.len(), 21);
    for (i, (lsn, _, p)) in records.iter().take(20).enumerate() {
        assert_eq!(lsn.get(), i as u64 + 1);
        assert_eq!(p, &payload(0, i as u64));
    }
    assert_eq!(records[20].2, b"new 21");
}

#[test]
fn truncate_from_waits_for_appends_in_flight() {
    let storage = SimStorage::new(22);
    let log = open(&storage);
    // Queued, not waited for: the truncation must let them land first.
    let pending: Vec<_> = (0..50)
        .map(|s| log.submit(&payload(1, s)).unwrap())
        .collect();
    assert_eq!(log.truncate_from(Lsn::new(41)).unwrap(), Lsn::new(41));
    for p in pending {
        // Each was durable before the cut (the ones above it are now gone,
        // which is what the caller asked for).
        p.wait().unwrap();
    }
    assert_eq!(log.append(b"after").unwrap(), Lsn::new(41));
    log.close().unwrap();
    let records = read_all(Arc::new(storage), Path::new(DIR));
    assert_eq!(records.len(), 41);
    assert_eq!(records[39].2, payload(1, 39));
    assert_eq!(records[40].2, b"after");
}

#[test]
fn truncate_from_refuses_points_it_cannot_honour() {
    let storage = SimStorage::new(23);
    let log = open(&storage);
    log.append(b"one").unwrap();
    log.append_batch(&[&b"two"[..], b"three", b"four"]).unwrap();
    assert!(matches!(
        log.truncate_from(Lsn::new(9)),
        Err(Error::InvalidOption { .. })
    ));
    assert!(matches!(
        log.truncate_from(Lsn::ZERO),
        Err(Error::InvalidOption { .. })
    ));
    // Inside the batch: refused, nothing changes, the log stays usable.
    match log.truncate_from(Lsn::new(3)) {
        Err(Error::Io(e)) => assert!(matches!(*e, wal_io::Error::InsideBatch { .. }), "{e}"),
        other => panic!("expected InsideBatch, got {other:?}"),
    }
    assert!(log.poisoned().is_none());
    assert_eq!(log.append(b"five").unwrap(), Lsn::new(5));
    // At the batch's start: the whole batch goes.
    assert_eq!(log.truncate_from(Lsn::new(2)).unwrap(), Lsn::new(2));
    log.close().unwrap();
    let records = read_all(Arc::new(storage), Path::new(DIR));
    assert_eq!(records.len(), 1);
}

#[test]
fn purge_below_removes_whole_old_segments_only() {
    let storage = SimStorage::new(24);
    let log = open(&storage);
    for s in 0..200 {
        log.append(&payload(2, s)).unwrap();
    }
    let segments = |storage: &SimStorage| {
        let l = wal_io::SegmentLog::open(
            Arc::new(storage.clone()),
            DIR,
            &crate::support::log_options(),
        )
        .unwrap();
        l.segments()
            .iter()
            .map(|s| s.first_lsn())
            .collect::<Vec<_>>()
    };
    let removed = log.purge_below(Lsn::new(150)).unwrap();
    assert!(removed > 0);
    log.close().unwrap();
    let firsts = segments(&storage);
    // Every record at or above 150 is still there; the first segment left
    // starts at or below 150.
    assert!(firsts[0] <= Lsn::new(150), "{firsts:?}");
    assert!(firsts[0] > Lsn::FIRST);
    let records = read_all(Arc::new(storage), Path::new(DIR));
    assert_eq!(records.last().unwrap().0, Lsn::new(200));
    assert_eq!(records.first().unwrap().0, firsts[0]);
}
