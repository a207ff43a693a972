//! Missing segments, LSN gaps and unfinished batches before the tail.

use wal_format::{Flags, LogId, Lsn, RecordType};
use wal_io::OpenOptions;
use wal_reader::{CorruptionKind, Error, LogReader, RecoveryMode, recover};

use crate::support::*;

#[test]
fn deleted_middle_segment_in_each_mode() {
    for m in [
        RecoveryMode::TolerateCorruptedTailRecords,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
        RecoveryMode::SkipAnyCorruptedRecords,
    ] {
        let (_sim, storage) = sim(30);
        let mut w = SegWriter::open(storage.clone(), &log_options());
        for i in 1..=60u64 {
            w.append(&payload(i, 1500));
        }
        let segs: Vec<_> = w
            .log
            .segments()
            .iter()
            .map(|s| (s.path().to_path_buf(), s.first_lsn()))
            .collect();
        drop(w);
        assert!(segs.len() >= 5);
        storage.remove_file(&segs[2].0).unwrap();
        let lost = (segs[2].1, segs[3].1.checked_prev().unwrap());
        let mut o = read_options();
        o.mode(m);
        let result = recover(storage.clone(), dir(), &log_options(), &o);
        match m {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                match result {
                    Err(Error::Corruption(r)) => {
                        assert_eq!(r.kind, CorruptionKind::LsnGap);
                        assert_eq!(r.segment, segs[3].0);
                        assert_eq!(r.lsns, Some(lost));
                    }
                    other => panic!("{m:?}: expected a gap, got {other:?}"),
                }
            }
            RecoveryMode::PointInTime => {
                let (log, report) = result.unwrap();
                drop(log);
                assert_eq!(report.next_lsn, segs[2].1);
                assert_eq!(report.corrupt[0].lsns, Some(lost));
                assert_eq!(report.segments, 2);
                let got: Vec<_> = LogReader::open(storage.clone(), dir(), &read_options())
                    .unwrap()
                    .map(|r| r.unwrap().lsn)
                    .collect();
                assert_eq!(got.last().copied(), segs[2].1.checked_prev());
                assert_eq!(got.len() as u64, segs[2].1.get() - 1);
            }
            RecoveryMode::SkipAnyCorruptedRecords => {
                let (log, report) = result.unwrap();
                drop(log);
                assert_eq!(report.next_lsn, Lsn::new(61));
                assert_eq!(report.corrupt.len(), 1);
                assert_eq!(report.corrupt[0].lsns, Some(lost));
                let got: Vec<_> = LogReader::open(storage.clone(), dir(), &o)
                    .unwrap()
                    .map(|r| r.unwrap().lsn.get())
                    .collect();
                let want: Vec<u64> = (1..=60)
                    .filter(|l| *l < lost.0.get() || *l > lost.1.get())
                    .collect();
                assert_eq!(got, want);
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn lsn_gap_inside_a_segment() {
    let (_sim, storage) = sim(31);
    let mut seg = RawSeg::new(1, 7);
    for lsn in [1, 2, 3] {
        seg.full(lsn);
    }
    let at = seg.full(5);
    seg.full(6);
    seg.write(&*storage, 100);
    match recover(storage.clone(), dir(), &raw_log_options(), &read_options()) {
        Err(Error::Corruption(r)) => {
            assert_eq!(r.kind, CorruptionKind::BadSequence);
            assert_eq!(r.offset, at);
            assert_eq!(r.lsns, Some((Lsn::new(4), Lsn::new(4))));
        }
        other => panic!("expected a bad sequence, got {other:?}"),
    }
}

#[test]
fn unfinished_batch_followed_by_more_records() {
    // In one segment: a batch of 3 with 2 records, then another batch.
    let (_sim, storage) = sim(32);
    let mut seg = RawSeg::new(1, 8);
    seg.full(1);
    let marker = seg.batch(2, 3);
    seg.full(2);
    seg.full(3);
    let second = seg.batch(4, 2);
    seg.full(4);
    seg.full(5);
    seg.write(&*storage, 0);
    match recover(storage.clone(), dir(), &raw_log_options(), &read_options()) {
        Err(Error::Corruption(r)) => {
            assert_eq!(r.kind, CorruptionKind::BadSequence, "{r}");
            assert_eq!(r.offset, second);
            assert!(r.lsns.unwrap().0 == Lsn::new(2), "{r}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let _ = marker;

    // Across segments: the batch is cut by the end of its segment, and a
    // later segment exists.
    let (_sim, storage) = sim(33);
    let mut a = RawSeg::new(1, 9);
    a.full(1);
    let marker = a.batch(2, 3);
    a.full(2);
    a.full(3);
    a.write(&*storage, 0);
    let mut b = RawSeg::new(4, 10);
    b.full(4);
    b.write(&*storage, 0);
    match recover(storage.clone(), dir(), &raw_log_options(), &read_options()) {
        Err(Error::Corruption(r)) => {
            assert_eq!(r.kind, CorruptionKind::Unfinished, "{r}");
            assert_eq!(r.offset, marker);
            assert_eq!(r.lsns.unwrap().0, Lsn::new(2));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // Skipping drops the whole batch, never a prefix of it.
    let mut o = read_options();
    o.mode(RecoveryMode::SkipAnyCorruptedRecords);
    let got: Vec<u64> = LogReader::open(storage.clone(), dir(), &o)
        .unwrap()
        .map(|r| r.unwrap().lsn.get())
        .collect();
    assert_eq!(got, [1, 4]);
}

#[test]
fn fragment_chain_interrupted_mid_log() {
    let (_sim, storage) = sim(34);
    let mut seg = RawSeg::new(1, 11);
    seg.full(1);
    let first = seg.rec(2, RecordType::First, Flags::EMPTY, &[1; 50]);
    let interloper = seg.full(3);
    seg.full(4);
    seg.write(&*storage, 0);
    match read_all(storage.clone(), &dir(), &read_options()) {
        Err(Error::Corruption(r)) => {
            assert_eq!(r.kind, CorruptionKind::BadSequence);
            assert_eq!(r.offset, interloper);
            assert_eq!(r.lsns.unwrap().0, Lsn::new(2));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let _ = first;
}

#[test]
fn skipping_moves_past_records_that_are_bad_by_themselves() {
    // A valid record longer than the maximum, and a batch marker of count
    // 1 (invalid), each followed by good records: skipping must not loop.
    let (_sim, storage) = sim(35);
    let mut seg = RawSeg::new(1, 12);
    seg.full(1);
    let long = seg.rec(2, RecordType::Full, Flags::EMPTY, &[7; 30_000]);
    seg.full(3);
    let bad_marker = seg.rec(4, RecordType::Batch, Flags::EMPTY, &1u32.to_le_bytes());
    seg.full(4);
    seg.full(5);
    seg.write(&*storage, 0);
    let mut o = read_options();
    o.max_payload_len(40_000)
        .mode(RecoveryMode::SkipAnyCorruptedRecords);
    let mut reader = LogReader::open(storage.clone(), dir(), &o).unwrap();
    let mut got = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        got.push((r.lsn.get(), r.after_damage));
    }
    // Each record says whether damage was skipped before it.
    assert_eq!(got, [(1, false), (3, true), (4, true), (5, true)]);
    let skipped: Vec<u64> = reader.skipped().iter().map(|r| r.offset).collect();
    assert_eq!(skipped, [long, bad_marker]);
}

/// The clean-close marker is evidence about the log it names: every
/// segment gone while it says records were written is a finding; a marker
/// of another log among this one's segments is refused like a segment of
/// another log; both by the reader and by recovery, changing nothing.
#[test]
fn the_clean_close_marker_is_checked_against_the_segments() {
    let (sim, storage) = sim(77);
    write_mixed(storage.clone(), &dir(), 20, 77);
    let clean = dir().join(wal_io::CLEAN_FILE);
    let marker = sim.contents(&clean).unwrap();
    assert_eq!(marker.len(), 60, "a clean close left the marker");

    // A marker of another log: same content, another log id (checksum
    // recomputed, so only the id tells).
    let mut parsed = wal_format::CleanMarker::decode(&marker).unwrap();
    parsed.log_id = LogId::new(parsed.log_id.get() ^ 1);
    let file = storage.open(&clean, OpenOptions::write()).unwrap();
    file.write_all_at(&parsed.encode(), 0).unwrap();
    drop(file);
    for result in read_and_recover(&storage, &log_options(), &read_options()) {
        match result {
            Err(Error::Corruption(r)) => {
                assert_eq!(r.kind, CorruptionKind::Foreign);
                assert_eq!(r.segment, clean);
            }
            other => panic!("expected a foreign marker, got {other:?}"),
        }
    }
    assert!(sim.contents(&clean).is_ok(), "the marker is left in place");

    // Every segment gone, the log's own marker still there.
    let file = storage.open(&clean, OpenOptions::write()).unwrap();
    file.write_all_at(&marker, 0).unwrap();
    drop(file);
    for entry in storage.list_dir(&dir()).unwrap() {
        if entry.name.ends_with(".wal") {
            storage.remove_file(&dir().join(&entry.name)).unwrap();
        }
    }
    for result in read_and_recover(&storage, &log_options(), &read_options()) {
        match result {
            Err(Error::Corruption(r)) => {
                assert_eq!(r.kind, CorruptionKind::LsnGap);
                assert!(r.detail.contains("no segment file"), "{}", r.detail);
            }
            other => panic!("expected missing segments, got {other:?}"),
        }
    }
}
