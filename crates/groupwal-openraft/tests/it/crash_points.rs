//! The process dies at every storage call of an operation in turn (a
//! vote, an append, a truncation, a purge), then restarts, with the page
//! cache kept (a process kill) or lost (a power loss): the group comes
//! back exactly as before the operation or exactly as after it, and as
//! after it whenever the operation had returned. Deterministic: every
//! crash point of each operation, on the simulated disk.

use std::sync::Arc;

use groupwal::io::sim::{HaltingStorage, SimStorage};
use groupwal_openraft::LogStore;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{Entry, LogId, Vote};

use crate::sm::TypeConfig;
use crate::support::{
    SIM_DIR, all_entries, entry, log_id, open_store, open_wal, runtime, sim_options,
};

/// What the store gives back.
#[derive(Debug, PartialEq)]
struct Seen {
    vote: Option<Vote<u64>>,
    purged: Option<LogId<u64>>,
    last: Option<LogId<u64>>,
    entries: Vec<Entry<TypeConfig>>,
}

async fn seen(store: &mut LogStore<TypeConfig>) -> Seen {
    let state = store.get_log_state().await.unwrap();
    Seen {
        vote: store.read_vote().await.unwrap(),
        purged: state.last_purged_log_id,
        last: state.last_log_id,
        entries: all_entries(store).await,
    }
}

/// The state every case starts from: entries 0..30 of term 1, the first
/// four purged, a vote.
async fn setup(store: &mut LogStore<TypeConfig>) {
    store.save_vote(&Vote::new(1, 1)).await.unwrap();
    for i in (0..30).step_by(5) {
        store
            .blocking_append((i..i + 5).map(|i| entry(1, i)))
            .await
            .unwrap();
    }
    store.purge(log_id(1, 3)).await.unwrap();
}

type Op = fn(
    &mut LogStore<TypeConfig>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>>;

const GROUP: u64 = 6;

fn explore(name: &str, op: Op) {
    let rt = runtime();
    // The states before and after, with no crash.
    let (before, after) = {
        let sim = SimStorage::new(0);
        let wal = open_wal(SIM_DIR.as_ref(), &sim_options(&sim));
        let mut store = open_store(&rt, &wal, GROUP);
        rt.block_on(setup(&mut store));
        let before = rt.block_on(seen(&mut store));
        assert!(rt.block_on(op(&mut store)), "{name}: fails without a crash");
        let after = rt.block_on(seen(&mut store));
        assert_ne!(before, after, "{name}: changes nothing");
        (before, after)
    };
    let mut points = 0;
    for power_loss in [false, true] {
        for k in 0.. {
            let sim = SimStorage::new(k);
            let halting = HaltingStorage::new(Arc::new(sim.clone()));
            let mut o = sim_options(&sim);
            o.storage(Arc::new(halting.clone()));
            let wal = open_wal(SIM_DIR.as_ref(), &o);
            let mut store = open_store(&rt, &wal, GROUP);
            rt.block_on(setup(&mut store));
            let at = halting.calls_made() + k;
            halting.halt_at(at);
            let done = rt.block_on(op(&mut store));
            let reached = halting.calls_made() > at;
            drop(store);
            drop(wal);
            if power_loss {
                sim.crash();
            } else {
                sim.crash_process();
            }
            let wal = open_wal(SIM_DIR.as_ref(), &sim_options(&sim));
            let mut store = rt
                .block_on(LogStore::open_async(wal.clone(), GROUP))
                .unwrap_or_else(|e| panic!("{name}, call {k}, power loss {power_loss}: {e}"));
            let got = rt.block_on(seen(&mut store));
            let what = format!("{name}, halted at call {k} of it, power loss: {power_loss}");
            if done {
                assert_eq!(got, after, "{what}: it returned, and its effect is lost");
            } else {
                assert!(
                    got == before || got == after,
                    "{what}: neither before nor after:\n{got:?}\nbefore {before:?}\nafter {after:?}"
                );
            }
            // The store works after the restart.
            let next = got.last.map_or(0, |l| l.index + 1);
            rt.block_on(store.blocking_append([entry(7, next)]))
                .unwrap();
            drop(store);
            Arc::into_inner(wal).unwrap().close().unwrap();
            points += 1;
            if !reached {
                // The operation made fewer calls than that: all explored.
                break;
            }
        }
    }
    eprintln!("{name}: {points} crash points");
}

#[test]
fn a_vote_is_there_whole_or_not_at_all() {
    explore("save_vote", |s| {
        Box::pin(async move { s.save_vote(&Vote::new(2, 1)).await.is_ok() })
    });
}

#[test]
fn an_append_is_there_whole_or_not_at_all() {
    explore("append", |s| {
        Box::pin(async move {
            s.blocking_append((30..36).map(|i| entry(1, i)))
                .await
                .is_ok()
        })
    });
}

#[test]
fn a_truncation_is_there_whole_or_not_at_all() {
    explore("truncate", |s| {
        Box::pin(async move { s.truncate(log_id(1, 20)).await.is_ok() })
    });
    explore("truncate everything", |s| {
        Box::pin(async move { s.truncate(log_id(1, 4)).await.is_ok() })
    });
}

#[test]
fn a_purge_is_there_whole_or_not_at_all() {
    explore("purge", |s| {
        Box::pin(async move { s.purge(log_id(1, 12)).await.is_ok() })
    });
    explore("purge everything and beyond", |s| {
        Box::pin(async move { s.purge(log_id(2, 40)).await.is_ok() })
    });
}
