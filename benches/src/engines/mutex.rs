//! The plain baseline: a `Mutex<File>`; each append locks, writes its
//! record, calls `fdatasync`, unlocks. No batching: one sync per record.
//!
//! The file is opened in append mode and not preallocated (as a naive log
//! would be), so every `fdatasync` also commits the new file size.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::harness::{DurableLog, GroupStats, RecordSource, Verifier};

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

    /// Writes every record (one `write` each, as a naive log does) without
    /// syncing, then one `fdatasync`.
    fn write_buffered(&self, source: &mut RecordSource) -> io::Result<()> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let inner = &mut *guard;
        while let Some(payload) = source.next_record() {
            inner.buf.clear();
            super::encode(&mut inner.buf, inner.next_lsn, payload)?;
            inner.file.write_all(&inner.buf)?;
            inner.next_lsn += 1;
            inner.stats.records += 1;
        }
        inner.file.sync_data()?;
        inner.stats.syncs += 1;
        Ok(())
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

/// Reads `dir/mutex.log` back through a 1 MiB buffer, decoding and
/// checking each record.
///
/// # Errors
///
/// I/O errors; a record that does not decode before the end of the file.
pub fn recover(dir: &Path, verifier: &mut Verifier) -> io::Result<()> {
    use std::io::{BufRead, BufReader, Read};
    let decoder = wal_format::RecordDecoder::new(crate::BENCH_SALT, 1 << 20);
    let mut reader = BufReader::with_capacity(1 << 20, File::open(dir.join(FILE_NAME))?);
    let mut record = Vec::new();
    loop {
        if reader.fill_buf()?.is_empty() {
            return Ok(());
        }
        let mut header = [0u8; wal_format::RECORD_HEADER_LEN];
        reader.read_exact(&mut header)?;
        let verified = decoder
            .decode_header(&header)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        record.clear();
        record.extend_from_slice(&header);
        record.resize(header.len() + verified.payload_len as usize, 0);
        reader.read_exact(&mut record[header.len()..])?;
        let decoded = decoder
            .decode(&record)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        verifier.visit(decoded.payload);
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
        super::super::tests::check_one_sync_per_record(&log);
        let len = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        assert_eq!(len, 3 * (wal_format::RECORD_HEADER_LEN as u64 + 3));
    }

    #[test]
    fn buffered_records_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = MutexLog::open(dir.path()).unwrap();
        let mut source = RecordSource::new(100, 50);
        log.write_buffered(&mut source).unwrap();
        assert_eq!(log.stats().unwrap().syncs, 1);
        let mut v = Verifier::new(50);
        recover(dir.path(), &mut v).unwrap();
        assert_eq!(v.finish(100), Ok(()));
    }
}
