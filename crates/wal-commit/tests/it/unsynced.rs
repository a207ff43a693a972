//! Appends without a sync of their own (`append_unsynced`): nothing is
//! durable, or acknowledged, until a sync covers it; a crash keeps a
//! gap-free prefix; an explicit `sync`, a wait or a durable append makes
//! everything before it durable.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use wal_format::Lsn;
use wal_io::sim::{Fault, SimStorage};

use crate::support::{DIR, check_oracle, open, payload, read_all};

/// Appends `n` unsynced records from writer `w`; returns them by LSN.
fn append_unsynced(
    log: &wal_commit::Committer,
    w: u64,
    n: u64,
    submitted: &mut BTreeMap<Lsn, Vec<u8>>,
) -> Lsn {
    append_unsynced_with(log, n, submitted, |s| payload(w, s))
}

/// [`append_unsynced`] with payloads of the caller's making.
fn append_unsynced_with(
    log: &wal_commit::Committer,
    n: u64,
    submitted: &mut BTreeMap<Lsn, Vec<u8>>,
    make: impl Fn(u64) -> Vec<u8>,
) -> Lsn {
    let mut last = Lsn::ZERO;
    for s in 0..n {
        let p = make(s);
        last = log.append_unsynced(&p).unwrap();
        submitted.insert(last, p);
    }
    last
}

#[test]
fn nothing_is_durable_until_a_sync_then_everything_is() {
    for seed in 0..8 {
        let sim = SimStorage::new(seed);
        let log = open(&sim);
        let mut submitted = BTreeMap::new();
        let last = append_unsynced(&log, 1, 60, &mut submitted);
        assert_eq!(last, Lsn::new(60), "seed {seed}: LSNs are dense");
        assert_eq!(log.durable_lsn(), Lsn::ZERO, "seed {seed}");
        assert_eq!(log.sync().unwrap(), last, "seed {seed}");
        assert_eq!(log.durable_lsn(), last, "seed {seed}");
        // The power goes without close: the sync kept all of them.
        drop(log);
        sim.crash();
        let recovered = read_all(Arc::new(sim.clone()), Path::new(DIR));
        assert_eq!(recovered.len(), 60, "seed {seed}");
        check_oracle(seed, &recovered, &submitted, submitted.keys().copied());
    }
}

#[test]
fn a_crash_before_the_sync_keeps_a_gap_free_prefix() {
    for seed in 0..16 {
        let sim = SimStorage::new(seed);
        let log = open(&sim);
        let mut submitted = BTreeMap::new();
        let synced = append_unsynced(&log, 2, 30, &mut submitted);
        log.sync().unwrap();
        append_unsynced(&log, 3, 40, &mut submitted);
        // The process dies with those 40 written or queued, unsynced; then
        // the power goes.
        sim.crash_process();
        drop(log);
        sim.crash();
        let recovered = read_all(Arc::new(sim.clone()), Path::new(DIR));
        check_oracle(
            seed,
            &recovered,
            &submitted,
            (1..=synced.get()).map(Lsn::new),
        );
    }
}

#[test]
fn a_durable_append_covers_the_unsynced_ones_before_it() {
    let sim = SimStorage::new(3);
    let log = open(&sim);
    let mut submitted = BTreeMap::new();
    append_unsynced(&log, 4, 25, &mut submitted);
    let p = payload(5, 0);
    let lsn = log.append(&p).unwrap();
    submitted.insert(lsn, p);
    assert_eq!(lsn, Lsn::new(26));
    assert_eq!(log.durable_lsn(), lsn);
    drop(log);
    sim.crash();
    let recovered = read_all(Arc::new(sim.clone()), Path::new(DIR));
    assert_eq!(recovered.len(), 26);
    check_oracle(3, &recovered, &submitted, submitted.keys().copied());
}

#[test]
fn waiting_for_an_unsynced_record_syncs_it() {
    let sim = SimStorage::new(4);
    let log = open(&sim);
    let mut submitted = BTreeMap::new();
    let last = append_unsynced(&log, 6, 10, &mut submitted);
    assert_eq!(log.wait_for(Lsn::new(7)).unwrap(), Lsn::new(7));
    assert!(log.durable_lsn() >= Lsn::new(7));
    // A truncation first makes everything assigned durable.
    let next = log.truncate_from(Lsn::new(9)).unwrap();
    assert_eq!(next, Lsn::new(9));
    assert!(last > next);
    assert_eq!(log.append_unsynced(b"again").unwrap(), Lsn::new(9));
    log.close().unwrap();
    let recovered = read_all(Arc::new(sim), Path::new(DIR));
    assert_eq!(recovered.len(), 9);
    assert_eq!(recovered[8].2, b"again");
}

#[test]
fn a_failed_unsynced_write_poisons_and_the_sync_reports_it() {
    let sim = SimStorage::new(5);
    let log = open(&sim);
    let mut submitted = BTreeMap::new();
    let synced = append_unsynced(&log, 7, 5, &mut submitted);
    log.sync().unwrap();
    sim.inject(Fault::WriteEio);
    append_unsynced(&log, 8, 1, &mut submitted);
    let e = log.sync().unwrap_err();
    assert!(matches!(e, wal_commit::Error::Poisoned(_)), "{e}");
    assert!(
        log.append_unsynced(b"more").is_err(),
        "poisoned log took more"
    );
    drop(log);
    sim.crash();
    let recovered = read_all(Arc::new(sim), Path::new(DIR));
    check_oracle(5, &recovered, &submitted, (1..=synced.get()).map(Lsn::new));
}

/// Small unsynced appends are packed into shared requests; larger ones,
/// durable appends and batches from other threads come between them. Every
/// record must still get the LSN it was told and read back whole.
#[test]
fn packed_unsynced_appends_mixed_with_everything_else_read_back_in_order() {
    for seed in 0..4 {
        let sim = SimStorage::new(seed);
        let log = open(&sim);
        let submitted = std::sync::Mutex::new(BTreeMap::new());
        std::thread::scope(|s| {
            for w in 0..4u64 {
                let (log, submitted) = (&log, &submitted);
                s.spawn(move || {
                    for i in 0..150u64 {
                        let p = payload(w + 10 * seed, i);
                        match (w + i) % 7 {
                            // Above the packing limit: a request of its own.
                            0 => {
                                let big = vec![w as u8; 17_000];
                                let lsn = log.append_unsynced(&big).unwrap();
                                submitted.lock().unwrap().insert(lsn, big);
                            }
                            1 => {
                                let lsn = log.append(&p).unwrap();
                                submitted.lock().unwrap().insert(lsn, p);
                            }
                            2 => {
                                let q = payload(w + 100, i);
                                let (first, last) =
                                    log.append_batch(&[p.clone(), q.clone()]).unwrap();
                                assert_eq!(last.get(), first.get() + 1);
                                let mut m = submitted.lock().unwrap();
                                m.insert(first, p);
                                m.insert(last, q);
                            }
                            _ => {
                                let lsn = log.append_unsynced(&p).unwrap();
                                submitted.lock().unwrap().insert(lsn, p);
                            }
                        }
                    }
                });
            }
        });
        let submitted = submitted.into_inner().unwrap();
        let last = log.sync().unwrap();
        assert_eq!(last.get(), submitted.len() as u64, "seed {seed}");
        drop(log);
        sim.crash();
        let recovered = read_all(Arc::new(sim.clone()), Path::new(DIR));
        assert_eq!(recovered.len(), submitted.len(), "seed {seed}");
        check_oracle(seed, &recovered, &submitted, submitted.keys().copied());
    }
}

/// Packing stays within the group limits and the in-flight bound: with
/// groups of at most 3 records, tiny payloads (which the appender packs
/// faster than the I/O thread writes them) never make a larger group, and
/// with 4 KiB in flight appenders wait for room; every record is still
/// written once, in order.
#[test]
fn packing_respects_the_group_and_in_flight_limits() {
    for (in_flight, tiny) in [(64 << 20, true), (4096, false)] {
        let sim = SimStorage::new(9);
        let mut options = crate::support::commit_options();
        options.max_group_records(3).max_in_flight_bytes(in_flight);
        let log = crate::support::open_with(Arc::new(sim.clone()), &options);
        let mut submitted = BTreeMap::new();
        let last = append_unsynced_with(&log, 400, &mut submitted, |s| {
            if tiny {
                format!("tiny {s}").into_bytes()
            } else {
                payload(11, s)
            }
        });
        assert_eq!(log.sync().unwrap(), last);
        let stats = log.stats();
        assert!(stats.max_group <= 3, "a group of {}", stats.max_group);
        assert!(stats.groups >= 400 / 3, "{} groups", stats.groups);
        log.close().unwrap();
        let recovered = read_all(Arc::new(sim), Path::new(DIR));
        check_oracle(9, &recovered, &submitted, submitted.keys().copied());
        assert_eq!(recovered.len(), 400);
    }
}

/// Unsynced appends written in bulk fill each segment before the next
/// begins: groups (and the requests they are packed into) are sized to
/// the room the segment has left, so a rotation leaves little unused, and
/// no group makes a segment longer than the segment size.
#[test]
fn bulk_unsynced_appends_fill_each_segment() {
    let sim = SimStorage::new(12);
    let log = open(&sim);
    let mut submitted = BTreeMap::new();
    let last = append_unsynced_with(&log, 3000, &mut submitted, |s| payload(3, s % 300));
    assert_eq!(log.sync().unwrap(), last);
    log.close().unwrap();
    let segment_size = 64 * 1024;
    let mut segments: Vec<_> = wal_io::Storage::list_dir(&sim, Path::new(DIR))
        .unwrap()
        .into_iter()
        .filter(|e| e.name.ends_with(".wal"))
        .map(|e| e.name)
        .collect();
    segments.sort();
    assert!(segments.len() > 10, "{} segments", segments.len());
    let sealed = &segments[..segments.len() - 1];
    for name in sealed {
        let bytes = sim.contents(&Path::new(DIR).join(name)).unwrap();
        assert_eq!(bytes.len(), segment_size, "{name} is not one segment long");
        let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        // What one more request (a pack of a sixteenth of a segment, or
        // one record of up to 5 KiB) and its headers would have taken.
        assert!(
            segment_size - used < 6 * 1024,
            "{name}: {} bytes left unused",
            segment_size - used
        );
    }
    let recovered = read_all(Arc::new(sim), Path::new(DIR));
    check_oracle(12, &recovered, &submitted, submitted.keys().copied());
    assert_eq!(recovered.len(), 3000);
}
