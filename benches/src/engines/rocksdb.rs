//! RocksDB (through the `rocksdb` crate 0.20; feature `rocksdb`; linked
//! with the system librocksdb when `ROCKSDB_LIB_DIR` is set): an LSM-tree
//! whose write path appends each write batch to its WAL and inserts it
//! into the memtable. Concurrent writers form write groups: a leader
//! writes every member's batch to the WAL with one write and, when any
//! member asked for `sync`, one `fdatasync`, then the members insert into
//! the memtable.
//!
//! Configured as its documentation says for durable writes: default
//! `Options` with `create_if_missing`, and per record
//! `put_opt(key, payload, &WriteOptions { sync: true })` (key: the
//! big-endian sequence number). Buffered workload: `put` without sync, then
//! `flush_wal(true)`. Recovery: reopen (WAL replay into the memtable) and
//! iterate.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{DB, IteratorMode, Options, WriteOptions};

use crate::harness::{DurableLog, RecordSource, Verifier};

/// The database directory inside the run's directory.
pub const DIR_NAME: &str = "rocksdb";

fn to_io(e: rocksdb::Error) -> io::Error {
    io::Error::other(e.into_string())
}

fn open_db(dir: &Path) -> io::Result<DB> {
    let mut options = Options::default();
    options.create_if_missing(true);
    DB::open(&options, dir.join(DIR_NAME)).map_err(to_io)
}

/// RocksDB as a [`DurableLog`].
pub struct RocksLog {
    db: DB,
    next: AtomicU64,
    synced: WriteOptions,
    unsynced: WriteOptions,
}

impl std::fmt::Debug for RocksLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksLog").finish_non_exhaustive()
    }
}

impl RocksLog {
    /// Opens (creates) a database in `dir/rocksdb`.
    ///
    /// # Errors
    ///
    /// RocksDB's error.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        let mut unsynced = WriteOptions::default();
        unsynced.set_sync(false);
        Ok(Self {
            db: open_db(dir)?,
            next: AtomicU64::new(1),
            synced,
            unsynced,
        })
    }

    fn put(&self, payload: &[u8], options: &WriteOptions) -> io::Result<u64> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        self.db
            .put_opt(seq.to_be_bytes(), payload, options)
            .map_err(to_io)?;
        Ok(seq)
    }
}

impl DurableLog for RocksLog {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        self.put(payload, &self.synced)
    }

    fn write_buffered(&self, source: &mut RecordSource) -> io::Result<()> {
        while let Some(payload) = source.next_record() {
            self.put(payload, &self.unsynced)?;
        }
        self.db.flush_wal(true).map_err(to_io)
    }
}

/// Reopens `dir/rocksdb` and iterates it in key (= append) order.
///
/// # Errors
///
/// RocksDB's errors.
pub fn recover(dir: &Path, verifier: &mut Verifier) -> io::Result<()> {
    let db = open_db(dir)?;
    for item in db.iterator(IteratorMode::Start) {
        let (_key, value) = item.map_err(to_io)?;
        verifier.visit(&value);
    }
    Ok(())
}
