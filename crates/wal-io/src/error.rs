//! The crate's error type.

use std::io;
use std::path::PathBuf;

use wal_format::{LogId, Lsn};

use crate::SyncMode;

/// Everything that can go wrong in wal-io. Every variant that concerns a
/// file or directory names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log directory does not exist (and creating it was not asked for).
    #[error("wal directory {path} does not exist")]
    MissingDir {
        /// The directory.
        path: PathBuf,
    },
    /// The log directory exists but cannot be written (or created).
    #[error("wal directory {path} is not writable")]
    Unwritable {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another opener, in this process or another, holds the directory lock.
    #[error(
        "wal directory {} is locked by another opener{}; a log has one writer at a time",
        path.display(),
        holder(*pid)
    )]
    Locked {
        /// The directory.
        path: PathBuf,
        /// The process holding the lock, when the system tells
        /// ([`crate::Storage::lock_holder`]).
        pid: Option<u32>,
    },
    /// An I/O operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done (`"write"`, `"sync"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A segment's header does not verify.
    #[error("segment {path} has an invalid header")]
    BadSegmentHeader {
        /// The segment file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: wal_format::Error,
    },
    /// A segment header's first LSN differs from the one in its file name.
    #[error(
        "segment {path} has first lsn {in_header} in its header, not the {in_name} of its name"
    )]
    NameMismatch {
        /// The segment file.
        path: PathBuf,
        /// The LSN in the header.
        in_header: Lsn,
        /// The LSN in the name.
        in_name: Lsn,
    },
    /// An entry named like a segment is not a regular file (a symlink, a
    /// directory, a FIFO or device): it is never followed or opened.
    #[error("{path} is named like a segment but is not a regular file")]
    NotRegular {
        /// The entry.
        path: PathBuf,
    },
    /// The lock file of the directory ([`crate::LOCK_FILE`]) is not a
    /// regular file (a symbolic link, a FIFO, a device, a socket or a
    /// directory): the directory is never locked, nor anything created or
    /// opened, through it.
    #[error(
        "lock file {path} is not a regular file (a symbolic link, FIFO, device, socket or directory); refusing to lock the wal directory through it"
    )]
    LockNotRegular {
        /// The lock file.
        path: PathBuf,
    },
    /// The file system holding the log directory lacks room for a new
    /// segment file: a spare is made only when the file system has room
    /// for a whole segment and a margin (an eighth of the segment size, at
    /// least 1 MiB), so preparing one never fills the disk. Nothing was
    /// created. A rotation that needs a new segment fails with it.
    #[error(
        "no room for a new segment in {path}: {needed} bytes needed (the segment size and a margin), {available} available"
    )]
    NoSpace {
        /// The log directory.
        path: PathBuf,
        /// The bytes a new segment needs free: the segment size and the
        /// margin.
        needed: u64,
        /// The bytes the file system said were available.
        available: u64,
    },
    /// A segment belongs to another log.
    #[error("segment {path} belongs to log {found}, not to log {expected}")]
    ForeignSegment {
        /// The segment file.
        path: PathBuf,
        /// The log id of the directory's other segments.
        expected: LogId,
        /// The log id in this segment.
        found: LogId,
    },
    /// The sync mode cannot be done in this directory (for example,
    /// `O_DIRECT` on tmpfs).
    #[error("sync mode {mode:?} is not supported in {path}")]
    UnsupportedSyncMode {
        /// The mode asked for.
        mode: SyncMode,
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// An option value that makes no sense.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// An append did not continue the log's LSNs.
    #[error("append at lsn {found} in {path}, but the next lsn is {expected}")]
    LsnMismatch {
        /// The log directory.
        path: PathBuf,
        /// The next LSN of the log.
        expected: Lsn,
        /// The LSN the append started at.
        found: Lsn,
    },
    /// A suffix truncation would cut an atomic batch in two.
    #[error(
        "cannot truncate at lsn {lsn} in {path}: it is inside the atomic batch starting at lsn {batch}"
    )]
    InsideBatch {
        /// The segment file.
        path: PathBuf,
        /// The LSN asked for.
        lsn: Lsn,
        /// The first LSN of the batch.
        batch: Lsn,
    },
    /// A segment reads back differently than when its records were checked
    /// (by recovery, or earlier in the same operation): a record that no
    /// longer verifies where one was found, or damage where records were
    /// expected. A failing disk or a changing file; the operation changed
    /// nothing it had not made durable already, and it is refused rather
    /// than built on bytes that were never checked.
    #[error("{path} reads back differently at offset {offset}: {reason}")]
    ReadBack {
        /// The segment file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What was read there.
        reason: String,
    },
    /// A record could not be read while scanning a segment.
    #[error("damaged record in {path} at offset {offset}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// The record's offset in the file.
        offset: u64,
        /// What is wrong with it.
        #[source]
        source: wal_format::Error,
    },
    /// The writer is not positioned: the log has segments but
    /// [`crate::SegmentLog::resume`] was not called.
    #[error("wal directory {path} has segments: resume at the end of the log before appending")]
    NotResumed {
        /// The log directory.
        path: PathBuf,
    },
    /// The segment hook (see [`crate::SegmentLog::set_segment_hook`])
    /// refused to prepare a new segment's header; nothing was written.
    #[error("preparing the header of a new segment in {path}")]
    Hook {
        /// The log directory.
        path: PathBuf,
        /// What the hook said (for example a missing encryption key).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An earlier write or sync failed; the state of the file is unknown
    /// (a failed fsync may have dropped data for good), so the log refuses
    /// to write until it is reopened.
    #[error("wal directory {path} failed an earlier write or sync; reopen it")]
    Failed {
        /// The log directory.
        path: PathBuf,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with the operation and the path ([`Error::Io`]):
/// `.map_err(io_err("read", path))`. Every layer's failed storage call is
/// reported through it.
pub fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { op, path, source }
}

/// " (pid N)", " (this process)", or nothing: who holds a lock.
fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) if pid == std::process::id() => " (this process)".to_string(),
        Some(pid) => format!(" (pid {pid})"),
        None => String::new(),
    }
}
