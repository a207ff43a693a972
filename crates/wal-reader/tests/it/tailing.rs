//! Tailing a live log: records in order as they become durable, never
//! before, across rotations, blocking and async; a clear error when the
//! records it needs were purged.

use std::sync::Arc;

use wal_commit::Durability;
use wal_format::Lsn;
use wal_reader::{
    CorruptionKind, DurableWatermark, Error, RecoveryMode, TailReader, WaitFuture, Watermark,
};

use crate::support::*;

/// The committer's watermark as the tailer's source.
struct CommitMark(Durability);

impl DurableWatermark for CommitMark {
    fn durable_lsn(&self) -> Lsn {
        self.0.durable_lsn()
    }
    fn wait_past(&self, lsn: Lsn) -> wal_reader::Result<Lsn> {
        self.0.wait_past(lsn).map_err(|_| Error::Closed)
    }
    fn wait_past_async(&self, lsn: Lsn) -> WaitFuture<'_> {
        Box::pin(async move { self.0.wait_past_async(lsn).await.map_err(|_| Error::Closed) })
    }
}

fn payloads(n: u64) -> Vec<Vec<u8>> {
    (1..=n)
        .map(|i| payload(i, ((i * 977) % 4500) as usize))
        .collect()
}

#[test]
fn blocking_tail_follows_appends_across_rotations() {
    let (_sim, storage) = sim(60);
    let log = committer(storage.clone(), &dir());
    let mark = Arc::new(CommitMark(log.durability()));
    let mut tail = tail_from_first(&storage, mark);
    let all = payloads(300);
    let writer = {
        let all = all.clone();
        std::thread::spawn(move || {
            for (i, p) in all.iter().enumerate() {
                if i % 50 == 7 {
                    // A batch of two, with the next record.
                    continue;
                }
                if i % 50 == 6 {
                    log.append_batch(&[p, &all[i + 1]]).unwrap();
                } else {
                    log.append(p).unwrap();
                }
            }
            log.close().unwrap();
        })
    };
    for (i, p) in all.iter().enumerate() {
        let r = tail
            .next_record()
            .unwrap_or_else(|e| panic!("record {}: {e:?}", i + 1));
        assert_eq!(r.lsn, Lsn::new(i as u64 + 1));
        assert_eq!(r.payload, &p[..]);
    }
    writer.join().unwrap();
    assert!(matches!(tail.next_record(), Err(Error::Closed)));
    let segments = segment_files(&*storage);
    assert!(segments > 20, "{segments} segments: no rotation to follow");
}

#[test]
fn tail_sees_only_durable_records() {
    let (_sim, storage) = sim(61);
    let mut w = SegWriter::open(storage.clone(), &log_options());
    let mark = Arc::new(Watermark::new(Lsn::ZERO));
    let mut tail = tail_from_first(&storage, mark.clone());
    assert!(tail.try_next().unwrap().is_none());
    for i in 1..=3 {
        w.append(&payload(i, 100));
    }
    // On disk, but the watermark says only the first is durable.
    mark.publish(Lsn::new(1));
    assert_eq!(tail.try_next().unwrap().unwrap().lsn, Lsn::new(1));
    assert!(tail.try_next().unwrap().is_none());
    mark.publish(Lsn::new(3));
    assert_eq!(tail.try_next().unwrap().unwrap().lsn, Lsn::new(2));
    assert_eq!(tail.next_record().unwrap().lsn, Lsn::new(3));
    assert!(tail.try_next().unwrap().is_none());
    // Records written after the tailer reached the end of the file.
    for i in 4..=40 {
        w.append(&payload(i, 1000));
        mark.publish(Lsn::new(i));
        let r = tail.next_record().unwrap();
        assert_eq!((r.lsn, r.payload), (Lsn::new(i), &payload(i, 1000)[..]));
    }
    mark.close();
    assert!(matches!(tail.next_record(), Err(Error::Closed)));
}

#[test]
fn tail_behind_a_purge_gets_a_purged_error() {
    let (_sim, storage) = sim(62);
    let log = committer(storage.clone(), &dir());
    let all = payloads(400);
    for p in &all[..200] {
        log.append(p).unwrap();
    }
    let mark = Arc::new(CommitMark(log.durability()));
    let mut tail = tail_from_first(&storage, mark.clone());
    for i in 1..=5u64 {
        assert_eq!(tail.next_record().unwrap().lsn, Lsn::new(i));
    }
    assert!(log.purge_below(Lsn::new(150)).unwrap() > 3);
    // Purged segments are recycled by these appends.
    for p in &all[200..] {
        log.append(p).unwrap();
    }
    let mut next = 6u64;
    let err = loop {
        match tail.next_record() {
            Ok(r) => {
                assert_eq!(r.lsn, Lsn::new(next));
                assert_eq!(r.payload, &all[next as usize - 1][..], "lsn {next}");
                next += 1;
            }
            Err(e) => break e,
        }
    };
    match err {
        Error::Purged { lsn, oldest } => {
            assert_eq!(lsn, Lsn::new(next));
            assert!(oldest > lsn && oldest <= Lsn::new(150));
        }
        other => panic!("expected Purged, got {other:?}"),
    }
    assert!(matches!(
        TailReader::open(storage.clone(), DIR, Lsn::new(3), &read_options(), mark),
        Err(Error::Purged { .. })
    ));
    log.close().unwrap();
}

/// Zeros at rest over durable records in the middle of a segment (bit rot:
/// a run of bytes overwritten with zeros), with intact records after them.
/// The watermark says every record is durable, and the valid records after
/// the zeros show the zeros are not the end of what was written: a hole,
/// whether the segment is the last one or another follows it. The skipping
/// mode hands out every record around it and goes on; the default mode
/// reports it as corruption. Neither calls it records not written yet, nor
/// missing.
#[test]
fn a_zeroed_hole_below_the_watermark_is_damage() {
    for later_segment in [false, true] {
        for mode in [
            RecoveryMode::SkipAnyCorruptedRecords,
            RecoveryMode::TolerateCorruptedTailRecords,
        ] {
            let case = format!("later segment {later_segment}, {mode:?}");
            let (_sim, storage) = sim(63);
            let mut seg = RawSeg::new(1, 4100);
            let mut starts = Vec::new();
            for lsn in 1..=10 {
                starts.push(seg.bytes.len());
                seg.group(lsn);
            }
            starts.push(seg.bytes.len());
            // Group 5 (its commit marker and its record) zeroed.
            let hole = starts[4]..starts[5];
            seg.bytes[hole.clone()].fill(0);
            let mut last = 10;
            if later_segment {
                seg.write(&*storage, 0);
                let mut next = RawSeg::new(11, 4101);
                for lsn in 11..=15 {
                    next.group(lsn);
                }
                next.write(&*storage, 512);
                last = 15;
            } else {
                seg.write(&*storage, 512);
            }
            let mark = Arc::new(Watermark::new(Lsn::new(last)));
            let mut o = read_options();
            o.mode(mode);
            let mut tail = TailReader::open(storage.clone(), DIR, Lsn::FIRST, &o, mark).unwrap();
            let mut got = Vec::new();
            let end = loop {
                match tail.try_next() {
                    Ok(Some(r)) => {
                        assert_eq!(r.payload, &payload(r.lsn.get(), 40)[..], "{case}");
                        got.push(r.lsn.get());
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            if mode == RecoveryMode::SkipAnyCorruptedRecords {
                assert!(end.is_none(), "{case}: {end:?}");
                let want: Vec<u64> = (1..=last).filter(|&l| l != 5).collect();
                assert_eq!(got, want, "{case}");
                assert_eq!(tail.next_lsn(), Lsn::new(last + 1), "{case}");
            } else {
                assert_eq!(got, [1, 2, 3, 4], "{case}");
                match end {
                    Some(Error::Corruption(r)) => {
                        assert_eq!(r.kind, CorruptionKind::Hole, "{case}");
                        assert_eq!(r.offset, hole.start as u64, "{case}");
                        assert_eq!(r.end_offset, hole.end as u64, "{case}");
                    }
                    other => panic!("{case}: expected corruption, got {other:?}"),
                }
            }
        }
    }
}
