//! The crate's error type.

use std::path::PathBuf;

use wal_format::Lsn;

use crate::report::CorruptRange;

/// Everything that can go wrong reading or recovering a log.
///
/// Corruption before the tail ([`Error::Corruption`]) names the segment
/// file, the byte offset and the LSNs concerned. A missing key, a wrong key
/// ([`Error::Key`]) and a record that fails authentication
/// ([`Error::Payload`]) are told apart: a wrong key is a configuration
/// mistake, never reported as damage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The segment layer failed (opening the log, truncating, resuming), a
    /// storage call failed (`wal_io::Error::Io`: the operation, the file
    /// and the system's error), or the listing found a segment whose
    /// header does not verify
    /// (`wal_io::Error::BadSegmentHeader`) or names another first LSN than
    /// its file name (`wal_io::Error::NameMismatch`): damage, never a torn
    /// write (segment headers are made durable before the file gets its
    /// name).
    #[error("segment storage")]
    Io(#[from] wal_io::Error),
    /// Damage before the tail of the log: a damaged record followed by valid
    /// records with later LSNs, an LSN gap or missing segment, an unfinished
    /// batch or fragment chain followed by more records.
    #[error("corruption before the tail of the log: {0}")]
    Corruption(Box<CorruptRange>),
    /// [`crate::RecoveryMode::AbsoluteConsistency`] found a torn tail (or
    /// an unfinished batch or fragment chain at the end of the log).
    #[error(
        "torn tail in {path} at offset {offset} (absolute consistency mode accepts only a clean end)"
    )]
    TornTail {
        /// The last segment.
        path: PathBuf,
        /// Where the valid data ends.
        offset: u64,
    },
    /// A segment's key is missing or wrong (`wal_crypto::Error::MissingKey`
    /// or `WrongKey`), or this build cannot decrypt.
    #[error("cannot decrypt segment {path}")]
    Key {
        /// The segment file.
        path: PathBuf,
        /// What wal-crypto said.
        #[source]
        source: wal_crypto::Error,
    },
    /// A record's payload could not be turned back into the logical payload:
    /// it failed authentication (tampered, damaged or moved), does not
    /// decompress, or needs a feature this build lacks.
    #[error("record at lsn {lsn} in {path} at offset {offset}")]
    Payload {
        /// The segment file.
        path: PathBuf,
        /// The offset of the record (of its first fragment, or of its batch
        /// marker's batch) in the file.
        offset: u64,
        /// The record's LSN.
        lsn: Lsn,
        /// What wal-crypto said.
        #[source]
        source: wal_crypto::Error,
    },
    /// The records asked for were purged (their segments removed).
    #[error("lsn {lsn} was purged from the log (its oldest record is now {oldest})")]
    Purged {
        /// The LSN asked for.
        lsn: Lsn,
        /// The oldest LSN still in the log ([`Lsn::ZERO`] if none).
        oldest: Lsn,
    },
    /// A record the durable watermark says exists could not be found.
    #[error("lsn {lsn} is durable but was not found in the log at {path}")]
    Missing {
        /// The LSN.
        lsn: Lsn,
        /// The log directory.
        path: PathBuf,
    },
    /// The replay of [`crate::recover_checked`] refused the record at
    /// `lsn`; recovery stopped before changing anything.
    #[error("the replay refused the record at lsn {lsn}; nothing was changed")]
    Refused {
        /// The record's LSN.
        lsn: Lsn,
    },
    /// The source of the durable watermark is gone (the writer closed).
    #[error("the log's writer is closed")]
    Closed,
    /// An option value that makes no sense.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
