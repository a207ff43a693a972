//! The plain baseline: a `Mutex<File>`; each append locks, writes its
//! record, calls `fdatasync`, unlocks. No batching: one sync per record.
//!
//! The file is opened in append mode and not preallocated (as a naive log
//! would be), so every `fdatasync` also commits the new file size.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::harness::{DurableLog, GroupStats};

/// The file name inside the run's directory.
pub const FILE_NAME: &str = "mutex.log";

/// `Mutex<File>` + `fdatasync` per append.
#[derive(Debug)]
pub struct MutexLog {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    next_lsn: u64,
    buf: Vec<u8>,
    stats: GroupStats,
}

impl MutexLog {
    /// Creates `dir/mutex.log` (append mode).
    ///
    /// # Errors
    ///
    /// The error of opening the file.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(FILE_NAME))?;
        Ok(Self {
            inner: Mutex::new(Inner {
                file,
                next_lsn: 1,
                buf: Vec::new(),
                stats: GroupStats::default(),
            }),
        })
    }
}

impl DurableLog for MutexLog {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let inner = &mut *guard;
        let lsn = inner.next_lsn;
        inner.buf.clear();
        super::encode(&mut inner.buf, lsn, payload)?;
        inner.file.write_all(&inner.buf)?;
        inner.file.sync_data()?;
        inner.next_lsn += 1;
        inner.stats.records += 1;
        inner.stats.syncs += 1;
        Ok(lsn)
    }

    fn stats(&self) -> Option<GroupStats> {
        Some(
            self.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .stats,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_appends_are_durable_records_in_lsn_order() {
        super::super::tests::check_engine("mutex", FILE_NAME, 4, 25);
    }

    #[test]
    fn one_sync_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = MutexLog::open(dir.path()).unwrap();
        for i in 1..=3 {
            assert_eq!(log.append(b"abc").unwrap(), i);
        }
        assert_eq!(
            log.stats(),
            Some(GroupStats {
                records: 3,
                syncs: 3
            })
        );
        let len = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        assert_eq!(len, 3 * (wal_format::RECORD_HEADER_LEN as u64 + 3));
    }
}
