//! Opening logs and stores for the tests.

use std::path::Path;
use std::sync::Arc;

use groupwal::{Wal, WalOptions};
use groupwal_openraft::LogStore;
use openraft::storage::RaftLogStorageExt;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};

use crate::sm::{Request, TypeConfig};

/// Small segments: tests open many logs (no 64 MiB preallocation each),
/// and segments rotate and are removed by purges.
pub fn options() -> WalOptions {
    let mut o = WalOptions::new();
    o.segment_size(256 * 1024);
    o
}

pub fn open_wal(dir: &Path, o: &WalOptions) -> Arc<Wal> {
    Arc::new(Wal::open(dir, o).unwrap().0)
}

/// Closes the log once the stores on it are dropped.
pub fn close(wal: Arc<Wal>) {
    Arc::into_inner(wal)
        .expect("the stores on the log are dropped")
        .close()
        .unwrap();
}

pub fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// A write entry whose value names its log id.
pub fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request {
            key: format!("k{}", index % 7),
            value: format!("t{term}i{index}"),
        }),
    }
}

/// Appends `entries` and waits for the callback (openraft's own helper).
pub async fn append(store: &mut LogStore<TypeConfig>, entries: Vec<Entry<TypeConfig>>) {
    store.blocking_append(entries).await.unwrap();
}

/// The directory of the logs on the simulated disk.
pub const SIM_DIR: &str = "/raft/wal";

/// Options for a log on the simulated disk: spares prepared inline, so
/// the only file syncs are the log's own (a held sync is an append's).
pub fn sim_options(sim: &groupwal::io::sim::SimStorage) -> WalOptions {
    let mut o = options();
    o.storage(Arc::new(sim.clone()))
        .segment_size(32 * 1024)
        .prepare_in_background(false);
    o
}

pub fn open_sim(sim: &groupwal::io::sim::SimStorage) -> Arc<Wal> {
    open_wal(Path::new(SIM_DIR), &sim_options(sim))
}

/// A runtime for a test's async calls (a blocking pool, timers and
/// sockets included).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The store of `group` on `wal`.
pub fn open_store(
    rt: &tokio::runtime::Runtime,
    wal: &Arc<Wal>,
    group: u64,
) -> LogStore<TypeConfig> {
    rt.block_on(LogStore::open_async(wal.clone(), group))
        .unwrap()
}

/// The log on the simulated disk, and the store of `group` on it.
pub fn sim_store(
    sim: &groupwal::io::sim::SimStorage,
    rt: &tokio::runtime::Runtime,
    group: u64,
) -> (Arc<Wal>, LogStore<TypeConfig>) {
    let wal = open_sim(sim);
    let store = open_store(rt, &wal, group);
    (wal, store)
}

/// Every entry the store holds, through openraft's reader.
pub async fn all_entries(store: &mut LogStore<TypeConfig>) -> Vec<Entry<TypeConfig>> {
    use openraft::RaftLogReader;
    store.try_get_log_entries(..).await.unwrap()
}
