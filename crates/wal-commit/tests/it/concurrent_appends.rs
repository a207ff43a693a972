//! Many threads appending: LSNs unique and dense, everything readable after
//! a clean close, rotation included.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use wal_format::{LogicalKind, Lsn};
use wal_io::sim::SimStorage;

use crate::support::{DIR, open, payload, read_all};

#[test]
fn threads_get_dense_unique_lsns_and_all_records_survive_close() {
    dense_lsns_and_every_record_read_back(0);
}

/// The same with waiters that yield before they sleep: each is still
/// woken for its record, however the yields and the syncs interleave.
#[test]
fn yielding_waiters_get_every_record_acknowledged() {
    dense_lsns_and_every_record_read_back(16);
}

fn dense_lsns_and_every_record_read_back(wait_yields: u32) {
    let storage = SimStorage::new(1);
    let mut options = crate::support::commit_options();
    options.wait_yields(wait_yields);
    let log = Arc::new(crate::support::open_with(
        Arc::new(storage.clone()),
        &options,
    ));
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..150u64)
                    .map(|s| (log.append(&payload(w, s)).unwrap(), payload(w, s)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut by_lsn = BTreeMap::new();
    for w in writers {
        for (lsn, p) in w.join().unwrap() {
            assert!(
                by_lsn.insert(lsn, p).is_none(),
                "lsn {lsn} handed out twice"
            );
        }
    }
    let lsns: Vec<u64> = by_lsn.keys().map(|l| l.get()).collect();
    assert_eq!(lsns, (1..=1200).collect::<Vec<_>>());
    let stats = log.stats();
    assert_eq!(stats.appends, 1200);
    assert!(stats.groups <= stats.appends && stats.groups > 0);
    assert_eq!(log.durable_lsn().get(), 1200);
    Arc::into_inner(log).unwrap().close().unwrap();

    let back = read_all(Arc::new(storage.clone()), Path::new(DIR));
    assert_eq!(back.len(), 1200);
    for (lsn, _, p) in back {
        assert_eq!(by_lsn.get(&lsn), Some(&p), "lsn {lsn}");
    }
    // Rotation happened: 64 KiB segments cannot hold ~3 MB.
    let log =
        wal_io::SegmentLog::open(Arc::new(storage), DIR, &crate::support::log_options()).unwrap();
    assert!(
        log.segments().len() > 10,
        "{} segments",
        log.segments().len()
    );
}

#[test]
fn reopen_continues_after_the_last_record() {
    let storage = SimStorage::new(2);
    let log = open(&storage);
    for s in 0..10 {
        log.append(&payload(0, s)).unwrap();
    }
    log.close().unwrap();
    let log = open(&storage);
    assert_eq!(crate::support::last_lsn(&log).get(), 10);
    assert_eq!(log.append(b"eleventh").unwrap().get(), 11);
    log.close().unwrap();
    let back = read_all(Arc::new(storage), Path::new(DIR));
    assert_eq!(back.len(), 11);
    assert_eq!(back[10].2, b"eleventh");
}

#[test]
fn submit_returns_at_once_and_close_drains() {
    let storage = SimStorage::new(3);
    let log = open(&storage);
    let pending: Vec<_> = (0..100)
        .map(|s| log.submit(&payload(1, s)).unwrap())
        .collect();
    let lsns: Vec<u64> = pending.iter().map(|p| p.lsn().get()).collect();
    assert_eq!(lsns, (1..=100).collect::<Vec<_>>());
    // Close without waiting: it must drain and sync what was queued.
    drop(pending);
    log.close().unwrap();
    assert_eq!(read_all(Arc::new(storage), Path::new(DIR)).len(), 100);
}

#[test]
fn a_lone_sequential_writer_gets_one_group_per_append() {
    let storage = SimStorage::new(4);
    let log = open(&storage);
    for s in 0..50 {
        log.append(&payload(2, s)).unwrap();
    }
    let stats = log.stats();
    // Nothing else is queued while it waits, so no group waits for company.
    assert_eq!((stats.appends, stats.groups, stats.syncs), (50, 50, 50));
    assert_eq!(stats.max_group, 1);
    log.close().unwrap();
}

#[test]
fn backpressure_bounds_what_is_in_flight_and_still_progresses() {
    let storage = SimStorage::new(5);
    let mut opts = crate::support::commit_options();
    opts.max_in_flight_bytes(1000); // smaller than many single records
    let log = Arc::new(crate::support::open_with(Arc::new(storage.clone()), &opts));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let log = log.clone();
            std::thread::spawn(move || {
                for s in 0..40 {
                    log.append(&payload(w, s)).unwrap();
                }
                40usize
            })
        })
        .collect();
    let done: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(done, 160);
    // With at most ~1000 bytes in flight, no group can hold more than one
    // record plus what fit under the bound.
    let stats = log.stats();
    assert!(stats.max_group <= 4, "max group {}", stats.max_group);
    Arc::into_inner(log).unwrap().close().unwrap();
}

/// Owned submissions wake no thread; one that must wait for room gets it
/// all the same: what is queued is written while it waits. Each waits at
/// once for nothing but room, so no caller ever leads a group.
#[test]
fn owned_submissions_past_the_bound_are_written_without_a_waiter() {
    let storage = SimStorage::new(7);
    let mut opts = crate::support::commit_options();
    opts.max_in_flight_bytes(1000);
    let log = crate::support::open_with(Arc::new(storage.clone()), &opts);
    let pending: Vec<_> = (0..20u64)
        .map(|s| {
            log.submit_owned(LogicalKind::Data, vec![payload(0, s)])
                .unwrap()
        })
        .collect();
    let last = pending.last().unwrap().lsn();
    assert_eq!(last, Lsn::new(20));
    for p in pending {
        p.wait().unwrap();
    }
    log.close().unwrap();
}

#[test]
fn records_over_the_maximum_are_refused_and_nothing_is_written() {
    let storage = SimStorage::new(6);
    let log = open(&storage);
    let err = log.append(&vec![0; 20_001]).unwrap_err();
    assert!(
        matches!(
            err,
            wal_commit::Error::TooLarge {
                len: 20_001,
                max: 20_000
            }
        ),
        "{err}"
    );
    assert!(matches!(
        log.append_batch::<&[u8]>(&[]),
        Err(wal_commit::Error::InvalidBatch(_))
    ));
    assert_eq!(log.next_lsn().get(), 1);
    log.close().unwrap();
}

#[test]
fn from_log_continues_a_resumed_log_and_refuses_an_unpositioned_one() {
    let storage = SimStorage::new(6);
    let log = open(&storage);
    for s in 0..5u8 {
        log.append(&[s; 100]).unwrap();
    }
    log.close().unwrap();
    let segment_log = wal_io::SegmentLog::open(
        Arc::new(storage.clone()),
        DIR,
        &crate::support::log_options(),
    )
    .unwrap();
    let e = wal_commit::Committer::from_log(segment_log, &crate::support::commit_options())
        .unwrap_err();
    assert!(
        matches!(e, wal_commit::Error::InvalidOption { name: "log", .. }),
        "{e}"
    );

    let mut segment_log = wal_io::SegmentLog::open(
        Arc::new(storage.clone()),
        DIR,
        &crate::support::log_options(),
    )
    .unwrap();
    let end = segment_log.open_segment(wal_format::Lsn::FIRST).unwrap();
    let mut records = end.records(1 << 20);
    let data = records
        .by_ref()
        .filter(|r| r.as_ref().unwrap().header.record_type != wal_format::RecordType::Commit)
        .count();
    assert_eq!(data, 5);
    let end_offset = records.end().unwrap().offset();
    segment_log
        .resume(end_offset, wal_format::Lsn::new(6))
        .unwrap();
    let log =
        wal_commit::Committer::from_log(segment_log, &crate::support::commit_options()).unwrap();
    assert_eq!(log.durable_lsn(), wal_format::Lsn::new(5));
    assert_eq!(log.append(b"six").unwrap(), wal_format::Lsn::new(6));
    log.close().unwrap();
    assert_eq!(read_all(Arc::new(storage), Path::new(DIR)).len(), 6);
}
