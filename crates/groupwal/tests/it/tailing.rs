//! Following a live log: blocking and async tails see every durable record
//! in order, across rotations, and end cleanly when the log closes.

use std::sync::Arc;

use groupwal::Lsn;
use groupwal::io::sim::SimStorage;

use crate::support::{open, payload};

#[test]
fn a_blocking_tail_follows_appends_across_rotations_until_close() {
    let storage = SimStorage::new(10);
    let wal = Arc::new(open(&storage));
    wal.append(b"before the tail").unwrap();
    let tail = wal.tail(Lsn::FIRST).unwrap();
    // A tail is an iterator that ends when the log closes.
    let follower = std::thread::spawn(move || {
        tail.map(|r| r.map(|r| (r.lsn.get(), r.payload)))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("tail failed: {e:?}"))
    });
    let mut expected = vec![(1, b"before the tail".to_vec())];
    for s in 0..200 {
        let p = payload(4, s);
        expected.push((wal.append(&p).unwrap().get(), p));
    }
    Arc::into_inner(wal).unwrap().close().unwrap();
    assert_eq!(follower.join().unwrap(), expected);
}

#[test]
fn an_async_tail_runs_its_reads_off_the_executor() {
    let storage = SimStorage::new(11);
    let wal = Arc::new(open(&storage));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut tail = wal.tail_async(Lsn::FIRST, 8).unwrap();
    let writer = {
        let wal = wal.clone();
        std::thread::spawn(move || {
            for s in 0..100 {
                wal.append(&payload(5, s)).unwrap();
            }
        })
    };
    let got = rt.block_on(async {
        let mut got = Vec::new();
        while got.len() < 100 {
            let r = tail.recv().await.expect("tail ended early").unwrap();
            got.push((r.lsn.get(), r.payload));
        }
        got
    });
    writer.join().unwrap();
    let expected: Vec<(u64, Vec<u8>)> = (0..100).map(|s| (s + 1, payload(5, s))).collect();
    assert_eq!(got, expected);
    Arc::into_inner(wal).unwrap().close().unwrap();
    // After close the reader thread delivers the end and stops.
    let end = rt.block_on(tail.recv());
    assert!(matches!(end, Some(Err(groupwal::Error::Closed))), "{end:?}");
    assert!(rt.block_on(tail.recv()).is_none());
}

#[test]
fn read_from_stops_at_the_durable_end() {
    let storage = SimStorage::new(12);
    let wal = open(&storage);
    for s in 0..10 {
        wal.append(&payload(6, s)).unwrap();
    }
    let mut records = wal.read_from(Lsn::new(5)).unwrap();
    assert_eq!(records.next().unwrap().unwrap().lsn, Lsn::new(5));
    assert_eq!(records.count(), 5);
    wal.close().unwrap();
}

/// With the `futures-core` feature an async tail is a `Stream` that ends
/// (rather than yielding the `Closed` error) once the log is closed and
/// every durable record was handed out, like the blocking tail's iterator.
#[cfg(feature = "futures-core")]
#[test]
fn an_async_tail_is_a_stream_that_ends_when_the_log_closes() {
    use std::pin::Pin;

    use futures_core::Stream;

    let storage = SimStorage::new(13);
    let wal = open(&storage);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut tail = wal.tail_async(Lsn::FIRST, 4).unwrap();
    let expected: Vec<(u64, Vec<u8>)> = (0..30)
        .map(|s| (wal.append(&payload(7, s)).unwrap().get(), payload(7, s)))
        .collect();
    wal.close().unwrap();
    let got = rt.block_on(async {
        let mut got = Vec::new();
        while let Some(r) = std::future::poll_fn(|cx| Pin::new(&mut tail).poll_next(cx)).await {
            let r = r.unwrap_or_else(|e| panic!("tail failed: {e:?}"));
            got.push((r.lsn.get(), r.payload));
        }
        got
    });
    assert_eq!(got, expected);
}
