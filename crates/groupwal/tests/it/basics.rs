//! Append, batch, checkpoint, reopen, read, truncate: the everyday API.

use std::sync::Arc;

use groupwal::io::sim::SimStorage;
use groupwal::{Error, LogicalKind, Lsn, TailKind, Wal};

use crate::support::{DIR, open, options, payload, read_all};

#[test]
fn what_was_appended_comes_back_after_reopen() {
    let storage = SimStorage::new(1);
    let wal = open(&storage);
    let mut expected = Vec::new();
    for s in 0..50 {
        let p = payload(0, s);
        expected.push((wal.append(&p).unwrap().get(), p));
    }
    let batch: Vec<Vec<u8>> = (100..105).map(|s| payload(1, s)).collect();
    let (first, last) = wal.append_batch(&batch).unwrap();
    assert_eq!((first.get(), last.get()), (51, 55));
    for (i, p) in batch.into_iter().enumerate() {
        expected.push((51 + i as u64, p));
    }
    let cp = wal.checkpoint(b"snapshot at 55").unwrap();
    assert_eq!(cp, Lsn::new(56));
    assert_eq!(wal.durable_lsn(), cp);
    assert_eq!(read_all(&wal)[..55], expected[..]);
    wal.close().unwrap();

    let (wal, report) = Wal::open(DIR, &options(&storage)).unwrap();
    assert_eq!(report.last_lsn, Lsn::new(56));
    assert_eq!(report.next_lsn, Lsn::new(57));
    assert!(report.corrupt.is_empty());
    assert!(report.segments > 1, "expected rotations: {report:?}");
    let records: Vec<_> = wal
        .read_from(Lsn::FIRST)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records.len(), 56);
    assert_eq!(records[55].kind, LogicalKind::Checkpoint);
    assert_eq!(records[55].payload, b"snapshot at 55");
    let got: Vec<(u64, Vec<u8>)> = records[..55]
        .iter()
        .map(|r| (r.lsn.get(), r.payload.clone()))
        .collect();
    assert_eq!(got, expected);
    // Reading from the middle starts exactly there.
    let from_30: Vec<u64> = wal
        .read_from(Lsn::new(30))
        .unwrap()
        .map(|r| r.unwrap().lsn.get())
        .collect();
    assert_eq!(from_30, (30..=56).collect::<Vec<_>>());
    assert_eq!(wal.append(b"after reopen").unwrap(), Lsn::new(57));
    wal.close().unwrap();
}

#[test]
fn many_threads_get_dense_lsns_and_every_record_is_kept() {
    let storage = SimStorage::new(2);
    let wal = Arc::new(open(&storage));
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..40)
                    .map(|s| (wal.append(&payload(w, s)).unwrap().get(), payload(w, s)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut expected: Vec<(u64, Vec<u8>)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    expected.sort();
    assert_eq!(
        expected.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=320).collect::<Vec<_>>()
    );
    assert_eq!(read_all(&wal), expected);
    let stats = wal.stats();
    assert_eq!(stats.appends, 320);
    assert!(stats.groups <= 320);
    Arc::into_inner(wal).unwrap().close().unwrap();
}

#[test]
fn async_appends_from_tasks_on_a_multi_threaded_runtime() {
    let storage = SimStorage::new(3);
    let wal = Arc::new(open(&storage));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let lsns = rt.block_on(async {
        let tasks: Vec<_> = (0..64u64)
            .map(|t| {
                let wal = wal.clone();
                tokio::spawn(async move { wal.append_async(&payload(t, 0)).await.unwrap() })
            })
            .collect();
        let mut lsns = Vec::new();
        for t in tasks {
            lsns.push(t.await.unwrap().get());
        }
        let (a, b) = wal.append_batch_async(&[b"x", b"y"]).await.unwrap();
        lsns.extend([a.get(), b.get()]);
        lsns
    });
    let mut sorted = lsns.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=66).collect::<Vec<_>>());
    assert_eq!(wal.durable_lsn(), Lsn::new(66));
    Arc::into_inner(wal).unwrap().close().unwrap();
}

#[test]
fn truncation_at_both_ends() {
    let storage = SimStorage::new(4);
    let wal = open(&storage);
    for s in 0..120 {
        wal.append(&payload(2, s)).unwrap();
    }
    assert_eq!(wal.first_lsn(), Lsn::FIRST);
    let removed = wal.purge_below(Lsn::new(100)).unwrap();
    assert!(removed > 0);
    assert!(matches!(
        wal.read_from(Lsn::FIRST),
        Err(groupwal::Error::Purged { .. })
    ));
    // The replay of everything still there starts at the first LSN.
    let first = wal.first_lsn();
    assert!(first > Lsn::FIRST && first <= Lsn::new(100), "{first}");
    let all = wal.read_from(first).unwrap().count() as u64;
    assert_eq!(all, Lsn::new(121).since(first));
    assert_eq!(wal.truncate_from(Lsn::new(111)).unwrap(), Lsn::new(111));
    assert_eq!(wal.append(b"new 111").unwrap(), Lsn::new(111));
    let tail: Vec<(u64, Vec<u8>)> = wal
        .read_from(Lsn::new(100))
        .unwrap()
        .map(|r| r.map(|r| (r.lsn.get(), r.payload)).unwrap())
        .collect();
    assert_eq!(tail.len(), 12);
    assert_eq!(tail[10], (110, payload(2, 109)));
    assert_eq!(tail[11], (111, b"new 111".to_vec()));
    wal.close().unwrap();
    let (wal, report) = Wal::open(DIR, &options(&storage)).unwrap();
    assert_eq!(report.last_lsn, Lsn::new(111));
    assert!(report.first_lsn > Lsn::FIRST && report.first_lsn <= Lsn::new(100));
    wal.close().unwrap();
}

#[test]
fn corruption_before_the_tail_refuses_to_open_and_names_the_place() {
    let storage = SimStorage::new(5);
    let wal = open(&storage);
    for s in 0..60 {
        wal.append(&payload(3, s)).unwrap();
    }
    wal.close().unwrap();
    // Damage the first segment's second record (a record, not the header).
    let first = std::path::Path::new(DIR).join(groupwal::format::segment_file_name(Lsn::FIRST));
    let bytes = storage.contents(&first).unwrap();
    let at = groupwal::format::SEGMENT_HEADER_LEN as u64 + 200;
    storage.damage(&first, at, &[!bytes[at as usize]]).unwrap();

    let e = Wal::open(DIR, &options(&storage)).unwrap_err();
    match &e {
        groupwal::Error::Corruption { segment, .. } => {
            assert_eq!(segment, &first, "{e}");
            assert_eq!(e.corrupt_range().map(|r| &r.segment), Some(&first));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // Nothing was cut: a salvage mode still finds the later records.
    let mut o = options(&storage);
    o.recovery_mode(groupwal::RecoveryMode::SkipAnyCorruptedRecords);
    let (wal, report) = Wal::open(DIR, &o).unwrap();
    assert_eq!(report.last_lsn, Lsn::new(60));
    assert_eq!(report.corrupt.len(), 1);
    assert!(
        matches!(report.tail, TailKind::Clean | TailKind::ZeroFilled),
        "{report:?}"
    );
    wal.close().unwrap();
}

#[test]
fn unsynced_appends_are_read_back_only_once_synced() {
    let storage = SimStorage::new(9);
    let wal = open(&storage);
    let mut expected = Vec::new();
    for s in 0..40 {
        let p = payload(2, s);
        expected.push((wal.append_unsynced(&p).unwrap().get(), p));
    }
    assert_eq!(expected.last().map(|e| e.0), Some(40));
    // Not durable, so not readable yet.
    assert_eq!(wal.durable_lsn(), Lsn::ZERO);
    assert!(read_all(&wal).is_empty());
    assert_eq!(wal.sync().unwrap(), Lsn::new(40));
    assert_eq!(read_all(&wal), expected);
    drop(wal);
    storage.crash();
    let (wal, report) = Wal::open(DIR, &options(&storage)).unwrap();
    assert_eq!(report.last_lsn, Lsn::new(40));
    assert_eq!(read_all(&wal), expected);
    wal.close().unwrap();
}

#[test]
fn a_cloned_log_is_closed_for_every_clone_by_one_close() {
    let storage = SimStorage::new(11);
    let wal = open(&storage);
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for s in 0..20 {
                    wal.append(&payload(w, s)).unwrap();
                }
                wal // each thread hands its clone back, still open
            })
        })
        .collect();
    let clones: Vec<Wal> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(wal.last_lsn(), Lsn::new(80));
    clones[0].close().unwrap();
    // Closed for the original and every other clone.
    for w in clones.iter().chain([&wal]) {
        let late = w.append(b"too late");
        assert!(matches!(late, Err(Error::Closed)), "{late:?}");
    }
    // Closing again, on any clone, is fine.
    wal.close().unwrap();
    clones[1].close().unwrap();
    // The directory is released: the log opens again, clones still alive.
    let (again, report) = Wal::open(DIR, &options(&storage)).unwrap();
    assert_eq!(report.last_lsn, Lsn::new(80));
    assert_eq!(read_all(&again).len(), 80);
    again.close().unwrap();
    drop((wal, clones));
}

#[test]
fn first_last_durable_and_next_lsn_of_a_running_log() {
    let storage = SimStorage::new(12);
    let wal = open(&storage);
    // A new log: no record, the range is empty.
    assert_eq!(
        (
            wal.first_lsn(),
            wal.last_lsn(),
            wal.durable_lsn(),
            wal.next_lsn()
        ),
        (Lsn::new(1), Lsn::ZERO, Lsn::ZERO, Lsn::new(1))
    );
    wal.append(b"one").unwrap();
    for s in 0..5 {
        wal.append_unsynced(&payload(3, s)).unwrap();
    }
    // Appended is not durable: last runs ahead of durable until a sync.
    assert_eq!(
        (wal.last_lsn(), wal.durable_lsn()),
        (Lsn::new(6), Lsn::new(1))
    );
    assert_eq!(wal.next_lsn(), Lsn::new(7));
    wal.sync().unwrap();
    assert_eq!(
        (wal.last_lsn(), wal.durable_lsn()),
        (Lsn::new(6), Lsn::new(6))
    );
    // A suffix truncation takes last back with it.
    wal.truncate_from(Lsn::new(4)).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::new(3));
    wal.close().unwrap();
    let (wal, report) = Wal::open(DIR, &options(&storage)).unwrap();
    assert_eq!(report.last_lsn, Lsn::new(3));
    assert_eq!(
        (wal.last_lsn(), wal.durable_lsn()),
        (Lsn::new(3), Lsn::new(3))
    );
    assert_eq!(wal.first_lsn(), Lsn::new(1));
    wal.close().unwrap();
}
