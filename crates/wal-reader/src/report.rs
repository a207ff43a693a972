//! What recovery found: the recovery report and corrupt ranges.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use wal_format::Lsn;

use crate::options::RecoveryMode;

/// What kind of damage a [`CorruptRange`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// Bytes that are not a valid record (a checksum, length or field
    /// fails), with valid records of later LSNs after them.
    DamagedRecord,
    /// Zeros or stale records where records should be, with valid records
    /// of later LSNs after them.
    Hole,
    /// A valid record that does not continue the log (an LSN out of
    /// sequence, a fragment without its chain, a batch marker inside a
    /// batch or chain).
    BadSequence,
    /// A batch or fragment chain cut short, with more of the log after it.
    Unfinished,
    /// The LSNs between two segments do not follow: a segment is missing,
    /// or records at the end of a segment were lost.
    LsnGap,
    /// Two segments claim the same LSNs.
    Overlap,
}

impl fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CorruptionKind::DamagedRecord => "damaged record",
            CorruptionKind::Hole => "hole",
            CorruptionKind::BadSequence => "record out of sequence",
            CorruptionKind::Unfinished => "unfinished batch or fragment chain",
            CorruptionKind::LsnGap => "lsn gap",
            CorruptionKind::Overlap => "overlapping segments",
        })
    }
}

/// A damaged range of the log, before its tail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorruptRange {
    /// What kind of damage.
    pub kind: CorruptionKind,
    /// The segment file it is in (for a gap: the segment after it).
    pub segment: PathBuf,
    /// The byte offset in that file where the damage starts (the start of
    /// the damaged record, or of the batch or chain it breaks).
    pub offset: u64,
    /// Where the valid data resumes in that file (the next valid record, or
    /// the end of the file if none).
    pub end_offset: u64,
    /// The LSNs lost or affected, inclusive, when they are known (from the
    /// last good record and the next valid one).
    pub lsns: Option<(Lsn, Lsn)>,
    /// What exactly is wrong.
    pub detail: String,
}

impl fmt::Display for CorruptRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {} at offset {}",
            self.kind,
            self.segment.display(),
            self.offset
        )?;
        if let Some((a, b)) = self.lsns {
            write!(f, " (lsns {a}..={b})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// How the log's data ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TailKind {
    /// The log is empty, or its last segment ends exactly after its last
    /// record.
    Clean,
    /// Zeros follow the last record (preallocated space).
    ZeroFilled,
    /// Records of an earlier use of the file follow (a recycled segment).
    Stale,
    /// A torn write: a partial or damaged record, or an unfinished batch or
    /// fragment chain, with nothing valid after it (or only within the torn
    /// write window). It was dropped.
    Torn,
}

/// A position in the log: a segment file and a byte offset in it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Position {
    /// The segment file.
    pub segment: PathBuf,
    /// The segment's first LSN.
    pub segment_first_lsn: Lsn,
    /// The byte offset.
    pub offset: u64,
}

/// What recovery found and did. Returned by [`crate::recover`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The mode recovery ran in.
    pub mode: RecoveryMode,
    /// Segments in the log after recovery.
    pub segments: usize,
    /// The first LSN of the log's oldest segment ([`Lsn::ZERO`] if none).
    pub first_lsn: Lsn,
    /// The last record kept ([`Lsn::ZERO`] if the log is empty).
    pub last_lsn: Lsn,
    /// The LSN the next append takes.
    pub next_lsn: Lsn,
    /// Where the valid data ends: the next append goes here (`None` for a
    /// log without segments).
    pub durable_end: Option<Position>,
    /// How the data ended.
    pub tail: TailKind,
    /// Where the torn tail was found and why it is one (for
    /// [`TailKind::Torn`]).
    pub torn_detail: Option<String>,
    /// Bytes cut from the end of the last segment (a torn tail or stale
    /// records; zeros are left in place). With
    /// [`RecoveryMode::PointInTime`], bytes cut from the damaged segment.
    pub truncated_bytes: u64,
    /// Segments removed ([`RecoveryMode::PointInTime`] only: those after
    /// the damage).
    pub removed_segments: usize,
    /// Valid-looking records dropped with a torn tail (inside the torn
    /// write window), as an inclusive LSN range.
    pub dropped: Option<(Lsn, Lsn)>,
    /// Corrupt ranges skipped ([`RecoveryMode::SkipAnyCorruptedRecords`])
    /// or discarded ([`RecoveryMode::PointInTime`]); empty in the other
    /// modes, which fail instead.
    pub corrupt: Vec<CorruptRange>,
    /// Whether the log had been closed cleanly (`wal_io::CLEAN_FILE` was
    /// there): its last segment's records were known to be on the disk and
    /// were not rewritten. Otherwise resuming rewrote and synced them.
    pub clean_close: bool,
    /// How long recovery took.
    pub elapsed: Duration,
}
