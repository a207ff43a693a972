//! fjall 3 (an LSM-tree key-value store in Rust, with its own journal):
//! every write goes to the journal (under the journal's mutex) and into the
//! keyspace's memtable; memtables are flushed to sorted tables and compacted
//! by background threads.
//!
//! Configured as its README says for durable writes: a `Database` with
//! default options, one keyspace (`KeyspaceCreateOptions::default`), and
//! per record `Keyspace::insert(key, payload)` (key: the big-endian
//! sequence number, so keys sort in append order) followed by
//! `Database::persist(PersistMode::SyncData)` (`fdatasync` of the journal).
//! fjall has no group commit: `persist` syncs while holding the journal
//! lock, so concurrent writers queue behind each sync.
//!
//! Buffered workload: `insert` per record (fjall's default: flushed to the
//! OS, not synced), one `persist(SyncData)` at the end. Recovery: reopen
//! the database (journal replay into memtables) and iterate the keyspace.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::harness::{DurableLog, RecordSource, Verifier};

/// The database directory inside the run's directory.
pub const DIR_NAME: &str = "fjall";
/// The keyspace holding the records.
pub const KEYSPACE: &str = "log";

fn to_io(e: fjall::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// fjall as a [`DurableLog`].
pub struct FjallLog {
    db: Database,
    keyspace: Keyspace,
    next: AtomicU64,
}

impl std::fmt::Debug for FjallLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallLog").finish_non_exhaustive()
    }
}

fn open_db(dir: &Path) -> io::Result<(Database, Keyspace)> {
    let db = Database::builder(dir.join(DIR_NAME))
        .open()
        .map_err(to_io)?;
    let keyspace = db
        .keyspace(KEYSPACE, KeyspaceCreateOptions::default)
        .map_err(to_io)?;
    Ok((db, keyspace))
}

impl FjallLog {
    /// Opens (creates) a database in `dir/fjall`.
    ///
    /// # Errors
    ///
    /// fjall's error.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let (db, keyspace) = open_db(dir)?;
        Ok(Self {
            db,
            keyspace,
            next: AtomicU64::new(1),
        })
    }

    fn insert(&self, payload: &[u8]) -> io::Result<u64> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        self.keyspace
            .insert(seq.to_be_bytes(), payload)
            .map_err(to_io)?;
        Ok(seq)
    }
}

impl DurableLog for FjallLog {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        let seq = self.insert(payload)?;
        self.db.persist(PersistMode::SyncData).map_err(to_io)?;
        Ok(seq)
    }

    fn write_buffered(&self, source: &mut RecordSource) -> io::Result<()> {
        while let Some(payload) = source.next_record() {
            self.insert(payload)?;
        }
        self.db.persist(PersistMode::SyncData).map_err(to_io)
    }
}

/// Reopens `dir/fjall` and iterates the keyspace in key (= append) order.
///
/// # Errors
///
/// fjall's errors.
pub fn recover(dir: &Path, verifier: &mut Verifier) -> io::Result<()> {
    let (_db, keyspace) = open_db(dir)?;
    for guard in keyspace.iter() {
        let (_key, value) = guard.into_inner().map_err(to_io)?;
        verifier.visit(&value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_buffered_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let log = Box::new(FjallLog::open(dir.path()).unwrap());
        assert_eq!(log.append(b"one").unwrap(), 1);
        assert_eq!(log.append(b"two").unwrap(), 2);
        log.close().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let log = Box::new(FjallLog::open(dir.path()).unwrap());
        super::super::tests::check_buffered_round_trip(log, dir.path(), recover, 400, 40);
    }
}
