//! A damaged record with valid records after it is corruption, reported
//! with its segment, offset and LSNs, and handled as each mode says.

use std::path::PathBuf;
use std::sync::Arc;

use wal_format::Lsn;
use wal_io::Storage;
use wal_io::sim::SimStorage;
use wal_reader::{
    CorruptionKind, Error, LogReader, OwnedRecord, ReadOptions, RecoveryMode, TailKind, recover,
    recover_with,
};

use crate::support::*;

/// Three segments of ten records (1..=30, with a batch 5..=7 in the
/// first), each group starting with its commit marker as the committer
/// writes them; returns the segment paths and every record's offset.
fn build(sim_seed: u64) -> (SimStorage, Arc<dyn Storage>, Vec<PathBuf>, Vec<u64>) {
    let (sim, storage) = sim(sim_seed);
    let mut offsets = vec![0];
    let mut paths = Vec::new();
    for s in 0..3u64 {
        let mut seg = RawSeg::new(s * 10 + 1, 1000 + s);
        for lsn in s * 10 + 1..=s * 10 + 10 {
            if (6..=7).contains(&lsn) {
                offsets.push(seg.full(lsn));
                continue;
            }
            seg.commit(lsn, lsn - 1);
            if lsn == 5 {
                seg.batch(5, 3);
            }
            offsets.push(seg.full(lsn));
        }
        paths.push(seg.write(&*storage, 512));
    }
    (sim, storage, paths, offsets)
}

fn mode(m: RecoveryMode) -> ReadOptions {
    let mut o = read_options();
    o.mode(m);
    o
}

fn flip(sim: &SimStorage, path: &std::path::Path, offset: u64) {
    let byte = sim.contents(path).unwrap()[offset as usize];
    sim.damage(path, offset, &[byte ^ 0x10]).unwrap();
}

fn lsns(storage: &Arc<dyn Storage>, o: &ReadOptions) -> Vec<u64> {
    LogReader::open(storage.clone(), dir(), o)
        .unwrap()
        .map(|r| r.unwrap().lsn.get())
        .collect()
}

#[test]
fn damaged_record_mid_log_in_each_mode() {
    for m in [
        RecoveryMode::TolerateCorruptedTailRecords,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
        RecoveryMode::SkipAnyCorruptedRecords,
    ] {
        let (sim, storage, paths, offsets) = build(20);
        // A payload byte of record 15 (second segment).
        flip(&sim, &paths[1], offsets[15] + 40);
        let result = recover(storage.clone(), dir(), &raw_log_options(), &mode(m));
        let check = |r: &wal_reader::CorruptRange| {
            assert_eq!(r.kind, CorruptionKind::DamagedRecord, "{m:?}");
            assert_eq!(r.segment, paths[1], "{m:?}");
            assert_eq!(r.offset, offsets[15], "{m:?}");
            // Valid data resumes at the commit marker of record 16's group.
            assert_eq!(r.end_offset, offsets[16] - 40, "{m:?}");
            assert_eq!(r.lsns, Some((Lsn::new(15), Lsn::new(15))), "{m:?}");
        };
        match m {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                match result {
                    Err(Error::Corruption(r)) => {
                        check(&r);
                        let text = Error::Corruption(r).to_string();
                        assert!(text.contains("00000000000000000011.wal"), "{text}");
                        assert!(text.contains(&format!("offset {}", offsets[15])), "{text}");
                    }
                    other => panic!("{m:?}: expected corruption, got {other:?}"),
                }
                // Nothing changed: the reader still sees the damage.
                assert!(matches!(
                    read_all(storage.clone(), &dir(), &read_options()),
                    Err(Error::Corruption(_))
                ));
                assert_eq!(segment_files(&*storage), 3);
            }
            RecoveryMode::PointInTime => {
                let (log, report) = result.unwrap();
                drop(log);
                assert_eq!(report.corrupt.len(), 1);
                check(&report.corrupt[0]);
                assert_eq!(report.next_lsn, Lsn::new(15));
                assert_eq!(report.removed_segments, 1);
                assert_eq!(report.segments, 2);
                assert_eq!(
                    lsns(&storage, &read_options()),
                    (1..=14).collect::<Vec<_>>()
                );
                // Durable, and idempotent.
                sim.crash();
                let (_, again) =
                    recover(storage.clone(), dir(), &raw_log_options(), &mode(m)).unwrap();
                assert_eq!(again.next_lsn, Lsn::new(15));
                assert!(again.corrupt.is_empty());
                assert_eq!(again.durable_end, report.durable_end);
            }
            RecoveryMode::SkipAnyCorruptedRecords => {
                let (log, report) = result.unwrap();
                drop(log);
                assert_eq!(report.corrupt.len(), 1);
                check(&report.corrupt[0]);
                assert_eq!(report.next_lsn, Lsn::new(31));
                let o = mode(m);
                let mut want: Vec<u64> = (1..=30).collect();
                want.retain(|&l| l != 15);
                assert_eq!(lsns(&storage, &o), want);
                let mut reader = LogReader::open(storage.clone(), dir(), &o).unwrap();
                while reader.next_record().unwrap().is_some() {}
                assert_eq!(reader.skipped().len(), 1);
                check(&reader.skipped()[0]);
                // Recovering again skips the same range.
                let (_, again) = recover(storage.clone(), dir(), &raw_log_options(), &o).unwrap();
                assert_eq!(again.corrupt, report.corrupt);
                assert_eq!(again.next_lsn, report.next_lsn);
            }
            _ => unreachable!(),
        }
    }
}

/// `recover_with` replays exactly what a reader yields after `recover`, and
/// reports the same, in each mode: two copies of the same damaged log, one
/// recovered and then read, the other recovered with a replay.
#[test]
fn replaying_recovery_yields_what_recovery_then_reading_does() {
    for m in [
        RecoveryMode::TolerateCorruptedTailRecords,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
        RecoveryMode::SkipAnyCorruptedRecords,
    ] {
        let damaged = || {
            let (sim, storage, paths, offsets) = build(24);
            flip(&sim, &paths[1], offsets[15] + 40);
            // A torn tail too: the last record (30) cut short.
            storage
                .open(&paths[2], wal_io::OpenOptions::write())
                .unwrap()
                .set_len(offsets[30] + 40)
                .unwrap();
            storage
        };
        let (a, b) = (damaged(), damaged());
        let o = mode(m);
        let plain = recover(a.clone(), dir(), &raw_log_options(), &o);
        let mut replayed: Vec<OwnedRecord> = Vec::new();
        let with = recover_with(b.clone(), dir(), &raw_log_options(), &o, |r| {
            replayed.push(r.to_owned_record());
        });
        match (plain, with) {
            (Ok((log_a, mut report_a)), Ok((log_b, mut report_b))) => {
                drop((log_a, log_b));
                report_a.elapsed = std::time::Duration::ZERO;
                report_b.elapsed = std::time::Duration::ZERO;
                assert_eq!(report_a, report_b, "{m:?}");
                let read = read_all(a.clone(), &dir(), &o).unwrap();
                assert!(!read.is_empty(), "{m:?}");
                assert_eq!(replayed, read, "{m:?}");
                assert!(replayed.iter().all(|r| r.lsn != Lsn::new(15)), "{m:?}");
                assert!(
                    replayed.iter().all(|r| r.lsn < Lsn::new(30)),
                    "{m:?}: torn tail"
                );
            }
            (Err(Error::Corruption(ra)), Err(Error::Corruption(rb))) => {
                assert_eq!(ra, rb, "{m:?}");
                // What the replay saw before the failure: valid records,
                // in order, all before the damage.
                let lsns: Vec<u64> = replayed.iter().map(|r| r.lsn.get()).collect();
                assert_eq!(lsns, (1..=14).collect::<Vec<_>>(), "{m:?}");
            }
            (a, b) => panic!("{m:?}: recover {a:?}, recover_with {b:?}"),
        }
    }
}

#[test]
fn damage_inside_a_batch_loses_the_whole_batch() {
    let (sim, storage, paths, offsets) = build(21);
    flip(&sim, &paths[0], offsets[6] + 8); // the LSN field of record 6
    match read_all(storage.clone(), &dir(), &read_options()) {
        Err(Error::Corruption(r)) => {
            assert_eq!(r.offset, offsets[6]);
            assert_eq!(r.lsns, Some((Lsn::new(5), Lsn::new(7))));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let o = mode(RecoveryMode::SkipAnyCorruptedRecords);
    let want: Vec<u64> = (1..=30).filter(|l| !(5..=7).contains(l)).collect();
    assert_eq!(lsns(&storage, &o), want);
}

#[test]
fn damage_in_the_last_segment_before_valid_records() {
    let (sim, storage, paths, offsets) = build(22);
    flip(&sim, &paths[2], offsets[25] + 3); // record CRC of record 25
    match recover(storage.clone(), dir(), &raw_log_options(), &read_options()) {
        Err(Error::Corruption(r)) => {
            assert_eq!(r.segment, paths[2]);
            assert_eq!(r.offset, offsets[25]);
            assert_eq!(r.lsns, Some((Lsn::new(25), Lsn::new(25))));
            // The evidence is named: the commit marker of record 26's group
            // says the log was durable through 25.
            assert!(r.detail.contains("acknowledged"), "{}", r.detail);
            assert!(r.detail.contains("commit marker"), "{}", r.detail);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// Damage in the last group of the last segment, with nothing written
/// after it: no evidence shows the group was acknowledged (it is what a
/// power loss leaves of a write whose sync never returned), so it is a torn
/// tail, cut and reported, valid records after the hole included.
#[test]
fn damage_in_the_last_group_is_a_torn_tail() {
    let (sim, storage) = sim(26);
    let mut seg = RawSeg::new(1, 3000);
    let mut offsets = vec![0];
    for lsn in 1..=5 {
        offsets.push(seg.group(lsn));
    }
    // One group of three records: 6, 7, 8.
    seg.commit(6, 5);
    for lsn in 6..=8 {
        offsets.push(seg.full(lsn));
    }
    let path = seg.write(&*storage, 512);
    flip(&sim, &path, offsets[6] + 40);
    let (log, report) =
        recover(storage.clone(), dir(), &raw_log_options(), &read_options()).unwrap();
    drop(log);
    assert_eq!(report.tail, TailKind::Torn);
    assert_eq!(report.next_lsn, Lsn::new(6));
    assert_eq!(report.proven_lsn, Lsn::new(5));
    assert_eq!(report.dropped, Some((Lsn::new(6), Lsn::new(8))));
    assert!(report.truncated_bytes > 0);
    let losses = report.losses().unwrap();
    assert!(losses.contains("lsns 6..=8 dropped"), "{losses}");
    // Damage one group earlier is corruption: group 6..=8's marker proves
    // record 5 was acknowledged.
    let (sim, storage) = crate::support::sim(27);
    let path = seg.write(&*storage, 512);
    flip(&sim, &path, offsets[5] + 40);
    assert!(matches!(
        recover(storage.clone(), dir(), &raw_log_options(), &read_options()),
        Err(Error::Corruption(r)) if r.lsns == Some((Lsn::new(5), Lsn::new(5)))
    ));
}

/// A writer that leaves no evidence (no commit markers, no clean close):
/// nothing proves any record of the last segment was acknowledged.
#[test]
fn without_evidence_damage_in_the_last_segment_is_a_torn_tail() {
    let (sim, storage) = sim(28);
    let mut seg = RawSeg::new(1, 3001);
    let mut offsets = vec![0];
    for lsn in 1..=10 {
        offsets.push(seg.full(lsn));
    }
    let path = seg.write(&*storage, 0);
    flip(&sim, &path, offsets[4] + 40);
    let (_, report) = recover(storage.clone(), dir(), &raw_log_options(), &read_options()).unwrap();
    assert_eq!(report.tail, TailKind::Torn);
    assert_eq!(report.dropped, Some((Lsn::new(4), Lsn::new(10))));
    assert_eq!(report.proven_lsn, Lsn::ZERO);
}

#[test]
fn zeros_before_valid_records_are_a_hole() {
    let (sim, storage, paths, offsets) = build(23);
    let len = (offsets[14] - offsets[13]) as usize;
    sim.damage(&paths[1], offsets[13], &vec![0; len]).unwrap();
    match read_all(storage.clone(), &dir(), &read_options()) {
        Err(Error::Corruption(r)) => {
            assert_eq!(r.kind, CorruptionKind::Hole);
            assert_eq!(r.offset, offsets[13]);
            assert_eq!(r.lsns, Some((Lsn::new(13), Lsn::new(13))));
        }
        other => panic!("expected a hole, got {other:?}"),
    }
}

#[test]
fn skipping_is_idempotent() {
    // 1 2 [3 damaged] 4 5 6 [7 damaged] 8..=12, one group per record: the
    // markers after each damage prove both were acknowledged, so both are
    // skipped, on the first recovery as on the second (a fuzzer once found
    // the second disagreeing).
    let (sim, storage) = sim(24);
    let mut seg = RawSeg::new(1, 2000);
    let mut offsets = vec![0];
    for lsn in 1..=12 {
        offsets.push(seg.group(lsn));
    }
    let path = seg.write(&*storage, 0);
    flip(&sim, &path, offsets[3] + 40);
    flip(&sim, &path, offsets[7] + 40);
    let o = mode(RecoveryMode::SkipAnyCorruptedRecords);
    let (log, first) = recover(storage.clone(), dir(), &raw_log_options(), &o).unwrap();
    drop(log);
    let (log, second) = recover(storage.clone(), dir(), &raw_log_options(), &o).unwrap();
    drop(log);
    assert_eq!(first.next_lsn, Lsn::new(13));
    assert_eq!(first.corrupt, second.corrupt);
    assert_eq!(first.corrupt.len(), 2);
    assert_eq!(first.durable_end, second.durable_end);
    assert_eq!(lsns(&storage, &o), [1, 2, 4, 5, 6, 8, 9, 10, 11, 12]);

    // Damage in the last group too: 12 is a torn tail, cut once; the
    // second recovery finds the same two ranges and a clean end.
    let (sim2, storage) = crate::support::sim(25);
    let path = seg.write(&*storage, 0);
    flip(&sim2, &path, offsets[3] + 40);
    flip(&sim2, &path, offsets[12] + 40);
    let (log, first) = recover(storage.clone(), dir(), &raw_log_options(), &o).unwrap();
    drop(log);
    let (_, second) = recover(storage.clone(), dir(), &raw_log_options(), &o).unwrap();
    assert_eq!(first.next_lsn, Lsn::new(12));
    assert_eq!(first.tail, TailKind::Torn);
    assert_eq!(first.corrupt.len(), 1);
    assert_eq!(first.corrupt, second.corrupt);
    assert_eq!(second.next_lsn, Lsn::new(12));
    assert_ne!(second.tail, TailKind::Torn);
}

/// Flags no writer sets, in a segment without a key: a record or a marker
/// flagged encrypted (a marker so flagged would carry a tag nothing
/// checks), a record flagged compressed whose payload does not start as a
/// compressed payload does. Each is a valid record out of place, for the
/// reader and recovery alike, found on the structure before any payload
/// is decoded (so whatever features the build has).
#[test]
fn flags_no_writer_sets_are_corruption() {
    use wal_format::{CommitMarker, Flags, MARKER_TAG_LEN, RecordType};

    let encrypted = "encrypted record in a segment without a key";
    let compressed = "record flagged compressed whose payload is not a compressed payload";
    for (case, detail) in [
        ("encrypted record", encrypted),
        ("encrypted marker", encrypted),
        ("compressed record", compressed),
    ] {
        let (_sim, storage) = sim(29);
        let mut seg = RawSeg::new(1, 3002);
        for lsn in 1..=4 {
            seg.group(lsn);
        }
        let at = match case {
            "encrypted marker" => {
                let mut tagged = CommitMarker::new(Lsn::new(4)).encode().to_vec();
                tagged.extend_from_slice(&[0x5a; MARKER_TAG_LEN]);
                let at = seg.rec(5, RecordType::Commit, Flags::ENCRYPTED, &tagged);
                seg.full(5);
                at
            }
            _ => {
                seg.commit(5, 4);
                let flags = if case == "encrypted record" {
                    Flags::ENCRYPTED
                } else {
                    Flags::COMPRESSED
                };
                seg.rec(5, RecordType::Full, flags, &payload(5, 40))
            }
        };
        for lsn in 6..=8 {
            seg.group(lsn);
        }
        seg.write(&*storage, 512);
        for result in read_and_recover(&storage, &raw_log_options(), &read_options()) {
            match result {
                Err(Error::Corruption(r)) => {
                    assert_eq!(r.kind, CorruptionKind::BadSequence, "{case}");
                    assert_eq!(r.offset, at, "{case}");
                    assert!(r.detail.contains(detail), "{case}: {}", r.detail);
                }
                other => panic!("{case}: expected corruption, got {other:?}"),
            }
        }
    }
}
