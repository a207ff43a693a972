//! raft-engine 0.4 (TiKV's Raft log store): a multi-Raft log where each
//! Raft group ("region") has its own sequence of entries, all groups
//! sharing one append-only file queue. Writers go through a leader/follower
//! write barrier: the first writer to arrive leads, appends every queued
//! batch with one write each and issues one `fdatasync` for the group; an
//! in-memory index per region (the memtable) is updated after the write.
//!
//! Configured with `Config::default()` (128 MiB files, log recycling, LZ4
//! compression of batches over 8 KiB), as TiKV ships it. Each writer thread
//! is its own region (as each Raft group is in TiKV), appending entries
//! with consecutive indexes: per record one `LogBatch` with one entry
//! (`add_entries`) and `Engine::write(&mut batch, sync = true)`, which
//! returns once the group's sync is done. Entries are protobuf messages;
//! ours is `BytesValue` holding the entry index (8 bytes) and the payload.
//!
//! Buffered workload: `write(&mut batch, false)` per record, one
//! `Engine::sync` at the end. Recovery: `Engine::open` (replays the files
//! into the memtables, on `recovery_threads` = 4 threads), then
//! `fetch_entries_to` for every entry of the region, which reads each
//! entry back from its file.

use std::cell::Cell;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use protobuf::well_known_types::BytesValue;
use raft_engine::{Config, Engine, LogBatch, MessageExt};

use crate::harness::{DurableLog, RecordSource, Verifier};

/// The log directory inside the run's directory.
pub const DIR_NAME: &str = "raft-engine";

/// Entries per `fetch_entries_to` call when reading back.
const FETCH: u64 = 4096;

/// Our entry type: the index in the first 8 bytes, then the payload.
#[derive(Debug, Clone, Copy)]
pub struct Entries;

impl MessageExt for Entries {
    type Entry = BytesValue;

    fn index(e: &BytesValue) -> u64 {
        e.get_value()
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }
}

/// The entry raft-engine stores for `payload` at `index`: the index, then
/// the payload (what recovery checks the order by).
pub(crate) fn entry(index: u64, payload: &[u8]) -> BytesValue {
    let mut value = Vec::with_capacity(8 + payload.len());
    value.extend_from_slice(&index.to_le_bytes());
    value.extend_from_slice(payload);
    let mut e = BytesValue::new();
    e.set_value(value);
    e
}

/// Engines opened in this process, so a thread's region is per engine.
static ENGINE_IDS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// (engine id, region, next entry index) of this thread.
    static REGION: Cell<(u64, u64, u64)> = const { Cell::new((0, 0, 0)) };
}

/// raft-engine as a [`DurableLog`].
pub struct RaftLog {
    engine: Engine,
    id: u64,
    regions: AtomicU64,
}

impl std::fmt::Debug for RaftLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftLog").field("id", &self.id).finish()
    }
}

fn to_io(e: raft_engine::Error) -> io::Error {
    io::Error::other(e.to_string())
}

fn config(dir: &Path) -> Config {
    Config {
        dir: dir.join(DIR_NAME).display().to_string(),
        ..Config::default()
    }
}

impl RaftLog {
    /// Opens (creates) an engine in `dir/raft-engine`.
    ///
    /// # Errors
    ///
    /// raft-engine's error.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            engine: Engine::open(config(dir)).map_err(to_io)?,
            id: ENGINE_IDS.fetch_add(1, Ordering::Relaxed),
            regions: AtomicU64::new(1),
        })
    }

    /// This thread's region and the index its next entry takes.
    fn next_entry(&self) -> (u64, u64) {
        REGION.with(|cell| {
            let (engine, region, next) = cell.get();
            let (region, next) = if engine == self.id {
                (region, next)
            } else {
                (self.regions.fetch_add(1, Ordering::Relaxed), 1)
            };
            cell.set((self.id, region, next + 1));
            (region, next)
        })
    }

    fn write(&self, payload: &[u8], sync: bool) -> io::Result<u64> {
        let (region, index) = self.next_entry();
        let mut batch = LogBatch::with_capacity(1);
        batch
            .add_entries::<Entries>(region, &[entry(index, payload)])
            .map_err(to_io)?;
        self.engine.write(&mut batch, sync).map_err(to_io)?;
        Ok(index)
    }
}

impl DurableLog for RaftLog {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        self.write(payload, true)
    }

    fn write_buffered(&self, source: &mut RecordSource) -> io::Result<()> {
        while let Some(payload) = source.next_record() {
            self.write(payload, false)?;
        }
        self.engine.sync().map_err(to_io)
    }
}

/// Reopens `dir/raft-engine` and reads every entry of every region back,
/// region by region, in index order.
///
/// # Errors
///
/// raft-engine's errors.
pub fn recover(dir: &Path, verifier: &mut Verifier) -> io::Result<()> {
    let engine = Engine::open(config(dir)).map_err(to_io)?;
    let mut regions = engine.raft_groups();
    regions.sort_unstable();
    let mut buf = Vec::new();
    for region in regions {
        let (Some(first), Some(last)) = (engine.first_index(region), engine.last_index(region))
        else {
            continue;
        };
        let mut begin = first;
        while begin <= last {
            let end = (begin + FETCH).min(last + 1);
            buf.clear();
            engine
                .fetch_entries_to::<Entries>(region, begin, end, None, &mut buf)
                .map_err(to_io)?;
            for e in &buf {
                verifier.visit(e.get_value().get(8..).unwrap_or_default());
            }
            begin = end;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn threads_get_regions_and_recovery_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(RaftLog::open(dir.path()).unwrap());
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    (0..5)
                        .map(|_| log.append(b"x").unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), [1, 2, 3, 4, 5]);
        }
        drop(log);

        let dir = tempfile::tempdir().unwrap();
        let log = Box::new(RaftLog::open(dir.path()).unwrap());
        let mut source = RecordSource::new(300, 32);
        log.write_buffered(&mut source).unwrap();
        log.close().unwrap();
        let mut v = Verifier::new(32);
        recover(dir.path(), &mut v).unwrap();
        assert_eq!(v.finish(300), Ok(()));
    }
}
