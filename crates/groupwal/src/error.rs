//! The facade's error type.

use wal_format::Lsn;

/// Everything that can go wrong with a [`crate::Wal`]. The layer that
/// failed is kept as the source, so `match` on it when the details matter
/// (for example [`wal_reader::Error::Corruption`] names the damaged
/// segment, offset and LSNs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Appending, syncing, truncating or closing failed (see
    /// [`wal_commit::Error`]; `Poisoned` once a write or sync failed).
    #[error(transparent)]
    Commit(#[from] wal_commit::Error),
    /// Recovery or reading failed (see [`wal_reader::Error`]).
    #[error(transparent)]
    Read(#[from] wal_reader::Error),
    /// An append to a stream at an index that is not the stream's next
    /// (truncate the stream first to overwrite a suffix).
    #[error("stream {stream}: append at index {index}, but its next index is {expected}")]
    StreamIndex {
        /// The stream.
        stream: u64,
        /// The index asked for.
        index: u64,
        /// The stream's next index.
        expected: u64,
    },
    /// A read of stream entries that were purged (or never written).
    #[error("stream {stream}: entry {index} was purged (first live index: {first:?})")]
    StreamPurged {
        /// The stream.
        stream: u64,
        /// The index asked for.
        index: u64,
        /// The stream's first live index now.
        first: Option<u64>,
    },
    /// A stream entry lost to damage that recovery skipped
    /// ([`crate::RecoveryMode::SkipAnyCorruptedRecords`]): the stream goes
    /// on after it, the recovery report lists the damage. Read on from the
    /// next index.
    #[error("stream {stream}: entry {index} was lost to damage that recovery skipped")]
    StreamGap {
        /// The stream.
        stream: u64,
        /// The missing entry.
        index: u64,
    },
    /// A stream record that passed its checksums (and authentication) but
    /// says something no writer of it would have written: a header that
    /// does not decode, an append out of order, a copy of an entry that is
    /// not live; or an entry not where the index places it. The log was
    /// not written by groupwal as it is.
    #[error("invalid stream record at lsn {lsn}: {reason}")]
    StreamRecord {
        /// The record's LSN.
        lsn: Lsn,
        /// What is wrong.
        reason: String,
    },
    /// An option that makes no sense.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// Whether the log was poisoned by a failed write or sync (reopen it to
    /// recover).
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Commit(wal_commit::Error::Poisoned(_)))
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
