//! The engine under the reader, the tailer and recovery: walks the segments
//! of a log in order, checks LSN continuity, fragment chains and batches,
//! and classifies every place where the records stop (clean end, torn tail,
//! corruption), as the recovery mode says.
//!
//! The walker's state is here; one module per idea does the rest. `step`
//! walks record by record; `open` opens a segment and checks that it
//! continues the LSNs, `keys` that it can be trusted; `accept` takes each
//! physical record into the sequence, `batch` checks that a batch is whole
//! before any of it is yielded; where the records stop, `survey` searches
//! what follows, `evidence` holds what the log proves was acknowledged,
//! `classify` decides what the stop is (from `fault`, what is wrong there)
//! and `apply` does what the recovery mode says; `live` follows a live log;
//! `seek` positions the walk at an LSN.

mod accept;
mod apply;
mod batch;
mod classify;
mod evidence;
mod fault;
mod keys;
mod live;
mod open;
mod seek;
mod step;
mod survey;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::{Flags, LogicalKind, Lsn, SEGMENT_HEADER_LEN};
use wal_io::Storage;

use crate::error::Result;
use crate::options::ReadOptions;
use crate::report::{CorruptRange, TailKind};
use crate::scan::{Scanner, Span};
use crate::segments::{self, Segment};

use evidence::{Evidence, Proof};
use keys::KeyChecks;
use live::Live;
use seek::SeekIndex;

/// Where a yielded record's payload is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc {
    /// In the scanner's window (a full record or checkpoint).
    Window(Span),
    /// In the assembly buffer (a reassembled fragment chain).
    Assembled,
}

/// A logical record found by the walker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub(crate) lsn: Lsn,
    pub(crate) kind: LogicalKind,
    pub(crate) flags: Flags,
    /// The offset of its first physical record.
    pub(crate) offset: u64,
    /// The offset after its last physical record.
    pub(crate) end: u64,
    /// Where the unit holding it (the record, or its batch) starts, and
    /// the LSN there: where a log cut before it ends.
    pub(crate) unit: (u64, Lsn),
    pub(crate) loc: Loc,
}

/// What [`Walker::advance`] found.
#[derive(Debug)]
pub(crate) enum Step {
    Record(Found),
    /// The end of the log's data.
    End,
    /// (Live mode) the next record is not durable yet.
    Wait,
}

/// How the log ended, once the walker got there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndState {
    /// The segment the data ends in (index into the walker's list), if any.
    pub(crate) segment: Option<usize>,
    /// The offset after the last record kept.
    pub(crate) offset: u64,
    /// The LSN the next record takes.
    pub(crate) next_lsn: Lsn,
    pub(crate) tail: TailKind,
    pub(crate) torn_detail: Option<String>,
    pub(crate) dropped: Option<(Lsn, Lsn)>,
    /// Whether bytes after `offset` in that segment are not data and must
    /// be cut (a torn tail, stale records, or, in point-in-time mode,
    /// everything after the damage).
    pub(crate) cut: bool,
    /// Point-in-time mode: the damage ended the log early; later segments
    /// must go.
    pub(crate) early: bool,
}

#[derive(Clone, Copy, Debug)]
struct Chain {
    lsn: Lsn,
    flags: Flags,
    offset: u64,
    len: usize,
}

#[derive(Clone, Copy, Debug)]
struct Batch {
    /// The LSN after the batch's last record.
    end: Lsn,
}

/// The largest buffer capacities seen, for `ReadOptions::memory_bound`'s
/// test: the read window (with the read-ahead's buffers) of the segments
/// already left, and the assembly buffer.
#[derive(Debug, Default)]
struct HighWater {
    window: usize,
    asm: usize,
}

/// Where the walk stands in the log's sequence.
#[derive(Debug)]
struct Position {
    /// The index of the segment being read, if one is open.
    seg_idx: usize,
    /// The LSN the next logical record must have (`None`: any, for the
    /// first segment read, or after a gap skipped).
    expected: Option<Lsn>,
    /// The offset after the last complete unit (record or batch): where a
    /// log cut now would end.
    commit: u64,
    /// The LSN after the last complete unit.
    commit_lsn: Lsn,
}

/// Where the walk stood before the damage it last skipped, and where it
/// resumed after it (skipping mode).
#[derive(Clone, Copy, Debug)]
struct SkippedFrom {
    seg_idx: usize,
    /// The commit point before the damage.
    commit: u64,
    commit_lsn: Lsn,
    /// Where the walk resumed after it.
    resumed_at: u64,
    /// How many corrupt ranges were found with it (it is the last).
    ranges: usize,
}

/// The unit in progress past the commit point: a fragment chain, a batch
/// (at most one of each: a chain may be inside a batch).
#[derive(Debug, Default)]
struct OpenUnit {
    chain: Option<Chain>,
    batch: Option<Batch>,
}

/// The walker.
#[derive(Debug)]
pub(crate) struct Walker {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    pub(crate) opts: ReadOptions,
    pub(crate) segments: Vec<Segment>,
    pub(crate) scanner: Option<Scanner>,
    /// Following a live log: the watermark, the retries at a stop.
    pub(crate) live: Live,
    /// Where the walk stands: segment, next LSN, the last complete unit.
    pos: Position,
    /// The fragment chain and batch in progress, if any.
    open: OpenUnit,
    pub(crate) asm: Vec<u8>,
    /// The largest buffers seen.
    high: HighWater,
    /// Records below this LSN are walked over but not yielded.
    skip_below: Lsn,
    /// Ranges skipped or discarded, in log order.
    pub(crate) corrupt: Vec<CorruptRange>,
    pub(crate) end: Option<EndState>,
    /// The highest LSN handed out.
    yielded: Lsn,
    /// The evidence of durability seen so far.
    proof: Proof,
    /// The sparse seek index.
    index: SeekIndex,
    /// (Skipping mode) where the log would have ended before the damage
    /// the walk last skipped, and where it resumed after it (which a second
    /// resync at the same damage must not pick again).
    skipped_from: Option<SkippedFrom>,
    /// What the searches after damage may still read in the segment being
    /// read (set at the first search; see [`Scanner::find_valid`]).
    scan_budget: Option<u64>,
    /// With keys: the current segment's decryptor, the forged segments.
    keys: KeyChecks,
}

impl Walker {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        opts: ReadOptions,
        segments: Vec<Segment>,
    ) -> Walker {
        Walker {
            storage,
            keys: KeyChecks::default(),
            open: OpenUnit::default(),
            pos: Position {
                seg_idx: 0,
                expected: None,
                commit: SEGMENT_HEADER_LEN as u64,
                commit_lsn: Lsn::ZERO,
            },
            high: HighWater::default(),
            index: SeekIndex::default(),
            proof: Proof {
                best: Evidence::NONE,
                clean: None,
            },
            live: Live::default(),
            dir,
            opts,
            segments,
            scanner: None,
            asm: Vec::new(),
            skip_below: Lsn::ZERO,
            corrupt: Vec::new(),
            end: None,
            yielded: Lsn::ZERO,
            skipped_from: None,
            scan_budget: None,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the segment being read.
    pub(crate) fn current_segment(&self) -> Option<&Path> {
        self.segments
            .get(self.pos.seg_idx)
            .map(|s| s.path.as_path())
    }

    /// The largest buffer capacities seen: the window and the assembly
    /// buffer.
    pub(crate) fn high_water(&self) -> usize {
        let window = self
            .scanner
            .as_ref()
            .map_or(0, Scanner::window_capacity)
            .max(self.high.window);
        window.saturating_add(self.high.asm.max(self.asm.capacity()))
    }

    /// The oldest LSN in the listed segments.
    pub(crate) fn oldest(&self) -> Lsn {
        self.segments.first().map_or(Lsn::ZERO, Segment::first_lsn)
    }

    pub(crate) fn relist(&mut self) -> Result<()> {
        self.segments = segments::list(&*self.storage, &self.dir)?;
        Ok(())
    }

    fn is_last(&self) -> bool {
        self.pos.seg_idx.saturating_add(1) >= self.segments.len()
    }

    fn current_path(&self) -> PathBuf {
        self.segments
            .get(self.pos.seg_idx)
            .map(|s| s.path.clone())
            .unwrap_or_else(|| self.dir.clone())
    }

    fn file_size(&self) -> Result<u64> {
        match self.scanner.as_ref() {
            Some(s) => s.file_size(),
            None => Ok(0),
        }
    }
}
