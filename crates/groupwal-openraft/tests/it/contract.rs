//! The append contract on the simulated disk, whose syncs a test can hold:
//! `append` returns before the sync and the entries are readable at once;
//! the callback runs only once the sync returned; `save_vote` is durable
//! when it returns, and so is every append issued before it.

use std::sync::mpsc::{self, TryRecvError};
use std::time::Duration;

use groupwal::io::sim::SimStorage;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{RaftLogReader, Vote};

use crate::support::{all_entries, close, entry, log_id, open_store, runtime, sim_store};

/// How long a test waits for something that comes within microseconds
/// before it reports that it never came: a guard against a hang, not a
/// timing assumption.
const GUARD: Duration = Duration::from_secs(30);

#[test]
fn append_returns_before_the_sync_and_calls_back_after_it() {
    let sim = SimStorage::new(1);
    let rt = runtime();
    let (wal, mut store) = sim_store(&sim, &rt, 3);
    let mut reader = store.reader();

    let hold = sim.hold_syncs();
    let (tx, rx) = mpsc::channel();
    store
        .append_with((0..5).map(|i| entry(1, i)), move |r| tx.send(r).unwrap())
        .unwrap();
    hold.wait_parked();
    // The sync is parked: the callback has not run...
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    // ... and the entries are readable all the same, without waiting for it
    // (a read that waited would never return while the sync is held).
    let (read_tx, read_rx) = mpsc::channel();
    let handle = rt.spawn(async move {
        let got = reader.try_get_log_entries(0..5).await.unwrap();
        read_tx.send(got).unwrap();
    });
    let got = read_rx
        .recv_timeout(GUARD)
        .expect("a read waited for the sync");
    assert_eq!(got, (0..5).map(|i| entry(1, i)).collect::<Vec<_>>());
    rt.block_on(handle).unwrap();
    let state = rt.block_on(store.get_log_state()).unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 4)));
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);

    drop(hold);
    rx.recv_timeout(GUARD)
        .expect("the callback never ran")
        .unwrap();
    assert!(rx.try_recv().is_err(), "called once");
    drop(store);
    close(wal);
}

#[test]
fn openraft_append_completes_only_after_the_sync() {
    let sim = SimStorage::new(2);
    let rt = runtime();
    let (wal, mut store) = sim_store(&sim, &rt, 3);
    let hold = sim.hold_syncs();
    let (tx, rx) = mpsc::channel();
    // openraft's own helper: `append` with a `LogFlushed` callback, then
    // waits for the callback.
    let task = rt.spawn(async move {
        let r = store.blocking_append([entry(1, 0), entry(1, 1)]).await;
        tx.send(r).unwrap();
        store
    });
    hold.wait_parked();
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    drop(hold);
    rx.recv_timeout(GUARD).expect("never called back").unwrap();
    let mut store = rt.block_on(task).unwrap();
    assert_eq!(rt.block_on(all_entries(&mut store)).len(), 2);
    drop(store);
    close(wal);
}

#[test]
fn a_vote_is_durable_when_saved_and_so_are_the_appends_before_it() {
    let sim = SimStorage::new(3);
    let rt = runtime();
    {
        let (wal, mut store) = sim_store(&sim, &rt, 3);
        rt.block_on(store.blocking_append((0..3).map(|i| entry(1, i))))
            .unwrap();
        // Appended and not waited for, then the vote: the vote's sync
        // covers them.
        store
            .append_with((3..6).map(|i| entry(2, i)), |_| ())
            .unwrap();
        rt.block_on(store.save_vote(&Vote::new(2, 1))).unwrap();
        // The power goes before anything else is synced.
        sim.crash();
        drop(store);
        drop(wal);
    }
    let (wal, mut store) = sim_store(&sim, &rt, 3);
    assert_eq!(
        rt.block_on(store.read_vote()).unwrap(),
        Some(Vote::new(2, 1))
    );
    let entries = rt.block_on(all_entries(&mut store));
    let want: Vec<_> = (0..3)
        .map(|i| entry(1, i))
        .chain((3..6).map(|i| entry(2, i)))
        .collect();
    assert_eq!(entries, want);
    drop(store);
    close(wal);
}

#[test]
fn an_acknowledged_append_survives_a_power_loss() {
    let sim = SimStorage::new(4);
    let rt = runtime();
    {
        let (wal, mut store) = sim_store(&sim, &rt, 3);
        for i in 0..20 {
            let (tx, rx) = mpsc::channel();
            store
                .append_with([entry(1, i)], move |r| tx.send(r).unwrap())
                .unwrap();
            rx.recv_timeout(GUARD).unwrap().unwrap();
        }
        sim.crash();
        drop(store);
        drop(wal);
    }
    let (wal, mut store) = sim_store(&sim, &rt, 3);
    assert_eq!(
        rt.block_on(all_entries(&mut store)),
        (0..20).map(|i| entry(1, i)).collect::<Vec<_>>()
    );
    drop(store);
    close(wal);
}

#[test]
fn appends_out_of_sequence_are_refused_and_still_called_back() {
    let dir = tempfile::tempdir().unwrap();
    let wal = crate::support::open_wal(dir.path(), &crate::support::options());
    let rt = runtime();
    let mut store = open_store(&rt, &wal, 3);
    rt.block_on(store.blocking_append((0..3).map(|i| entry(1, i))))
        .unwrap();
    for bad in [
        vec![entry(1, 4)],              // a hole
        vec![entry(1, 2)],              // an overwrite without a truncation
        vec![entry(1, 3), entry(1, 5)], // not consecutive
    ] {
        let (tx, rx) = mpsc::channel();
        let e = store
            .append_with(bad, move |r| tx.send(r).unwrap())
            .unwrap_err();
        assert!(
            matches!(e, groupwal_openraft::Error::NotConsecutive { .. }),
            "{e:?}"
        );
        assert!(
            rx.try_recv().unwrap().is_err(),
            "called back with the error"
        );
    }
    assert_eq!(rt.block_on(all_entries(&mut store)).len(), 3);
    drop(store);
    close(wal);
}
