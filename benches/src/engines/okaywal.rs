//! okaywal 0.3: a single-file-at-a-time WAL with leader/follower group
//! commit (an entry's `commit` writes its end marker and joins whichever
//! thread is syncing the file; one `fdatasync` covers every entry committed
//! before it started).
//!
//! Configured as its README shows: `WriteAheadLog::recover(dir, manager)`
//! with the default configuration (1 MiB preallocated segments, a
//! checkpoint after 768 KiB, 16 KiB buffers), and per record one entry with
//! one chunk: `begin_entry`, `write_chunk`, `commit` (which returns once
//! the entry is synced). The checkpointer is a no-op (a database would
//! write its pages there), so segments are recycled as they fill.
//!
//! okaywal has no unsynced commit, so the buffered workload writes every
//! record as a chunk of ONE entry and commits it once at the end; for that
//! workload (and its recovery) checkpointing is pushed out of reach, or the
//! checkpointer would release the data before it is read back.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use okaywal::WriteAheadLog;
use okaywal::{Configuration, Entry, EntryId, LogManager, ReadChunkResult, SegmentReader};

use super::Purpose;
use crate::harness::{DurableLog, RecordSource, Verifier};

/// The log directory inside the run's directory.
pub const DIR_NAME: &str = "okaywal";

/// The log manager: nothing to checkpoint; when the log is read back,
/// every recovered chunk goes to the shared verifier.
#[derive(Debug, Default)]
struct Manager {
    read_back: Option<ReadBack>,
}

/// Where [`recover`] collects what okaywal replays.
#[derive(Debug)]
struct ReadBack {
    verifier: Arc<Mutex<Verifier>>,
    error: Arc<Mutex<Option<io::Error>>>,
}

/// okaywal as a [`DurableLog`].
#[derive(Debug)]
pub struct OkayLog {
    wal: WriteAheadLog,
}

fn config(dir: &Path, purpose: Purpose) -> Configuration {
    let config = Configuration::default_for(dir.join(DIR_NAME));
    match purpose {
        Purpose::Durable => config,
        // Never checkpoint: the data must stay for the recovery read.
        Purpose::Buffered => config.checkpoint_after_bytes(u64::MAX),
    }
}

impl OkayLog {
    /// Opens (creates) a log in `dir/okaywal`.
    ///
    /// # Errors
    ///
    /// okaywal's error.
    pub fn open(dir: &Path, purpose: Purpose) -> io::Result<Self> {
        Ok(Self {
            wal: config(dir, purpose).open(Manager::default())?,
        })
    }
}

impl DurableLog for OkayLog {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        let mut entry = self.wal.begin_entry()?;
        entry.write_chunk(payload)?;
        Ok(entry.commit()?.0)
    }

    fn write_buffered(&self, source: &mut RecordSource) -> io::Result<()> {
        let mut entry = self.wal.begin_entry()?;
        while let Some(payload) = source.next_record() {
            entry.write_chunk(payload)?;
        }
        entry.commit()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> io::Result<()> {
        self.wal.shutdown()
    }
}

impl LogManager for Manager {
    fn recover(&mut self, entry: &mut Entry<'_>) -> io::Result<()> {
        let Some(read_back) = &self.read_back else {
            return Ok(());
        };
        let mut verifier = read_back
            .verifier
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            match entry.read_chunk()? {
                ReadChunkResult::Chunk(mut chunk) => {
                    let data = chunk.read_all()?;
                    if !chunk.check_crc()? {
                        *read_back
                            .error
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = Some(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "okaywal: chunk CRC",
                        ));
                    }
                    verifier.visit(&data);
                }
                ReadChunkResult::EndOfEntry => return Ok(()),
                ReadChunkResult::AbortedEntry => {
                    *read_back
                        .error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "okaywal: aborted entry",
                    ));
                    return Ok(());
                }
            }
        }
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: EntryId,
        _checkpointed_entries: &mut SegmentReader,
        _wal: &WriteAheadLog,
    ) -> io::Result<()> {
        Ok(())
    }
}

/// Reopens `dir/okaywal`; okaywal replays every entry into the manager's
/// `recover` during `open`.
///
/// # Errors
///
/// okaywal's errors, a chunk with a bad CRC, an aborted entry.
pub fn recover(dir: &Path, verifier: &mut Verifier) -> io::Result<()> {
    let shared = Arc::new(Mutex::new(std::mem::take(verifier)));
    let error = Arc::new(Mutex::new(None));
    let reader = Manager {
        read_back: Some(ReadBack {
            verifier: Arc::clone(&shared),
            error: Arc::clone(&error),
        }),
    };
    let wal = config(dir, Purpose::Buffered).open(reader)?;
    wal.shutdown()?;
    *verifier = std::mem::take(&mut *shared.lock().unwrap_or_else(PoisonError::into_inner));
    match error.lock().unwrap_or_else(PoisonError::into_inner).take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_buffered_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let log = Box::new(OkayLog::open(dir.path(), Purpose::Durable).unwrap());
        let a = log.append(b"one").unwrap();
        let b = log.append(b"two").unwrap();
        assert!(b > a);
        log.close().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let log = Box::new(OkayLog::open(dir.path(), Purpose::Buffered).unwrap());
        super::super::tests::check_buffered_round_trip(log, dir.path(), recover, 500, 64);
    }
}
