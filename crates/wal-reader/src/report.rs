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
    /// A file named like a segment that is not one of this log's: a
    /// segment of another log (another log id), or not a regular file (a
    /// symlink, a directory, a FIFO or device, never followed or opened).
    Foreign,
    /// Part of an encrypted log that does not authenticate under its key:
    /// a segment header (forged, spliced in from elsewhere, or not where
    /// its tag says it stands), a marker, a record's payload, or a segment
    /// without a key after an encrypted one.
    Unauthenticated,
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
            CorruptionKind::Foreign => "foreign segment",
            CorruptionKind::Unauthenticated => "unauthenticated",
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

impl CorruptRange {
    /// A segment of another log in the directory.
    pub(crate) fn foreign(
        path: PathBuf,
        expected: wal_format::LogId,
        found: wal_format::LogId,
    ) -> Self {
        CorruptRange {
            kind: CorruptionKind::Foreign,
            segment: path,
            offset: 0,
            end_offset: wal_format::SEGMENT_HEADER_LEN as u64,
            lsns: None,
            detail: format!(
                "a segment of another log (log id {found}; the log's first segment has {expected})"
            ),
        }
    }

    /// An entry named like a segment that is not a regular file.
    pub(crate) fn not_regular(path: PathBuf) -> Self {
        CorruptRange {
            kind: CorruptionKind::Foreign,
            segment: path,
            offset: 0,
            end_offset: 0,
            lsns: None,
            detail: "named like a segment but not a regular file (never followed or opened)".into(),
        }
    }
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
    /// A torn write: a partial or damaged record, a hole, or an unfinished
    /// batch or fragment chain at the end of the last segment, which no
    /// evidence on the disk (a commit marker written after it, the
    /// clean-close marker) shows was acknowledged. It was dropped.
    Torn,
}

impl RecoveryReport {
    /// Whether recovery dropped or cut anything: a torn tail, stale bytes
    /// cut, corrupt ranges skipped or discarded, segments removed.
    #[must_use]
    pub fn dropped_anything(&self) -> bool {
        self.tail == TailKind::Torn
            || self.truncated_bytes > 0
            || self.removed_segments > 0
            || !self.corrupt.is_empty()
    }

    /// One line saying what recovery dropped and why (what was cut, the
    /// LSNs, the bytes), or `None` if it dropped nothing: for a log line
    /// or a tool's standard error.
    #[must_use]
    pub fn losses(&self) -> Option<String> {
        if !self.dropped_anything() {
            return None;
        }
        let mut parts = Vec::new();
        if self.tail == TailKind::Torn {
            let at = self
                .durable_end
                .as_ref()
                .map(|p| format!(" in {} at offset {}", p.segment.display(), p.offset))
                .unwrap_or_default();
            let mut torn = format!(
                "torn tail cut{at}: {}",
                self.torn_detail.as_deref().unwrap_or("an unfinished write")
            );
            if let Some((a, b)) = self.dropped {
                torn.push_str(&format!("; lsns {a}..={b} dropped"));
            }
            parts.push(torn);
        } else if self.truncated_bytes > 0 {
            parts.push("stale bytes after the end of the data cut".to_string());
        }
        if self.truncated_bytes > 0 {
            parts.push(format!("{} bytes cut", self.truncated_bytes));
        }
        if self.removed_segments > 0 {
            parts.push(format!("{} segment(s) removed", self.removed_segments));
        }
        for range in &self.corrupt {
            parts.push(format!("{range}"));
        }
        parts.push(format!("the log continues at lsn {}", self.next_lsn));
        Some(parts.join("; "))
    }
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

/// What recovery found and did. Returned by [`recover`](crate::recover)
/// and [`recover_with`](crate::recover_with), and so by `groupwal`'s
/// `Wal::open`, which recovers with them;
/// [`RecoveryReport::losses`] says in one line what was dropped, if
/// anything.
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
    /// Valid records found after the damage that ended the data (a torn
    /// write's sectors reach the disk in any order), dropped with the torn
    /// tail, as an inclusive LSN range. None of them was proven
    /// acknowledged.
    pub dropped: Option<(Lsn, Lsn)>,
    /// The highest LSN the log's own evidence proves was acknowledged (the
    /// commit markers walked, the clean-close marker); [`Lsn::ZERO`] if
    /// none. Recovery never cuts a record at or below it: damage there is
    /// corruption.
    pub proven_lsn: Lsn,
    /// Corrupt ranges skipped ([`RecoveryMode::SkipAnyCorruptedRecords`])
    /// or discarded ([`RecoveryMode::PointInTime`]); empty in the other
    /// modes, which fail instead.
    pub corrupt: Vec<CorruptRange>,
    /// Whether the log had been closed cleanly (a valid `wal_io::CLEAN_FILE`
    /// was there): every record it names was acknowledged, and if the log
    /// ended where it says, its last segment's records were not rewritten.
    /// Otherwise resuming rewrote and synced them.
    pub clean_close: bool,
    /// How long recovery took.
    pub elapsed: Duration,
}
