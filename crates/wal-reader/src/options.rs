//! Options of readers and of recovery.

#[cfg(feature = "encryption")]
use std::sync::Arc;

use crate::error::{Error, Result};

/// What recovery (and a reader) does about damage, modelled on RocksDB's
/// `WALRecoveryMode`. See [the format's
/// "Recovery"](wal_format::spec#recovery-wal-reader) for the table of what
/// each mode does in each case.
///
/// In every mode a clean end, zero-filled (preallocated) space and stale
/// records from an earlier use of a recycled file end the data without
/// comment, and nothing is ever dropped without being reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// A torn tail (a write cut short by a crash: a partial record, a
    /// damaged record with nothing valid after it, an unfinished batch or
    /// fragment chain at the very end) is dropped and cut off durably.
    /// Corruption before the tail is an [`crate::Error::Corruption`] naming
    /// the segment, offset and LSNs; nothing is changed. The default.
    #[default]
    TolerateCorruptedTailRecords,
    /// Only a clean end is accepted: a torn tail is an
    /// [`crate::Error::TornTail`] and corruption an
    /// [`crate::Error::Corruption`]; nothing is changed. For logs written
    /// with a sync mode where every acknowledged write is whole (and the
    /// application would rather stop than lose an unacknowledged record).
    AbsoluteConsistency,
    /// Recover to the last consistent point before the first damage,
    /// wherever it is, and discard everything after it durably (later
    /// segments removed, the damaged one cut). Every discarded range is
    /// listed in [`crate::RecoveryReport::corrupt`]. For logs whose
    /// tail may hold holes (for example [`wal_io::SyncMode::None`] after a
    /// power loss), or to get a damaged log writable again.
    PointInTime,
    /// Skip every damaged range and keep every valid record after it; the
    /// log then has LSN gaps, which readers in this mode accept. Every
    /// skipped range is listed in [`crate::RecoveryReport::corrupt`]; the
    /// damaged bytes stay on disk (a later recovery in this mode skips them
    /// again). A salvage mode, for disaster recovery.
    SkipAnyCorruptedRecords,
}

/// How a log is read and recovered. Built with [`ReadOptions::new`] and its
/// setters; checked when a reader is opened or recovery starts.
///
/// ```
/// use wal_reader::{ReadOptions, RecoveryMode};
/// let mut options = ReadOptions::new();
/// options.mode(RecoveryMode::PointInTime).max_record_len(1 << 20);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReadOptions {
    pub(crate) max_record_len: usize,
    pub(crate) max_payload_len: u32,
    pub(crate) buffer_size: usize,
    pub(crate) read_ahead: bool,
    pub(crate) mode: RecoveryMode,
    pub(crate) index_interval: u64,
    #[cfg(feature = "encryption")]
    pub(crate) keys: Option<Arc<dyn wal_crypto::KeyProvider>>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The smallest read buffer allowed.
pub const MIN_BUFFER_SIZE: usize = 4096;

impl ReadOptions {
    /// The defaults, listed with each setter.
    #[must_use]
    pub fn new() -> Self {
        ReadOptions {
            max_record_len: 64 << 20,
            max_payload_len: 64 << 20,
            buffer_size: 1 << 20,
            read_ahead: true,
            mode: RecoveryMode::default(),
            index_interval: 1 << 20,
            #[cfg(feature = "encryption")]
            keys: None,
        }
    }

    /// The largest logical record (a whole payload, reassembled from its
    /// fragments and decompressed). A longer one is damage. By default,
    /// 64 MiB (wal-commit's default).
    pub fn max_record_len(&mut self, bytes: usize) -> &mut Self {
        self.max_record_len = bytes;
        self
    }

    /// The largest payload of one physical record (a fragment): a length
    /// field above it is damage, before any read is sized by it. By
    /// default, 64 MiB (`wal_io::LogOptions`' default).
    pub fn max_payload_len(&mut self, bytes: u32) -> &mut Self {
        self.max_payload_len = bytes;
        self
    }

    /// How many bytes the reader reads at a time. The reader's window over
    /// a segment is this size, or one record (header and largest payload)
    /// if that is larger; it never holds more. By default, 1 MiB.
    pub fn buffer_size(&mut self, bytes: usize) -> &mut Self {
        self.buffer_size = bytes;
        self
    }

    /// Read the next `buffer_size` bytes of a segment on a thread of the
    /// reader's own while the current ones are checked: with the page
    /// cache warm, the copy out of the cache then overlaps the checksums
    /// and the per-record work. Costs one thread per reader (started at
    /// the first full buffer, so a small log never starts it) and two more
    /// buffers of `buffer_size` plus up to 64 KiB (it reads up to two
    /// chunks ahead). It also asks the kernel to bring the 16 MiB past
    /// those chunks into the page cache (`POSIX_FADV_WILLNEED`, through
    /// `StorageFile::prefetch`), which speeds up a read from the disk.
    /// Off, every read happens on the caller's thread. By default, on.
    pub fn read_ahead(&mut self, on: bool) -> &mut Self {
        self.read_ahead = on;
        self
    }

    /// What to do about damage; see [`RecoveryMode`]. By default,
    /// [`RecoveryMode::TolerateCorruptedTailRecords`].
    pub fn mode(&mut self, mode: RecoveryMode) -> &mut Self {
        self.mode = mode;
        self
    }

    /// How far apart (in bytes of a segment) the reader notes the offset of
    /// a record boundary in its in-memory seek index as it reads. A seek
    /// scans at most about this far past an indexed point. By default,
    /// 1 MiB.
    pub fn index_interval(&mut self, bytes: u64) -> &mut Self {
        self.index_interval = bytes;
        self
    }

    /// The keys of encrypted segments (feature `encryption`). Without it an
    /// encrypted segment is an [`crate::Error::Key`] (missing key) when its
    /// records are read, and recovery refuses it (it authenticates every
    /// segment, marker and record). By default, none.
    #[cfg(feature = "encryption")]
    pub fn keys(&mut self, provider: Arc<dyn wal_crypto::KeyProvider>) -> &mut Self {
        self.keys = Some(provider);
        self
    }

    /// The configured recovery mode.
    #[must_use]
    pub fn get_mode(&self) -> RecoveryMode {
        self.mode
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.buffer_size < MIN_BUFFER_SIZE {
            return Err(Error::InvalidOption {
                name: "buffer_size",
                reason: "must be at least 4096 bytes",
            });
        }
        if self.max_payload_len == 0 || self.max_record_len == 0 {
            return Err(Error::InvalidOption {
                name: "max_payload_len",
                reason: "record size limits must be at least 1",
            });
        }
        if self.index_interval == 0 {
            return Err(Error::InvalidOption {
                name: "index_interval",
                reason: "must be at least 1",
            });
        }
        Ok(())
    }

    /// The most bytes a reader with these options holds in its buffers:
    /// the read window (at least one whole record), the fragment assembly
    /// buffer, and the payload decoder's two buffers (decrypted and
    /// decompressed copies). Used by tests; see
    /// [`crate::LogReader::buffer_high_water`].
    #[must_use]
    pub fn memory_bound(&self) -> usize {
        let record = (self.max_payload_len as usize).saturating_add(wal_format::RECORD_HEADER_LEN);
        // With read-ahead, the window may be a read-ahead buffer (room for
        // a record's start, then a chunk), and the read-ahead has as many
        // more as it keeps jobs in flight.
        let ahead = if self.read_ahead {
            self.buffer_size
                .saturating_add(crate::ahead::headroom(self.buffer_size))
        } else {
            0
        };
        let window = record.max(self.buffer_size).max(ahead);
        window
            .saturating_add(ahead.saturating_mul(crate::ahead::DEPTH))
            .saturating_add(
                self.max_record_len
                    .saturating_add(wal_format::ENCRYPTION_TAG_LEN),
            )
            .saturating_add(
                self.max_record_len
                    .saturating_add(wal_format::ENCRYPTION_TAG_LEN)
                    .saturating_mul(2),
            )
    }
}
