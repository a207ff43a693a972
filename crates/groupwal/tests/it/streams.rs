//! Streams: many logical logs in one log, each with its own dense index,
//! purged and truncated on its own; rebuilt by recovery.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use groupwal::io::Storage;
use groupwal::io::sim::SimStorage;
use groupwal::{Error, LogicalKind, Lsn, Stream, Wal};

use crate::support::{DIR, open, options, payload};

/// Every entry of `stream` from its first live index to its last.
fn entries(wal: &Wal, stream: u64) -> Vec<(u64, Vec<u8>)> {
    wal.stream(stream)
        .read(..)
        .unwrap()
        .map(|e| e.unwrap_or_else(|e| panic!("stream {stream}: {e}")))
        .collect()
}

fn segments(storage: &SimStorage) -> usize {
    storage
        .list_dir(Path::new(DIR))
        .unwrap()
        .iter()
        .filter(|e| e.name.ends_with(".wal"))
        .count()
}

#[test]
fn interleaved_streams_keep_dense_indexes_and_come_back_after_reopen() {
    let storage = SimStorage::new(20);
    let wal = open(&storage);
    let mut model: BTreeMap<u64, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    for seq in 0..60 {
        let stream = seq % 3 + 10;
        let p = payload(stream, seq);
        let index = wal.stream(stream).append(&p).unwrap();
        model.entry(stream).or_default().push((index, p));
    }
    // A plain record among them is not a stream's.
    let plain = wal.append(b"plain").unwrap();
    for (stream, list) in &model {
        let idx: Vec<u64> = list.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, (1..=20).collect::<Vec<_>>(), "stream {stream}");
        assert_eq!(&entries(&wal, *stream), list);
    }
    // A range in the middle, bounded both ways.
    let mid: Vec<u64> = wal
        .stream(11)
        .read(5..=7)
        .unwrap()
        .map(|e| e.unwrap().0)
        .collect();
    assert_eq!(mid, [5, 6, 7]);
    wal.close().unwrap();

    let mut replayed = Vec::new();
    let (wal, _) = Wal::open_with(DIR, &options(&storage), |r| {
        replayed.push((r.lsn, r.kind));
    })
    .unwrap();
    assert_eq!(
        replayed,
        [(plain, LogicalKind::Data)],
        "replay sees the plain records only"
    );
    let report_segments = segments(&storage) as u64;
    let mut ids: Vec<u64> = wal.streams().iter().map(|s| s.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [10, 11, 12]);
    for (stream, list) in &model {
        let info = wal.stream(*stream).info().unwrap();
        assert_eq!(
            (info.first_index, info.last_index, info.entries),
            (Some(1), Some(20), 20)
        );
        assert_eq!(info.segments_held, Some(report_segments), "{info:?}");
        assert_eq!(&entries(&wal, *stream), list);
    }
    // Appends go on where they were.
    assert_eq!(wal.stream(12).append(b"next").unwrap(), 21);
    assert_eq!(wal.stream(99).first_index(), None);
    assert_eq!(wal.stream(99).next_index(), 1);
    wal.close().unwrap();
}

#[test]
fn a_batch_across_streams_is_atomic_and_takes_each_streams_next_index() {
    let storage = SimStorage::new(21);
    let wal = open(&storage);
    wal.stream(1).append(b"one").unwrap();
    let indexes = wal
        .append_streams(&[(1, &b"a"[..]), (2, b"b"), (1, b"c")])
        .unwrap();
    assert_eq!(indexes, [2, 1, 3]);
    wal.close().unwrap();
    let wal = open(&storage);
    assert_eq!(
        entries(&wal, 1),
        [(1, b"one".to_vec()), (2, b"a".to_vec()), (3, b"c".to_vec())]
    );
    assert_eq!(entries(&wal, 2), [(1, b"b".to_vec())]);
    wal.close().unwrap();
}

#[test]
fn a_stream_starts_at_the_index_given_and_refuses_a_gap_or_an_overlap() {
    let storage = SimStorage::new(22);
    let wal = open(&storage);
    let s = wal.stream(7);
    assert_eq!(s.append_at(100, &[b"x", b"y"]).unwrap(), 101);
    for wrong in [100, 103, 0] {
        match s.append_at(wrong, &[b"z"]) {
            Err(Error::StreamIndex {
                stream: 7,
                index,
                expected: 102,
            }) => assert_eq!(index, wrong),
            other => panic!("append at {wrong}: {other:?}"),
        }
    }
    assert_eq!(s.append_at(102, &[b"z"]).unwrap(), 102);
    assert!(matches!(
        s.read(99..),
        Err(Error::StreamPurged {
            stream: 7,
            index: 99,
            first: Some(100)
        })
    ));
    wal.close().unwrap();
    let wal = open(&storage);
    let got: Vec<u64> = entries(&wal, 7).iter().map(|e| e.0).collect();
    assert_eq!(got, [100, 101, 102]);
    wal.close().unwrap();
}

#[test]
fn indexes_stop_at_the_last_one_a_u64_holds_after_it() {
    let storage = SimStorage::new(23);
    let wal = open(&storage);
    let exhausted = |r: groupwal::Result<_>| {
        assert!(
            matches!(r, Err(Error::InvalidOption { name: "index", .. })),
            "{:?}",
            r.map(|_: u64| ())
        );
    };
    let last = wal.stream(1);
    assert_eq!(
        last.append_at(Stream::MAX_INDEX, &[b"x"]).unwrap(),
        Stream::MAX_INDEX
    );
    assert_eq!(last.next_index(), u64::MAX);
    exhausted(last.append(b"y"));
    exhausted(wal.stream(2).append_at(Stream::MAX_INDEX, &[b"x", b"y"]));
    exhausted(wal.stream(2).append_at(u64::MAX, &[b"x"]));
    assert!(matches!(
        wal.append_streams(&[(3, &b"ok"[..]), (1, b"no")]),
        Err(Error::InvalidOption { name: "index", .. })
    ));
    wal.stream(4).purge_below(u64::MAX).unwrap();
    exhausted(wal.stream(4).append(b"z"));
    // Nothing of the refused calls reached the log.
    assert_eq!(wal.stream(3).info(), None);
    wal.close().unwrap();
    let wal = open(&storage);
    assert_eq!(entries(&wal, 1), [(Stream::MAX_INDEX, b"x".to_vec())]);
    assert_eq!(wal.stream(4).next_index(), u64::MAX);
    assert_eq!(wal.streams().len(), 2);
    wal.close().unwrap();
}

#[test]
fn truncation_lets_later_appends_reuse_the_indexes_across_a_reopen() {
    let storage = SimStorage::new(23);
    let wal = open(&storage);
    let s = wal.stream(5);
    for i in 1..=10u64 {
        s.append(format!("old {i}").as_bytes()).unwrap();
        wal.stream(6).append(b"other").unwrap();
    }
    s.truncate_from(6).unwrap();
    assert_eq!((s.last_index(), s.next_index()), (Some(5), 6));
    assert_eq!(s.append_at(6, &[b"new 6", b"new 7"]).unwrap(), 7);
    wal.close().unwrap();

    let wal = open(&storage);
    let got = entries(&wal, 5);
    let want: Vec<(u64, Vec<u8>)> = (1..=5u64)
        .map(|i| (i, format!("old {i}").into_bytes()))
        .chain([(6, b"new 6".to_vec()), (7, b"new 7".to_vec())])
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        wal.stream(6).last_index(),
        Some(10),
        "other streams untouched"
    );
    // Truncating everything leaves an empty stream whose next index stays.
    wal.stream(5).truncate_from(1).unwrap();
    assert_eq!(wal.stream(5).first_index(), None);
    wal.close().unwrap();
    let wal = open(&storage);
    assert_eq!(wal.stream(5).next_index(), 1);
    assert!(entries(&wal, 5).is_empty());
    wal.close().unwrap();
}

#[test]
fn segments_go_once_every_stream_purged_past_them_and_state_survives() {
    let storage = SimStorage::new(24);
    let wal = open(&storage);
    let big = vec![7u8; 3000];
    for _ in 0..40 {
        wal.append_streams(&[(1, &big[..]), (2, &big[..])]).unwrap();
    }
    let before = segments(&storage);
    assert!(before > 4, "expected rotations, got {before} segments");

    // One stream purging is not enough: the other pins the segments.
    wal.stream(1).purge_below(41).unwrap();
    assert_eq!(wal.stream(1).first_index(), None);
    assert_eq!(segments(&storage), before, "stream 2 pins every segment");
    assert!(matches!(
        wal.stream(1).read(40..41),
        Err(Error::StreamPurged {
            stream: 1,
            index: 40,
            first: None
        })
    ));
    // Nor is the plain purge: stream 2's entries are live.
    wal.purge_below(wal.next_lsn()).unwrap();
    assert_eq!(segments(&storage), before);

    wal.stream(2).purge_below(35).unwrap();
    let after = segments(&storage);
    assert!(after < before, "{after} segments, {before} before");
    let kept: Vec<u64> = entries(&wal, 2).iter().map(|e| e.0).collect();
    assert_eq!(kept, (35..=40).collect::<Vec<_>>());

    // Stream 2 goes on far past stream 1's purge record, and purges: the
    // segment holding that record goes too.
    for _ in 0..40 {
        wal.stream(2).append(&big).unwrap();
    }
    wal.stream(2).purge_below(75).unwrap();
    assert!(segments(&storage) < after);
    wal.close().unwrap();

    // The empty stream's next index survived the removal of the segment
    // that held its purge (its state was written forward).
    let wal = open(&storage);
    assert_eq!(wal.stream(1).next_index(), 41);
    assert_eq!(wal.stream(1).first_index(), None);
    assert_eq!(wal.stream(2).first_index(), Some(75));
    assert_eq!(wal.stream(1).append(b"again").unwrap(), 41);
    wal.close().unwrap();
}

#[test]
fn plain_records_keep_their_segments_until_the_plain_purge() {
    let storage = SimStorage::new(25);
    let wal = open(&storage);
    let plain = wal.append(b"plain and still needed").unwrap();
    let big = vec![1u8; 3000];
    for _ in 0..30 {
        wal.stream(3).append(&big).unwrap();
    }
    let before = segments(&storage);
    wal.stream(3).purge_below(31).unwrap();
    assert_eq!(
        segments(&storage),
        before,
        "the plain record pins its segment"
    );
    assert_eq!(
        wal.read_from(plain)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .payload,
        b"plain and still needed"
    );
    assert!(wal.purge_below(wal.next_lsn()).unwrap() > 0);
    assert!(segments(&storage) < before);
    wal.close().unwrap();
    let wal = open(&storage);
    assert_eq!(wal.stream(3).next_index(), 31);
    wal.close().unwrap();
}

#[test]
fn the_plain_suffix_truncation_is_refused_once_there_are_streams() {
    let storage = SimStorage::new(26);
    let wal = open(&storage);
    wal.append(b"a").unwrap();
    wal.stream(1).append(b"b").unwrap();
    assert!(matches!(
        wal.truncate_from(Lsn::FIRST),
        Err(Error::InvalidOption {
            name: "truncate_from",
            ..
        })
    ));
    wal.close().unwrap();
}

#[test]
fn submitted_entries_count_at_once_and_read_once_durable() {
    let storage = SimStorage::new(27);
    let wal = Arc::new(open(&storage));
    let s = wal.stream(4);
    let pending: Vec<_> = (0..10u8).map(|i| s.submit(&[i]).unwrap()).collect();
    assert_eq!(s.last_index(), Some(10), "counted as soon as queued");
    let got: Vec<(u64, Vec<u8>)> = s.read(..).unwrap().map(Result::unwrap).collect();
    assert_eq!(got.len(), 10);
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.wait().unwrap(), i as u64 + 1);
    }
    Arc::try_unwrap(wal).unwrap().close().unwrap();
}

/// Nothing but the submission wakes the log's thread: a handle awaited
/// from async code (which never writes itself) still becomes durable.
/// Many rounds, so that some submissions find the thread asleep (after a
/// sync the I/O thread has usually gone to sleep by the time the waiter
/// runs; the first rounds may find it still awake).
#[test]
fn a_submitted_entry_awaited_from_async_code_becomes_durable() {
    let storage = SimStorage::new(29);
    let wal = open(&storage);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for round in 0..100u64 {
            let single = wal.stream(5).submit(b"a").unwrap();
            assert_eq!(single.wait_async().await.unwrap(), 3 * round + 1);
            let next = 3 * round + 2;
            let batch = wal.stream(5).submit_at(next, &[b"b", b"c"]).unwrap();
            assert_eq!(batch.wait_async().await.unwrap(), next + 1);
        }
    });
    wal.close().unwrap();
}

#[test]
fn async_appends_to_streams() {
    let storage = SimStorage::new(28);
    let wal = open(&storage);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(wal.stream(9).append_async(b"a").await.unwrap(), 1);
        assert_eq!(wal.stream(9).append_at_async(2, &[b"b"]).await.unwrap(), 2);
        assert_eq!(
            wal.append_streams_async(&[(9, &b"c"[..]), (8, b"d")])
                .await
                .unwrap(),
            [3, 1]
        );
    });
    assert_eq!(entries(&wal, 9).len(), 3);
    wal.close().unwrap();
}

/// Options for the rewrite tests: small segments, rewrite beyond 4.
fn rewrite_options(storage: &SimStorage) -> groupwal::WalOptions {
    let mut o = options(storage);
    o.stream_rewrite_segments(Some(4));
    o
}

/// A lagging stream's few entries are copied forward so the segments it
/// pinned go; they read back the same, before and after a reopen (when
/// their original records are gone with their segments).
#[test]
fn a_stream_that_never_purges_does_not_pin_the_disk() {
    let storage = SimStorage::new(29);
    let (wal, _) = Wal::open(DIR, &rewrite_options(&storage)).unwrap();
    let lagging: Vec<Vec<u8>> = (0..5).map(|i| payload(1, i)).collect();
    for p in &lagging {
        wal.stream(1).append(p).unwrap();
    }
    let big = vec![9u8; 3000];
    let mut most = 0;
    for round in 0..12u64 {
        for _ in 0..20 {
            wal.stream(2).append(&big).unwrap();
        }
        let last = wal.stream(2).last_index().unwrap();
        wal.stream(2).purge_below(last).unwrap();
        most = most.max(segments(&storage));
        if round == 0 {
            assert_eq!(wal.stream(1).info().unwrap().copied, 0);
        }
    }
    let info = wal.stream(1).info().unwrap();
    assert!(info.copied >= 5, "{info:?}");
    assert!(info.segments_held.unwrap() <= 4, "{info:?}");
    assert!(
        most <= 8,
        "the lagging stream pinned {most} segments (rewrite beyond 4)"
    );
    let want: Vec<(u64, Vec<u8>)> = (1..=5).zip(lagging.iter().cloned()).collect();
    assert_eq!(entries(&wal, 1), want);
    wal.close().unwrap();

    let (wal, _) = Wal::open(DIR, &rewrite_options(&storage)).unwrap();
    assert_eq!(entries(&wal, 1), want);
    assert_eq!(wal.stream(1).append(b"six").unwrap(), 6);
    wal.close().unwrap();
}

/// The power goes at a random storage call while a lagging stream is
/// rewritten over and over: every acknowledged entry of it is there after
/// recovery, bit-exact, at its index.
#[test]
fn a_crash_during_rewrites_loses_no_acknowledged_entry() {
    use groupwal::io::sim::HaltingStorage;
    for seed in 0..12u64 {
        let sim = SimStorage::new(0x5eed_0000 + seed);
        let halting = HaltingStorage::new(Arc::new(sim.clone()));
        let mut o = rewrite_options(&sim);
        o.storage(Arc::new(halting.clone()));
        let (wal, _) = Wal::open(DIR, &o).unwrap();
        let lagging: Vec<Vec<u8>> = (0..4).map(|i| payload(1, i)).collect();
        for p in &lagging {
            wal.stream(1).append(p).unwrap();
        }
        halting.halt_at(halting.calls_made() + 40 + seed * 37);
        let big = vec![5u8; 3000];
        let mut acked_2 = 0;
        'work: for _ in 0..40 {
            for _ in 0..10 {
                match wal.stream(2).append(&big) {
                    Ok(i) => acked_2 = i,
                    Err(_) => break 'work,
                }
            }
            if wal.stream(2).purge_below(acked_2).is_err() {
                break;
            }
        }
        drop(wal);
        sim.crash();

        let (wal, _) = Wal::open(DIR, &rewrite_options(&sim))
            .unwrap_or_else(|e| panic!("seed {seed}: {e} ({e:?})"));
        let want: Vec<(u64, Vec<u8>)> = (1..=4).zip(lagging.iter().cloned()).collect();
        assert_eq!(entries(&wal, 1), want, "seed {seed}");
        let last = wal.stream(2).last_index().unwrap_or(0);
        assert!(
            last >= acked_2,
            "seed {seed}: acknowledged {acked_2}, found {last}"
        );
        wal.close().unwrap();
    }
}

/// A plain purge past the end covers what was written, not plain records
/// appended after it.
#[test]
fn a_plain_purge_past_the_end_does_not_cover_later_plain_records() {
    let storage = SimStorage::new(30);
    let wal = open(&storage);
    let big = vec![3u8; 3000];
    wal.stream(1).append(&big).unwrap();
    assert_eq!(wal.purge_below(Lsn::new(1_000_000)).unwrap(), 0);
    let plain = wal.append(b"needed later").unwrap();
    for _ in 0..40 {
        wal.stream(1).append(&big).unwrap();
    }
    wal.stream(1).purge_below(41).unwrap();
    let got = wal.read_from(plain).unwrap().next().unwrap().unwrap();
    assert_eq!(got.payload, b"needed later");
    wal.close().unwrap();
}

/// Old segments that are mostly live entries are not rewritten: the copies
/// would take as much room as they free.
#[test]
fn segments_mostly_live_are_not_rewritten() {
    let storage = SimStorage::new(31);
    let (wal, _) = Wal::open(DIR, &rewrite_options(&storage)).unwrap();
    let big = vec![4u8; 3000];
    for _ in 0..80 {
        // Stream 1 never purges and holds three fifths of the records of
        // every segment (stream 2's entry and purge are the rest).
        wal.append_streams(&[(1, &big[..]), (1, &big[..]), (1, &big[..]), (2, &big[..])])
            .unwrap();
        let last = wal.stream(2).last_index().unwrap();
        wal.stream(2).purge_below(last).unwrap();
    }
    assert_eq!(wal.stream(1).info().unwrap().copied, 0);
    assert_eq!(entries(&wal, 1).len(), 240);
    wal.close().unwrap();
}

/// A stream record that passes its checksums but contradicts the stream
/// (an append out of order: what a forger or a bug writes) fails the open,
/// naming it, and the open changes nothing on the disk (the clean-close
/// marker included).
#[test]
fn a_contradicting_stream_record_fails_the_open_without_changing_the_disk() {
    use groupwal::format::{RecordDecoder, SEGMENT_HEADER_LEN, SegmentHeader, encode_record};
    let storage = SimStorage::new(32);
    let wal = open(&storage);
    for i in 0..4u8 {
        wal.stream(9).append(&[i; 10]).unwrap();
    }
    wal.close().unwrap();
    let dir = Path::new(DIR);
    let segment = storage
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .find(|e| e.name.ends_with(".wal"))
        .unwrap();
    let path = dir.join(&segment.name);
    let bytes = storage.contents(&path).unwrap();
    let header = SegmentHeader::decode(&bytes).unwrap();
    let decoder = RecordDecoder::new(header.salt, 1 << 20);
    // The third stream append (index 3) becomes an append at index 7.
    let mut at = SEGMENT_HEADER_LEN;
    let mut seen = 0;
    loop {
        let record = decoder.decode(&bytes[at..]).unwrap();
        let len = record.encoded_len();
        if record
            .header
            .flags
            .contains(groupwal::format::Flags::STREAM)
        {
            seen += 1;
            if seen == 3 {
                let mut payload = record.payload.to_vec();
                payload[9..17].copy_from_slice(&7u64.to_le_bytes());
                let mut forged = Vec::new();
                encode_record(&mut forged, &record.header, &payload).unwrap();
                storage.damage(&path, at as u64, &forged).unwrap();
                break;
            }
        }
        at += len;
    }
    let snapshot = |s: &SimStorage| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = s
            .list_dir(dir)
            .unwrap()
            .into_iter()
            .map(|e| (e.name.clone(), s.contents(&dir.join(&e.name)).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&storage);
    assert!(
        before.iter().any(|(n, _)| n == "CLEAN"),
        "{:?}",
        before.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    // Refused in every mode: the record is intact, so even the skipping
    // mode (which takes the gaps skipped damage leaves) has no damage to
    // blame the contradiction on.
    for mode in [
        groupwal::RecoveryMode::TolerateCorruptedTailRecords,
        groupwal::RecoveryMode::SkipAnyCorruptedRecords,
    ] {
        let mut o = options(&storage);
        o.recovery_mode(mode);
        match Wal::open(DIR, &o) {
            Err(Error::StreamRecord { lsn, .. }) => assert_eq!(lsn, Lsn::new(3), "{mode:?}"),
            other => panic!("{mode:?}: opened as {:?}", other.map(|_| ())),
        }
        assert!(
            before == snapshot(&storage),
            "{mode:?}: the failed open changed the disk"
        );
    }
}

/// Async appends past the in-flight bound wait for room without holding
/// the index (and build their records again: indexes stay dense, in LSN
/// order).
#[test]
fn async_appends_past_the_in_flight_bound_stay_dense() {
    let storage = SimStorage::new(33);
    let mut o = options(&storage);
    o.max_in_flight_bytes(4096);
    let (wal, _) = Wal::open(DIR, &o).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let entry = vec![6u8; 3000];
    let indexes = rt.block_on(async {
        let appends = (0..40).map(|i| {
            let (wal, entry) = (&wal, &entry);
            async move {
                if i % 2 == 0 {
                    wal.stream(1).append_async(entry).await
                } else {
                    wal.append_streams_async(&[(1, &entry[..])])
                        .await
                        .map(|v| v[0])
                }
            }
        });
        futures_join_all(appends).await
    });
    let mut indexes: Vec<u64> = indexes.into_iter().map(Result::unwrap).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (1..=40).collect::<Vec<_>>());
    assert_eq!(entries(&wal, 1).len(), 40);
    wal.close().unwrap();
}

/// Polls every future to completion on the current task (no extra crate).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futures {
        out.push(Box::pin(f));
    }
    let mut results: Vec<Option<F::Output>> = out.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, r) in out.iter_mut().zip(results.iter_mut()) {
            if r.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *r = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}
