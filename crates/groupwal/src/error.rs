//! The facade's error type, and the one place each layer's errors are
//! mapped to it.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;

use wal_format::{KeyId, Lsn};
use wal_reader::CorruptRange;

/// A layer's error, kept as the source of a flat case.
type Layer = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong with a [`crate::Wal`], one flat list: match
/// on the case itself, whichever layer found it.
///
/// ```
/// # fn handle(e: groupwal::Error) {
/// match e {
///     groupwal::Error::TooLarge { len, max } => eprintln!("split the {len}-byte record (at most {max})"),
///     groupwal::Error::Poisoned { .. } => eprintln!("reopen the log"),
///     other => eprintln!("{other}"),
/// }
/// # }
/// ```
///
/// Where a layer's error says more than the case (the damaged record, the
/// failed system call), it is the [`source`](std::error::Error::source),
/// so printing the chain gives every detail. New cases may be added:
/// keep a catch-all arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A write, sync or payload transform failed, and the log refuses
    /// everything after it: nothing more is acknowledged, a sync is never
    /// retried. The records acknowledged before it are durable. Reopen the
    /// log to recover (recovery finds where the durable data ends).
    /// `cause` is the original failure, the same for every call that
    /// reports the poisoning.
    #[error(
        "the log is poisoned by a failed write, sync or payload transform; reopen it to recover"
    )]
    Poisoned {
        /// The failure that poisoned the log (not itself `Poisoned`).
        #[source]
        cause: wal_commit::Error,
    },
    /// The log was closed (by [`crate::Wal::close`] on any clone).
    #[error("the log is closed")]
    Closed,
    /// A record larger than the maximum record size
    /// ([`crate::WalOptions::max_record_len`]).
    #[error(
        "record of {len} bytes exceeds the maximum record size of {max} bytes; split it or raise the maximum"
    )]
    TooLarge {
        /// The record's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// An empty batch, or a batch over the group limits.
    #[error("invalid batch: {reason}")]
    InvalidBatch {
        /// What is wrong.
        reason: &'static str,
    },
    /// An option or argument that makes no sense.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option or argument.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The log directory is held by another opener (another process, or
    /// another open in this one): a log has one writer at a time.
    #[error("{}", locked_message(dir, *pid))]
    Locked {
        /// The log directory.
        dir: PathBuf,
        /// The process holding the lock, when the system tells
        /// ([`crate::io::Storage::lock_holder`]).
        pid: Option<u32>,
    },
    /// The log directory does not exist (and creating it was not asked
    /// for: [`crate::WalOptions::create`]).
    #[error("wal directory {} does not exist; create it or let the open create it", dir.display())]
    MissingDir {
        /// The directory.
        dir: PathBuf,
    },
    /// The file system lacks room for a new segment; nothing was created.
    /// Free some space (or let [`crate::Wal::purge_below`] and purges
    /// remove old segments) and reopen.
    #[error(
        "no room for a new segment in {}: {needed} bytes needed, {available} available",
        dir.display()
    )]
    NoSpace {
        /// The log directory.
        dir: PathBuf,
        /// The bytes a new segment needs free.
        needed: u64,
        /// The bytes the file system said were available.
        available: u64,
    },
    /// An I/O operation on a file or directory of the log failed (outside
    /// a write or sync of records, which poisons the log: [`Error::Poisoned`]).
    #[error("{op} {} failed", path.display())]
    Io {
        /// What was being done (`"read"`, `"list"`, `"open"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// Damage before the tail of the log, or a segment that reads back
    /// differently than it did: recovery refuses the log rather than
    /// drop records that may have been acknowledged. The source names what
    /// exactly is wrong ([`Error::corrupt_range`] gives the range recovery
    /// found). Restore the log from a replica, or open it with a
    /// [`crate::RecoveryMode`] that skips damage.
    #[error("{}", corruption_message(segment, *offset, *lsns))]
    Corruption {
        /// The segment file the damage is in (for a missing segment: the
        /// one after the gap).
        segment: PathBuf,
        /// The byte offset in that file where the damage starts (0 for a
        /// segment's header).
        offset: u64,
        /// The LSNs lost or affected, inclusive, when the layer knows them.
        lsns: Option<(Lsn, Lsn)>,
        /// The layer's error, naming the damage.
        #[source]
        source: Layer,
    },
    /// [`crate::RecoveryMode::AbsoluteConsistency`] found a torn tail (the
    /// last records of a crashed writer, never acknowledged): that mode
    /// accepts only a clean end. Open in the default mode to cut it.
    #[error(
        "torn tail in {} at offset {offset} (absolute consistency mode accepts only a clean end)",
        segment.display()
    )]
    TornTail {
        /// The last segment.
        segment: PathBuf,
        /// Where the valid data ends.
        offset: u64,
    },
    /// The log is encrypted with a key the options do not provide.
    #[error(
        "the log is encrypted with key id {key_id}, and no key with that id was provided; pass the log's key"
    )]
    MissingKey {
        /// The key the log needs.
        key_id: KeyId,
        /// The segment that needs it, when reading.
        segment: Option<PathBuf>,
    },
    /// The key provided under this id is not the one the log was
    /// encrypted with (the key check does not authenticate it). A
    /// configuration mistake, not damage: nothing was changed.
    #[error("wrong key for key id {key_id}: it does not authenticate the log's segments")]
    WrongKey {
        /// The key id whose key is wrong.
        key_id: KeyId,
        /// A segment encrypted under that id.
        segment: Option<PathBuf>,
    },
    /// A suffix truncation point inside an atomic batch; nothing changed.
    /// Truncate at the batch's first LSN instead.
    #[error("cannot truncate at lsn {lsn}: it is inside the atomic batch starting at lsn {batch}")]
    InsideBatch {
        /// The LSN asked for.
        lsn: Lsn,
        /// The first LSN of the batch.
        batch: Lsn,
    },
    /// The records asked for were purged (their segments removed). Read
    /// from the oldest LSN the log still holds.
    #[error("lsn {lsn} was purged from the log (its oldest record is now {oldest})")]
    Purged {
        /// The LSN asked for.
        lsn: Lsn,
        /// The oldest LSN still in the log ([`Lsn::ZERO`] if none).
        oldest: Lsn,
    },
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
    /// Anything else a layer reported (a segment of another log in the
    /// directory, a sync mode the file system cannot do, a missing
    /// feature, ...): the layer's error, as its source, says what.
    #[error("{source}")]
    Other {
        /// The layer's error.
        #[source]
        source: Layer,
    },
}

impl Error {
    /// Whether the log was poisoned by a failed write, sync or payload
    /// transform ([`Error::Poisoned`]; reopen it to recover).
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Poisoned { .. })
    }

    /// The damaged range recovery or a reader found, for an
    /// [`Error::Corruption`] that names one (its kind, extent and
    /// detail).
    #[must_use]
    pub fn corrupt_range(&self) -> Option<&CorruptRange> {
        let Error::Corruption { source, .. } = self else {
            return None;
        };
        match source.downcast_ref::<wal_reader::Error>()? {
            wal_reader::Error::Corruption(range) => Some(range),
            _ => None,
        }
    }

    /// The error of the log being poisoned by `cause` (the failure itself,
    /// or a `Poisoned` naming it).
    pub(crate) fn poisoned(cause: wal_commit::Error) -> Self {
        Error::Poisoned {
            cause: cause.root().clone(),
        }
    }
}

fn locked_message(dir: &std::path::Path, pid: Option<u32>) -> String {
    // The storage layer's words, which name the holder.
    wal_io::Error::Locked {
        path: dir.to_path_buf(),
        pid,
    }
    .to_string()
}

fn corruption_message(segment: &std::path::Path, offset: u64, lsns: Option<(Lsn, Lsn)>) -> String {
    let lsns = match lsns {
        Some((a, b)) if a == b => format!(" (lsn {a})"),
        Some((a, b)) => format!(" (lsns {a}..={b})"),
        None => String::new(),
    };
    format!(
        "the log is damaged in {} at offset {offset}{lsns}; restore it from a replica or recover it in a mode that skips damage",
        segment.display()
    )
}

// The mapping of every layer's error to the flat cases: this is the one
// place it is written.

impl From<wal_commit::Error> for Error {
    fn from(e: wal_commit::Error) -> Self {
        use wal_commit::Error as C;
        match e {
            C::Poisoned(_) => Error::poisoned(e),
            C::Closed => Error::Closed,
            C::TooLarge { len, max } => Error::TooLarge { len, max },
            C::InvalidBatch(reason) => Error::InvalidBatch { reason },
            C::InvalidOption { name, reason } => Error::InvalidOption { name, reason },
            C::Io(ref io) => match &**io {
                // A failed write or sync: the call that failed poisoned
                // the log, as every later call will say.
                wal_io::Error::Io { .. } | wal_io::Error::Failed { .. } => Error::poisoned(e),
                other => io_case(other).unwrap_or(Error::Other {
                    source: Box::new(e),
                }),
            },
            C::Crypto(ref c) => key_case(c, None).unwrap_or(Error::Other {
                source: Box::new(e),
            }),
            // Thread failures, and cases added later.
            _ => Error::Other {
                source: Box::new(e),
            },
        }
    }
}

impl From<wal_reader::Error> for Error {
    fn from(e: wal_reader::Error) -> Self {
        use wal_reader::Error as R;
        match e {
            // A failed storage call and a bad segment header are wal-io's.
            R::Io(io) => io.into(),
            R::Corruption(ref range) => Error::Corruption {
                segment: range.segment.clone(),
                offset: range.offset,
                lsns: range.lsns,
                source: Box::new(e),
            },
            R::TornTail { path, offset } => Error::TornTail {
                segment: path,
                offset,
            },
            R::Key {
                ref path,
                ref source,
            } => key_case(source, Some(path)).unwrap_or(Error::Other {
                source: Box::new(e),
            }),
            R::Payload {
                ref path,
                offset,
                lsn,
                ref source,
            } => {
                if let Some(key) = key_case(source, Some(path)) {
                    key
                } else if wal_reader::is_damage(source) {
                    Error::Corruption {
                        segment: path.clone(),
                        offset,
                        lsns: Some((lsn, lsn)),
                        source: Box::new(e),
                    }
                } else {
                    Error::Other {
                        source: Box::new(e),
                    }
                }
            }
            R::Purged { lsn, oldest } => Error::Purged { lsn, oldest },
            R::Closed => Error::Closed,
            R::InvalidOption { name, reason } => Error::InvalidOption { name, reason },
            // A durable record not found, a refused replay, cases added
            // later.
            _ => Error::Other {
                source: Box::new(e),
            },
        }
    }
}

impl From<wal_io::Error> for Error {
    fn from(e: wal_io::Error) -> Self {
        use wal_io::Error as W;
        match e {
            W::Io { op, path, source } => Error::Io { op, path, source },
            ref other => {
                if let Some(case) = io_case(other) {
                    return case;
                }
                match corruption_at(other) {
                    Some((segment, offset)) => Error::Corruption {
                        segment,
                        offset,
                        lsns: None,
                        source: Box::new(e),
                    },
                    None => Error::Other {
                        source: Box::new(e),
                    },
                }
            }
        }
    }
}

/// The flat case of a wal-io error that needs no source (the fields say
/// it all), if it has one.
fn io_case(e: &wal_io::Error) -> Option<Error> {
    use wal_io::Error as W;
    Some(match e {
        W::Locked { path, pid } => Error::Locked {
            dir: path.clone(),
            pid: *pid,
        },
        W::MissingDir { path } => Error::MissingDir { dir: path.clone() },
        W::NoSpace {
            path,
            needed,
            available,
        } => Error::NoSpace {
            dir: path.clone(),
            needed: *needed,
            available: *available,
        },
        W::InsideBatch { lsn, batch, .. } => Error::InsideBatch {
            lsn: *lsn,
            batch: *batch,
        },
        W::InvalidOption { name, reason } => Error::InvalidOption { name, reason },
        _ => return None,
    })
}

/// Where a wal-io error says a segment is damaged, if it says so.
fn corruption_at(e: &wal_io::Error) -> Option<(PathBuf, u64)> {
    use wal_io::Error as W;
    match e {
        W::BadSegmentHeader { path, .. } | W::NameMismatch { path, .. } => Some((path.clone(), 0)),
        W::Corrupt { path, offset, .. } | W::ReadBack { path, offset, .. } => {
            Some((path.clone(), *offset))
        }
        _ => None,
    }
}

/// The flat case of a key error, if `e` is one.
fn key_case(e: &wal_crypto::Error, segment: Option<&PathBuf>) -> Option<Error> {
    let segment = segment.cloned();
    match *e {
        wal_crypto::Error::MissingKey { key_id } => Some(Error::MissingKey { key_id, segment }),
        wal_crypto::Error::WrongKey { key_id } => Some(Error::WrongKey { key_id, segment }),
        _ => None,
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
