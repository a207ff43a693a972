//! raft-log 0.4 (Databend's meta-service Raft log, also the log store of
//! openraft's WAL example): one append-only log of Raft entries in chunk
//! files, an in-memory index of every entry and a payload cache, and a
//! background flush worker that batches the flush requests of every caller
//! into one write and one sync.
//!
//! # How a write becomes durable (raft-log 0.4.6 over chunked-wal 0.2.3)
//!
//! raft-log 0.4.6 itself never syncs: the chunk files, the flush worker
//! and the syncs live in the `chunked-wal` crate it depends on (0.2.3 in
//! our `Cargo.lock`). The path, file by file:
//!
//! 1. raft-log `src/raft_log/raft_log.rs`, `RaftLog::append` (the
//!    `RaftLogWriter` trait) encodes each entry (with a CRC32) into the
//!    open chunk's in-memory buffer; nothing reaches a file.
//! 2. raft-log `src/raft_log/raft_log.rs`, `RaftLog::flush(sync, callback)`
//!    calls chunked-wal `src/wal/chunked_wal.rs`,
//!    `ChunkedWal::send_pending`, which hands the buffered bytes, the
//!    `sync` flag and the callback to the flush worker thread as one
//!    `WriteRequest` (a bounded channel).
//! 3. chunked-wal `src/wal/flush_worker.rs`, `FlushWorker::run_inner`
//!    takes the first request and `collect_write_batch` gathers more for
//!    up to `flush_batch_wait` (1 ms) or `flush_batch_max_items` (2048)
//!    requests; it writes the batch with one vectored write
//!    (`write_batch_vectored`), then, if any request in it asked for a
//!    sync, calls `FlushWorker::sync_data_files`, which calls
//!    `File::sync_data()` (`fdatasync` on Linux) on every chunk file
//!    written since the last sync (a chunk rotated out, then the current
//!    one); only then does it send every callback of the batch `Ok(())`
//!    (or the write/sync error).
//!
//! A new chunk file's name is made durable by chunked-wal
//! `src/chunk/open_chunk.rs`, `OpenChunk::create_file`, through
//! `src/config.rs`, `Config::sync_dir` (`File::sync_all` of the
//! directory), before any of its records can be acknowledged.
//!
//! # Configuration
//!
//! As the README and `examples/basic_usage.rs` show: `Config::new(dir)`,
//! all defaults (1 GiB / 1,048,576-record chunks; the flush worker's 1 ms
//! batch window, 2048 requests per batch, 64 MiB of queued writes; a
//! payload cache of 100,000 entries / 1 GiB, whose entries in the open
//! chunk cannot be evicted), and `Types::Callback =
//! SyncSender<io::Result<()>>`. Entries have log id `(term 1, index)`,
//! indexes from 1, and the payload as `Vec<u8>`.
//!
//! Durable append: raft-log's writer API takes `&mut self`, so the
//! `RaftLog` sits in a `Mutex`; each append locks it, `append`s one entry
//! (the next index), calls `flush(true, Some(sender))` and unlocks, then
//! waits on the channel for the flush worker's callback, which comes only
//! after the `sync_data` covering the entry. The lock covers only the
//! in-memory encode and the hand-off; concurrent writers' requests queue
//! at the flush worker, which batches them into one write and one
//! `sync_data` as its docs describe: no group commit of ours on top.
//! Every batch waits out the 1 ms window (unless 2048 requests arrive
//! first), so a lone writer pays ~1 ms + one `fdatasync` per append.
//! Group statistics: records are the appends acknowledged, syncs the
//! worker's batches that synced (`FlushMetrics::sync_batch_count`).
//!
//! Buffered workload: per record `append` + `flush(false, None)` (written
//! to the OS by the worker, not synced; the docs' choice for a record whose
//! durability the next sync flush provides), then one
//! `flush(true, Some(sender))`, waited for. Recovery: `RaftLog::open`
//! (replays every chunk into the index and the payload cache), then
//! `RaftLog::read` over every index, which serves a payload from the cache
//! or reads its record back from the chunk file (`pread`, CRC checked).

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::{Config, RaftLog, Types};

use crate::harness::{DurableLog, GroupStats, RecordSource, Verifier};

/// The log directory inside the run's directory.
pub const DIR_NAME: &str = "raft-log";

/// The term of every entry (one leader, one term).
const TERM: u64 = 1;

/// Our types for raft-log: log id `(term, index)`, raw payloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bench;

impl Types for Bench {
    type LogId = (u64, u64);
    type LogPayload = Vec<u8>;
    type Vote = (u64, u64);
    type UserData = ();
    type Callback = SyncSender<io::Result<()>>;

    fn log_index(log_id: &Self::LogId) -> u64 {
        log_id.1
    }

    fn payload_size(payload: &Self::LogPayload) -> u64 {
        payload.len() as u64
    }
}

/// raft-log as a [`DurableLog`].
pub struct RaftLogStore {
    log: Mutex<RaftLog<Bench>>,
    /// Appends acknowledged durable.
    durable: AtomicU64,
}

impl std::fmt::Debug for RaftLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftLogStore")
            .field("durable", &self.durable.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn open_log(dir: &Path) -> io::Result<RaftLog<Bench>> {
    let path = dir.join(DIR_NAME);
    std::fs::create_dir_all(&path)?;
    let config = Config::new(path.display());
    RaftLog::open(Arc::new(config))
}

/// Hands everything appended so far to the flush worker with a sync, and
/// returns the receiver of its callback.
fn flush_synced(log: &mut RaftLog<Bench>) -> io::Result<std::sync::mpsc::Receiver<io::Result<()>>> {
    let (tx, rx) = sync_channel(1);
    log.flush(true, Some(tx))?;
    Ok(rx)
}

/// Waits for the flush worker's callback: `Ok` once the sync is done.
fn wait(rx: &std::sync::mpsc::Receiver<io::Result<()>>) -> io::Result<()> {
    rx.recv()
        .map_err(|_| io::Error::other("raft-log: flush worker dropped the callback"))?
}

/// Appends one entry with the next index; returns the index.
fn append_next(log: &mut RaftLog<Bench>, payload: Vec<u8>) -> io::Result<u64> {
    let index = log.log_state().last().map_or(1, |id| id.1 + 1);
    log.append([((TERM, index), payload)])?;
    Ok(index)
}

impl RaftLogStore {
    /// Opens (creates) a log in `dir/raft-log`.
    ///
    /// # Errors
    ///
    /// raft-log's error.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            log: Mutex::new(open_log(dir)?),
            durable: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RaftLog<Bench>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DurableLog for RaftLogStore {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        let (index, rx) = {
            let mut log = self.lock();
            let index = append_next(&mut log, payload.to_vec())?;
            (index, flush_synced(&mut log)?)
        };
        wait(&rx)?;
        self.durable.fetch_add(1, Ordering::Relaxed);
        Ok(index)
    }

    fn write_buffered(&self, source: &mut RecordSource) -> io::Result<()> {
        let mut log = self.lock();
        while let Some(payload) = source.next_record() {
            append_next(&mut log, payload.to_vec())?;
            log.flush(false, None)?;
        }
        let rx = flush_synced(&mut log)?;
        drop(log);
        wait(&rx)
    }

    fn stats(&self) -> Option<GroupStats> {
        let syncs = self.lock().stat().flush_metrics.sync_batch_count;
        Some(GroupStats {
            records: self.durable.load(Ordering::Relaxed),
            syncs,
        })
    }

    fn close(self: Box<Self>) -> io::Result<()> {
        let mut log = self
            .log
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let rx = flush_synced(&mut log)?;
        wait(&rx)?;
        // Dropping joins the flush worker and releases the directory lock.
        drop(log);
        Ok(())
    }
}

/// Reopens `dir/raft-log` (raft-log replays every chunk) and reads every
/// entry back in index order.
///
/// # Errors
///
/// raft-log's errors.
pub fn recover(dir: &Path, verifier: &mut Verifier) -> io::Result<()> {
    let log = open_log(dir)?;
    for entry in log.read(0, u64::MAX) {
        let (_log_id, payload) = entry?;
        verifier.visit(&payload);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_appends_are_dense_and_synced() {
        let dir = tempfile::tempdir().unwrap();
        let log = crate::engines::open("raft-log", dir.path()).unwrap();
        let n = crate::engines::tests::append_concurrently(log, 8, 25);

        // Everything acknowledged is there after a reopen, in index order.
        let log = open_log(dir.path()).unwrap();
        let indexes: Vec<u64> = log.read(0, u64::MAX).map(|e| e.unwrap().0.1).collect();
        assert_eq!(indexes, (1..=n).collect::<Vec<_>>());
    }

    #[test]
    fn buffered_then_recovery_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = Box::new(RaftLogStore::open(dir.path()).unwrap());
        super::super::tests::check_buffered_round_trip(log, dir.path(), recover, 500, 64);
    }
}
