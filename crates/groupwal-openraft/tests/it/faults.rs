//! A failed write or sync reaches the append's callback as an error (the
//! log is poisoned, as groupwal's always is), every later write fails,
//! and a restart gives back what was acknowledged.

use std::sync::mpsc;
use std::time::Duration;

use groupwal::io::sim::{Fault, SimStorage};
use openraft::Vote;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};

use crate::support::{all_entries, close, entry, runtime, sim_store};

const GUARD: Duration = Duration::from_secs(30);

fn failure_reaches_the_callback(fault: Fault) {
    let sim = SimStorage::new(10);
    let rt = runtime();
    {
        let (wal, mut store) = sim_store(&sim, &rt, 5);
        rt.block_on(store.save_vote(&Vote::new(1, 1))).unwrap();
        rt.block_on(store.blocking_append((0..10).map(|i| entry(1, i))))
            .unwrap();

        sim.inject(fault);
        let (tx, rx) = mpsc::channel();
        // The append itself succeeds: the failure comes with the write or
        // sync, on the log's thread, and reaches the callback.
        store
            .append_with((10..15).map(|i| entry(1, i)), move |r| tx.send(r).unwrap())
            .unwrap();
        let err = rx
            .recv_timeout(GUARD)
            .expect("the callback never ran")
            .unwrap_err();
        assert!(err.to_string().contains("poisoned"), "{fault:?}: {err}");

        // Everything after fails, through openraft's API too, and every
        // callback is still called.
        let (tx, rx) = mpsc::channel();
        assert!(
            store
                .append_with([entry(1, 15)], move |r| tx.send(r).unwrap())
                .is_err()
        );
        assert!(rx.try_recv().unwrap().is_err());
        assert!(rt.block_on(store.blocking_append([entry(1, 15)])).is_err());
        assert!(rt.block_on(store.save_vote(&Vote::new(2, 1))).is_err());
        drop(store);
        // The log is poisoned: closing it reports the failure.
        assert!(std::sync::Arc::into_inner(wal).unwrap().close().is_err());
    }
    // Power loss on top, then a restart: what was acknowledged is there,
    // and the log is usable again.
    sim.crash();
    let (wal, mut store) = sim_store(&sim, &rt, 5);
    assert_eq!(
        rt.block_on(store.read_vote()).unwrap(),
        Some(Vote::new(1, 1))
    );
    let entries = rt.block_on(all_entries(&mut store));
    assert!(entries.len() >= 10, "{fault:?}: {} entries", entries.len());
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(*e, entry(1, i as u64));
    }
    let next = entries.len() as u64;
    rt.block_on(store.blocking_append([entry(2, next)]))
        .unwrap();
    drop(store);
    close(wal);
}

#[test]
fn a_failed_sync_reaches_the_callback_as_an_error() {
    failure_reaches_the_callback(Fault::SyncEio);
}

#[test]
fn a_sync_that_loses_the_data_reaches_the_callback_as_an_error() {
    failure_reaches_the_callback(Fault::SyncEioForgets);
}

#[test]
fn a_failed_write_reaches_the_callback_as_an_error() {
    failure_reaches_the_callback(Fault::WriteEio);
}

#[test]
fn a_failed_sync_of_the_vote_is_an_error() {
    let sim = SimStorage::new(11);
    let rt = runtime();
    let (wal, mut store) = sim_store(&sim, &rt, 5);
    rt.block_on(store.save_vote(&Vote::new(1, 1))).unwrap();
    sim.inject(Fault::SyncEio);
    assert!(rt.block_on(store.save_vote(&Vote::new(2, 1))).is_err());
    // Not taken as the vote.
    assert_eq!(
        rt.block_on(store.read_vote()).unwrap(),
        Some(Vote::new(1, 1))
    );
    drop(store);
    drop(wal);
}
