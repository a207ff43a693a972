//! groupwal itself: `wal_commit::Committer` (the group-commit writer) on the
//! real file system, in each sync mode, with and without compression.
//!
//! It drives the committer directly (the facade `groupwal::Wal` adds only
//! recovery through `wal-reader` on open). The `-aes` variants encrypt every
//! payload with AES-256-GCM (a fixed benchmark key).
//!
//! - Durable appends: [`Committer::append`], which returns once a sync
//!   covering the record has succeeded (one write and one sync per group;
//!   the group grows while the previous sync is in flight).
//! - Buffered workload: [`Committer::append_unsynced`] for every record
//!   (groups of up to 8 MiB written as they fill, no sync), then one
//!   [`Committer::sync`], as the peers write and sync once.
//! - Recovery: what reopening a log for writing and replaying it costs a
//!   user: `wal_reader::recover_with` (the scan `groupwal::Wal::open`
//!   runs: find the end of valid data, classify what follows, make the log
//!   ready to append), handing each record to the caller as it is checked
//!   (CRC, salt, LSN): one pass over the data, as the peers' reopen
//!   replays.

use std::io;
use std::path::Path;
use std::sync::Arc;

use wal_commit::{CommitOptions, Committer};
use wal_format::{LogicalKind, Lsn};
use wal_io::{FileStorage, LogOptions, Preallocation, SegmentLog, SyncMode};
use wal_reader::ReadOptions;

use crate::harness::{DurableLog, GroupStats, RecordSource, Verifier};

/// The log directory inside the run's directory.
pub const DIR_NAME: &str = "wal";

/// The zstd level of the compressed variant (zstd's default).
pub const ZSTD_LEVEL: i32 = 3;

/// One configuration of groupwal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// How records are made durable.
    pub sync_mode: SyncMode,
    /// zstd level, if compressing.
    pub compression: Option<i32>,
    /// How segments reserve their space.
    pub preallocation: Preallocation,
    /// Whether payloads are encrypted (AES-256-GCM).
    pub encryption: bool,
    /// Whether spare segments are prepared on the committer's own thread
    /// (the default) or inline by the rotation.
    pub prepare_in_background: bool,
    /// Whether groups wait for returning writers
    /// (`WalOptions::adaptive_delay`, the default).
    pub adaptive_delay: bool,
    /// Whether groups are synced on a thread of their own while the next
    /// are written (`CommitOptions::pipelined_sync`, the default).
    pub pipelined_sync: bool,
    /// Whether spares after bulk-written segments are fallocated only
    /// (`WalOptions::adaptive_preallocation`, the default).
    pub adaptive_preallocation: bool,
    /// How many times a waiting appender yields before it sleeps
    /// (`CommitOptions::wait_yields`; 0, the default: it sleeps at once).
    pub wait_yields: u32,
}

impl Variant {
    /// The default configuration: `fdatasync`, no compression.
    pub const DEFAULT: Self = Self {
        sync_mode: SyncMode::Data,
        compression: None,
        preallocation: Preallocation::ZeroFill,
        encryption: false,
        prepare_in_background: true,
        adaptive_delay: true,
        pipelined_sync: true,
        adaptive_preallocation: true,
        wait_yields: 0,
    };

    /// The default configuration in another sync mode.
    #[must_use]
    pub const fn sync(sync_mode: SyncMode) -> Self {
        Self {
            sync_mode,
            ..Self::DEFAULT
        }
    }
}

/// groupwal's committer as a [`DurableLog`].
#[derive(Debug)]
pub struct GroupwalLog {
    committer: Committer,
}

/// A committer error as an `io::Error` whose message carries the whole
/// chain of causes; a sync mode the file system refuses (for example
/// `O_DIRECT` on tmpfs) is `Unsupported`.
fn to_io(e: impl std::error::Error) -> io::Error {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    io::Error::other(text)
}

impl GroupwalLog {
    /// Opens a new log in `dir/wal` with `variant`'s options and the
    /// defaults for everything else (64 MiB segments, zero-filled ahead of
    /// need).
    ///
    /// # Errors
    ///
    /// The committer's error; a sync mode the file system refuses is
    /// `Unsupported`.
    pub fn open(dir: &Path, variant: Variant) -> io::Result<Self> {
        let mut log_options = LogOptions::new();
        log_options
            .create(true)
            .sync_mode(variant.sync_mode)
            .preallocation(variant.preallocation);
        let mut options = CommitOptions::new();
        options
            .compression_level(variant.compression)
            .prepare_in_background(variant.prepare_in_background)
            .adaptive_delay(variant.adaptive_delay)
            .pipelined_sync(variant.pipelined_sync)
            .adaptive_preallocation(variant.adaptive_preallocation)
            .wait_yields(variant.wait_yields);
        if variant.encryption {
            let key = wal_crypto::Key::from_bytes([0x5a; wal_crypto::KEY_LEN]);
            let keys = wal_crypto::Keyring::new(wal_format::KeyId::new(1), key)
                .map_err(io::Error::other)?;
            options.encryption(Some(Arc::new(keys)));
        }
        // A new log: no recovery to run before the committer starts.
        let segments = SegmentLog::open(
            Arc::new(FileStorage::new()),
            dir.join(DIR_NAME),
            &log_options,
        )
        .map_err(|e| match e {
            wal_io::Error::UnsupportedSyncMode { .. } => {
                io::Error::new(io::ErrorKind::Unsupported, e.to_string())
            }
            other => to_io(other),
        })?;
        let committer = Committer::from_log(segments, &options).map_err(to_io)?;
        Ok(Self { committer })
    }
}

impl DurableLog for GroupwalLog {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        self.committer.append(payload).map(Lsn::get).map_err(to_io)
    }

    fn write_buffered(&self, source: &mut RecordSource) -> io::Result<()> {
        while let Some(payload) = source.next_record() {
            self.committer.append_unsynced(payload).map_err(to_io)?;
        }
        self.committer.sync().map_err(to_io)?;
        Ok(())
    }

    fn stats(&self) -> Option<GroupStats> {
        let s = self.committer.stats();
        // One write and one sync (or one O_DSYNC/O_DIRECT write) per group.
        Some(GroupStats {
            records: s.appends,
            syncs: s.groups,
        })
    }

    fn close(self: Box<Self>) -> io::Result<()> {
        self.committer.close().map_err(to_io)
    }
}

/// Reopens `dir/wal` as a writer would (recovery) and reads every record
/// back, in LSN order, each checked (CRC, salt, consecutive LSNs).
///
/// # Errors
///
/// I/O errors, a log that recovery refuses or that does not end cleanly,
/// a record kind the bench does not write.
pub fn recover(dir: &Path, verifier: &mut Verifier) -> io::Result<()> {
    let storage: Arc<dyn wal_io::Storage> = Arc::new(FileStorage::new());
    let dir = dir.join(DIR_NAME);
    let mut log_options = LogOptions::new();
    log_options.create(false);
    let read_options = ReadOptions::new();
    // One pass: recovery hands each record over as it checks it (what an
    // application rebuilding its state on open does), as okaywal's
    // recovery callback does.
    let mut expected = Lsn::FIRST.get();
    let mut trouble = None;
    let (log, report) =
        wal_reader::recover_with(storage, &dir, &log_options, &read_options, |record| {
            if trouble.is_some() {
                return;
            }
            if record.lsn.get() != expected {
                trouble = Some(format!("expected LSN {expected}, found {}", record.lsn));
            } else if record.kind != LogicalKind::Data {
                trouble = Some(format!("record kind {:?} not handled", record.kind));
            } else {
                verifier.visit(record.payload);
                expected += 1;
            }
        })
        .map_err(io::Error::other)?;
    if let Some(trouble) = trouble {
        return Err(io::Error::new(io::ErrorKind::InvalidData, trouble));
    }
    if report.truncated_bytes != 0 || !report.corrupt.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("recovery found damage: {report:?}"),
        ));
    }
    log.close().map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_are_durable_and_grouped() {
        let dir = tempfile::tempdir().unwrap();
        let log: Arc<Box<dyn DurableLog>> = Arc::new(Box::new(
            GroupwalLog::open(dir.path(), Variant::DEFAULT).unwrap(),
        ));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| log.append(b"abc").unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut lsns: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        lsns.sort_unstable();
        assert_eq!(lsns, (1..=100).collect::<Vec<_>>());
        let stats = log.stats().unwrap();
        assert_eq!(stats.records, 100);
        assert!(stats.syncs >= 1 && stats.syncs <= 100);
        Arc::into_inner(log).unwrap().close().unwrap();
    }

    #[test]
    fn buffered_records_are_recovered_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = Box::new(GroupwalLog::open(dir.path(), Variant::DEFAULT).unwrap());
        super::super::tests::check_buffered_round_trip(log, dir.path(), recover, 1000, 100);
    }

    #[test]
    fn compressed_variant_appends() {
        let dir = tempfile::tempdir().unwrap();
        let variant = Variant {
            compression: Some(ZSTD_LEVEL),
            ..Variant::DEFAULT
        };
        let log = Box::new(GroupwalLog::open(dir.path(), variant).unwrap());
        assert_eq!(log.append(&[7u8; 4096]).unwrap(), 1);
        log.close().unwrap();
    }
}
