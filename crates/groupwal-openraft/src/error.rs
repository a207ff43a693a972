//! The crate's error type.

use openraft::{AnyError, ErrorSubject, ErrorVerb, NodeId, StorageError, StorageIOError};

/// Everything that can go wrong storing a Raft group's log in groupwal.
/// openraft sees it as the source of a [`StorageError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log failed (a failed write or sync poisons it: reopen it to
    /// recover).
    #[error(transparent)]
    Wal(#[from] groupwal::Error),
    /// Group ids with the top bit set are reserved: they name the groups'
    /// metadata streams (see the crate docs, "Layout").
    #[error("group id {0:#x} has the top bit set; those stream ids hold the groups' metadata")]
    GroupId(u64),
    /// An entry or the metadata could not be encoded.
    #[error("group {group}: encoding {what} failed")]
    Encode {
        /// The group.
        group: u64,
        /// `"entry"` or `"metadata"`.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Bytes read back do not decode as what was stored there: the log was
    /// not written by this crate as it is.
    #[error("group {group}: the {what} stored at stream index {index} does not decode")]
    Decode {
        /// The group.
        group: u64,
        /// `"entry"` or `"metadata"`.
        what: &'static str,
        /// Its index in its stream.
        index: u64,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// An entry read back names another Raft index than the one it is
    /// stored at.
    #[error("group {group}: the entry stored for raft index {index} says it is {found}")]
    Misplaced {
        /// The group.
        group: u64,
        /// The Raft index it is stored at.
        index: u64,
        /// The Raft index it names.
        found: u64,
    },
    /// Entries appended out of sequence: not at the log's next index, or
    /// not consecutive among themselves. Nothing was written.
    #[error("group {group}: entry at raft index {got} appended where {expected} was due")]
    NotConsecutive {
        /// The group.
        group: u64,
        /// The index due.
        expected: u64,
        /// The index given.
        got: u64,
    },
    /// A truncation that would remove purged entries (Raft never asks for
    /// one: purged entries are committed).
    #[error(
        "group {group}: truncation from raft index {index}, but entries through {purged} were purged"
    )]
    TruncatePurged {
        /// The group.
        group: u64,
        /// The index asked for.
        index: u64,
        /// The last purged index.
        purged: u64,
    },
    /// An entry the log's index lists was not found in it.
    #[error("group {group}: stream index {index} is missing")]
    Missing {
        /// The group.
        group: u64,
        /// Its index in the stream.
        index: u64,
    },
    /// The task a blocking call ran on failed (it panicked, or its
    /// runtime is shutting down).
    #[error("the blocking task failed: {0}")]
    Task(String),
}

impl Error {
    /// As openraft's [`StorageError`], about `subject`, while doing `verb`.
    pub(crate) fn storage<NID: NodeId>(
        &self,
        subject: ErrorSubject<NID>,
        verb: ErrorVerb,
    ) -> StorageError<NID> {
        StorageIOError::new(subject, verb, AnyError::new(self)).into()
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
