//! The engine under the reader, the tailer and recovery: walks the segments
//! of a log in order, checks LSN continuity, fragment chains and batches,
//! and classifies every place where the records stop (clean end, torn tail,
//! corruption), as the recovery mode says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::{
    BatchMarker, Flags, LogicalKind, Lsn, Record, RecordHeader, RecordType, SEGMENT_HEADER_LEN,
};
use wal_io::Storage;

use crate::error::{Error, Result};
use crate::options::{ReadOptions, RecoveryMode};
use crate::report::{CorruptRange, CorruptionKind, TailKind};
use crate::scan::{Phys, ReadAhead, Scanner, Span, Stop};
use crate::segments::{self, Segment};

/// Where a yielded record's payload is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc {
    /// In the scanner's window (a full record or checkpoint).
    Window(Span),
    /// In the assembly buffer (a reassembled fragment chain).
    Assembled,
    /// Not kept (recovery scans without payloads).
    None,
}

/// A logical record found by the walker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub(crate) lsn: Lsn,
    pub(crate) kind: LogicalKind,
    pub(crate) flags: Flags,
    /// The offset of its first physical record.
    pub(crate) offset: u64,
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

const TOO_LONG: &str = "record longer than the maximum record size";
const CHAIN_TOO_LONG: &str = "fragment chain longer than the maximum record size";
const BAD_MARKER: &str = "invalid batch marker";

/// What is wrong where the records stop.
#[derive(Clone, Debug)]
enum Trouble {
    Stop(Stop),
    Sequence(&'static str),
}

/// The result of checking a physical record against the sequence.
enum Accept {
    /// Consumed (a marker, a fragment).
    Continue,
    /// A logical record completed.
    Done(Found),
    /// The record does not fit the sequence.
    Break(&'static str),
    /// A batch marker whose batch does not complete: the trouble found at
    /// an offset after it, and the LSN after the batch.
    BatchTrouble(u64, Trouble, Lsn),
    /// (Live mode) a batch that is not wholly durable yet.
    Wait,
}

/// The walker.
#[derive(Debug)]
pub(crate) struct Walker {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    pub(crate) opts: ReadOptions,
    /// Assemble fragments (readers); recovery only checks them.
    assemble: bool,
    pub(crate) segments: Vec<Segment>,
    /// The index of the segment being read, if one is open.
    seg_idx: usize,
    pub(crate) scanner: Option<Scanner>,
    /// The LSN the next logical record must have (`None`: any, for the
    /// first segment read, or after a gap skipped).
    expected: Option<Lsn>,
    /// The offset after the last complete unit (record or batch).
    commit: u64,
    /// The LSN after the last complete unit.
    commit_lsn: Lsn,
    chain: Option<Chain>,
    batch: Option<Batch>,
    pub(crate) asm: Vec<u8>,
    asm_high: usize,
    window_high: usize,
    /// Records below this LSN are walked over but not yielded.
    skip_below: Lsn,
    /// (Live mode) the highest LSN that may be yielded.
    pub(crate) limit: Option<Lsn>,
    /// Ranges skipped or discarded, in log order.
    pub(crate) corrupt: Vec<CorruptRange>,
    pub(crate) end: Option<EndState>,
    /// Sparse seek index: per segment (by first LSN and salt), unit
    /// boundaries (LSN, offset) about `index_interval` bytes apart.
    index: BTreeMap<(Lsn, u64), Vec<(Lsn, u64)>>,
    last_indexed: u64,
    /// (Live mode) how often the unit at this LSN was retried.
    retries: (Lsn, u8),
    /// (Skipping mode) where the walk last resumed after damage.
    last_resync: Option<(usize, u64)>,
    /// (Skipping mode) the ranges skipped and where the walk resumed.
    skips: Vec<Skip>,
}

/// A range skipped in skipping mode.
#[derive(Clone, Copy, Debug)]
struct Skip {
    /// Its index in `Walker::corrupt`.
    index: usize,
    segment: usize,
    /// The consistent point before it (offset, LSN).
    before: u64,
    before_lsn: Lsn,
    /// Where the walk resumed after it.
    resume: u64,
}

impl Walker {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        opts: ReadOptions,
        assemble: bool,
        segments: Vec<Segment>,
    ) -> Walker {
        Walker {
            storage,
            dir,
            opts,
            assemble,
            segments,
            seg_idx: 0,
            scanner: None,
            expected: None,
            commit: SEGMENT_HEADER_LEN as u64,
            commit_lsn: Lsn::ZERO,
            chain: None,
            batch: None,
            asm: Vec::new(),
            asm_high: 0,
            window_high: 0,
            skip_below: Lsn::ZERO,
            limit: None,
            corrupt: Vec::new(),
            end: None,
            index: BTreeMap::new(),
            last_indexed: 0,
            retries: (Lsn::ZERO, 0),
            last_resync: None,
            skips: Vec::new(),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The largest buffer capacities seen: the window and the assembly
    /// buffer.
    pub(crate) fn high_water(&self) -> usize {
        let window = self
            .scanner
            .as_ref()
            .map_or(0, Scanner::window_capacity)
            .max(self.window_high);
        window.saturating_add(self.asm_high.max(self.asm.capacity()))
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
        self.seg_idx.saturating_add(1) >= self.segments.len()
    }

    fn current_path(&self) -> PathBuf {
        self.segments
            .get(self.seg_idx)
            .map(|s| s.path.clone())
            .unwrap_or_else(|| self.dir.clone())
    }

    /// Positions the walker so the next record yielded is `lsn` (or the
    /// first after it). Uses the segment names (binary search) and the
    /// sparse index, then walks forward.
    pub(crate) fn seek(&mut self, lsn: Lsn) -> Result<()> {
        self.end = None;
        self.corrupt.clear();
        self.skips.clear();
        self.last_resync = None;
        let oldest = self.oldest();
        if self.segments.is_empty() {
            self.seg_idx = 0;
            self.scanner = None;
            self.expected = None;
            self.skip_below = lsn;
            return Ok(());
        }
        if lsn < oldest && lsn != Lsn::ZERO {
            return Err(Error::Purged { lsn, oldest });
        }
        let idx = self
            .segments
            .partition_point(|s| s.first_lsn() <= lsn)
            .saturating_sub(1);
        self.open_segment(idx, false)?;
        if let Some(seg) = self.segments.get(idx) {
            let key = (seg.first_lsn(), seg.header.salt.get());
            if let Some(points) = self.index.get(&key) {
                let i = points.partition_point(|&(l, _)| l <= lsn);
                if let Some(&(l, off)) = i.checked_sub(1).and_then(|i| points.get(i)) {
                    if let Some(s) = self.scanner.as_mut() {
                        s.offset = off;
                    }
                    self.commit = off;
                    self.commit_lsn = l;
                    self.expected = Some(l);
                    self.last_indexed = off;
                }
            }
        }
        self.skip_below = lsn;
        Ok(())
    }

    /// Opens segment `idx`, checking that it continues the LSNs (when
    /// `check` and the walker knows what comes next).
    fn open_segment(&mut self, idx: usize, check: bool) -> Result<bool> {
        let mut buf = Vec::new();
        let mut ahead = None;
        if let Some(s) = self.scanner.take() {
            self.window_high = self.window_high.max(s.window_capacity());
            (buf, ahead) = s.into_parts();
        }
        if ahead.is_none() && self.opts.read_ahead {
            ahead = Some(ReadAhead::new(self.opts.buffer_size));
        }
        let Some(seg) = self.segments.get(idx).cloned() else {
            return Ok(true);
        };
        self.seg_idx = idx;
        self.chain = None;
        self.batch = None;
        self.commit = SEGMENT_HEADER_LEN as u64;
        self.last_indexed = self.commit;
        let first = seg.first_lsn();
        if let (true, Some(expected)) = (check, self.expected)
            && expected != first
        {
            let (kind, lsns, detail) = if first > expected {
                (
                    CorruptionKind::LsnGap,
                    Some((expected, first.checked_prev().unwrap_or(first))),
                    format!(
                        "the previous segment ends before lsn {expected}, this one starts at {first}"
                    ),
                )
            } else {
                (
                    CorruptionKind::Overlap,
                    Some((first, expected.checked_prev().unwrap_or(expected))),
                    format!(
                        "the previous segment reaches lsn {}, this one starts at {first}",
                        expected.checked_prev().unwrap_or(expected)
                    ),
                )
            };
            let range = CorruptRange {
                kind,
                segment: seg.path.clone(),
                offset: 0,
                end_offset: SEGMENT_HEADER_LEN as u64,
                lsns,
                detail,
            };
            match self.opts.mode {
                RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                    return Err(Error::Corruption(Box::new(range)));
                }
                RecoveryMode::PointInTime => {
                    // The log ends where the previous segment's data ends;
                    // `self.end` was prepared by the caller.
                    tracing::warn!(%range, "point-in-time recovery: discarding the log from here");
                    self.corrupt.push(range);
                    return Ok(false);
                }
                RecoveryMode::SkipAnyCorruptedRecords => {
                    tracing::warn!(%range, "skipping corrupt range");
                    self.corrupt.push(range);
                }
            }
        }
        self.expected = Some(first);
        self.commit_lsn = first;
        self.scanner = Some(Scanner::open(
            &*self.storage,
            &seg,
            self.opts.max_payload_len,
            self.opts.buffer_size,
            buf,
            ahead,
        )?);
        Ok(true)
    }

    /// Walks to the next logical record to yield.
    #[inline]
    pub(crate) fn advance(&mut self) -> Result<Step> {
        match self.next_full() {
            Some(found) => Ok(Step::Record(found)),
            None => self.advance_slow(),
        }
    }

    /// The common case of [`Walker::advance`], without reading, stops or
    /// state changes beyond one record: the next record is a valid full
    /// record, whole in the scanner's window, that continues the sequence
    /// and is to be yielded. `None` for anything else, with nothing
    /// changed: [`Walker::advance_slow`] then takes it from the start.
    #[inline]
    fn next_full(&mut self) -> Option<Found> {
        if self.end.is_some() || self.limit.is_some() {
            return None;
        }
        let scanner = self.scanner.as_mut()?;
        let at = scanner.offset;
        let phys = scanner.next_in_window()?;
        let h = phys.header;
        if h.record_type != RecordType::Full
            || h.lsn < self.skip_below
            || self.expected.is_none()
            || self.breaks_full(&phys).is_some()
        {
            if let Some(s) = self.scanner.as_mut() {
                s.offset = at;
            }
            return None;
        }
        self.retries = (Lsn::ZERO, 0);
        Some(self.complete_full(&phys, LogicalKind::Data))
    }

    /// Why the full record or checkpoint `phys` cannot come next, if it
    /// cannot.
    fn breaks_full(&self, phys: &Phys) -> Option<&'static str> {
        let h = &phys.header;
        if h.lsn == Lsn::MAX {
            // No record can follow it.
            Some("lsn at the largest value")
        } else if self.chain.is_some() {
            Some("fragment chain interrupted by another record")
        } else if h.lsn != self.expected.unwrap_or(h.lsn) {
            Some("lsn out of sequence")
        } else if phys.payload_len > self.opts.max_record_len {
            Some(TOO_LONG)
        } else {
            None
        }
    }

    /// Completes the full record or checkpoint `phys` (which
    /// [`Walker::breaks_full`] accepted).
    fn complete_full(&mut self, phys: &Phys, kind: LogicalKind) -> Found {
        let loc = if self.assemble {
            Loc::Window(phys.span())
        } else {
            Loc::None
        };
        self.complete(phys.header, kind, phys.offset, phys.end(), loc)
    }

    #[inline(never)]
    fn advance_slow(&mut self) -> Result<Step> {
        loop {
            if self.end.is_some() {
                return Ok(Step::End);
            }
            if self.scanner.is_none() {
                if self.segments.is_empty() && self.limit.is_none() {
                    self.end = Some(EndState {
                        segment: None,
                        offset: SEGMENT_HEADER_LEN as u64,
                        next_lsn: self.skip_below.max(Lsn::FIRST),
                        tail: TailKind::Clean,
                        torn_detail: None,
                        dropped: None,
                        cut: false,
                        early: false,
                    });
                    continue;
                }
                if self.limit.is_some() {
                    // Live: the log may have had no segment yet.
                    self.relist()?;
                    if self.segments.is_empty() {
                        return Ok(Step::Wait);
                    }
                    let target = self.skip_below;
                    self.seek(target)?;
                    if self.scanner.is_none() {
                        return Ok(Step::Wait);
                    }
                    continue;
                }
                self.open_segment(self.seg_idx, false)?;
                continue;
            }
            // Live mode: do not start a unit that is not durable yet.
            if let (Some(limit), Some(expected), None, None) =
                (self.limit, self.expected, self.chain, self.batch)
                && expected > limit
            {
                return Ok(Step::Wait);
            }
            let Some(scanner) = self.scanner.as_mut() else {
                continue;
            };
            let at = scanner.offset;
            match scanner.next()? {
                Ok(phys) => match self.accept(phys)? {
                    Accept::Continue => {}
                    Accept::Wait => return Ok(Step::Wait),
                    Accept::Done(found) => {
                        self.retries = (Lsn::ZERO, 0);
                        if found.lsn >= self.skip_below {
                            return Ok(Step::Record(found));
                        }
                    }
                    Accept::Break(reason) => {
                        let t = Trouble::Sequence(reason);
                        if let Some(step) = self.trouble(phys.offset, t, None)? {
                            return Ok(step);
                        }
                    }
                    Accept::BatchTrouble(x, t, end) => {
                        if let Some(step) = self.trouble(x, t, Some(end))? {
                            return Ok(step);
                        }
                    }
                },
                Err(stop) => {
                    if let Some(step) = self.trouble(at, Trouble::Stop(stop), None)? {
                        return Ok(step);
                    }
                }
            }
        }
    }

    /// Checks a physical record against the sequence and does what it says.
    fn accept(&mut self, phys: Phys) -> Result<Accept> {
        let h = phys.header;
        if h.lsn == Lsn::MAX {
            // No record can follow it.
            return Ok(Accept::Break("lsn at the largest value"));
        }
        let expected = self.expected.unwrap_or(h.lsn);
        match h.record_type {
            RecordType::Batch => {
                if self.chain.is_some() || self.batch.is_some() {
                    return Ok(Accept::Break(
                        "batch marker inside a batch or fragment chain",
                    ));
                }
                if h.lsn != expected {
                    return Ok(Accept::Break("batch marker lsn out of sequence"));
                }
                let Some(scanner) = self.scanner.as_ref() else {
                    return Ok(Accept::Continue);
                };
                let record = Record {
                    header: h,
                    payload: scanner.payload(&phys),
                };
                let Ok(marker) = BatchMarker::decode(&record) else {
                    return Ok(Accept::Break(BAD_MARKER));
                };
                let end = h.lsn.checked_add(u64::from(marker.count()));
                let Some(end) = end else {
                    return Ok(Accept::Break(BAD_MARKER));
                };
                // Live mode: a batch is durable as a whole or not at all.
                if let Some(limit) = self.limit
                    && end.checked_prev().is_some_and(|last| last > limit)
                {
                    if let Some(s) = self.scanner.as_mut() {
                        s.offset = phys.offset;
                    }
                    return Ok(Accept::Wait);
                }
                match self.verify_batch(phys.end(), h.lsn, end)? {
                    None => {
                        self.expected = Some(h.lsn);
                        self.batch = Some(Batch { end });
                        Ok(Accept::Continue)
                    }
                    // The batch (from `commit`, its marker) is what is lost;
                    // the trouble is further on.
                    Some((at, trouble)) => Ok(Accept::BatchTrouble(at, trouble, end)),
                }
            }
            RecordType::Full | RecordType::Checkpoint => {
                if let Some(reason) = self.breaks_full(&phys) {
                    return Ok(Accept::Break(reason));
                }
                let kind = if h.record_type == RecordType::Checkpoint {
                    LogicalKind::Checkpoint
                } else {
                    LogicalKind::Data
                };
                Ok(Accept::Done(self.complete_full(&phys, kind)))
            }
            RecordType::First => {
                if self.chain.is_some() {
                    return Ok(Accept::Break(
                        "fragment chain interrupted by another record",
                    ));
                }
                if h.lsn != expected {
                    return Ok(Accept::Break("lsn out of sequence"));
                }
                self.chain = Some(Chain {
                    lsn: h.lsn,
                    flags: h.flags,
                    offset: phys.offset,
                    len: 0,
                });
                self.asm.clear();
                self.grow_chain(&phys)
            }
            RecordType::Middle | RecordType::Last => {
                let Some(chain) = self.chain else {
                    return Ok(Accept::Break("fragment without a first fragment"));
                };
                if chain.lsn != h.lsn {
                    return Ok(Accept::Break(
                        "fragment lsn differs from its first fragment's",
                    ));
                }
                if chain.flags != h.flags {
                    return Ok(Accept::Break(
                        "fragment flags differ from its first fragment's",
                    ));
                }
                if let Accept::Break(r) = self.grow_chain(&phys)? {
                    return Ok(Accept::Break(r));
                }
                if h.record_type == RecordType::Last {
                    let loc = if self.assemble {
                        Loc::Assembled
                    } else {
                        Loc::None
                    };
                    self.chain = None;
                    return Ok(Accept::Done(self.complete(
                        h,
                        LogicalKind::Data,
                        chain.offset,
                        phys.end(),
                        loc,
                    )));
                }
                Ok(Accept::Continue)
            }
            _ => Ok(Accept::Break("unknown record type")),
        }
    }

    fn grow_chain(&mut self, phys: &Phys) -> Result<Accept> {
        let Some(chain) = self.chain.as_mut() else {
            return Ok(Accept::Continue);
        };
        chain.len = chain.len.saturating_add(phys.payload_len);
        if chain.len > self.opts.max_record_len {
            return Ok(Accept::Break(CHAIN_TOO_LONG));
        }
        if self.assemble && chain.lsn >= self.skip_below {
            let Some(scanner) = self.scanner.as_ref() else {
                return Ok(Accept::Continue);
            };
            let payload = scanner.payload(phys);
            let need = self.asm.len().saturating_add(payload.len());
            if need > self.asm.capacity() {
                // Double, but never past the maximum record size.
                let target = need
                    .max(self.asm.capacity().saturating_mul(2))
                    .min(self.opts.max_record_len);
                self.asm
                    .reserve_exact(target.saturating_sub(self.asm.len()));
            }
            self.asm.extend_from_slice(payload);
            self.asm_high = self.asm_high.max(self.asm.capacity());
        }
        Ok(Accept::Continue)
    }

    /// A logical record is complete: advance the sequence.
    fn complete(
        &mut self,
        h: RecordHeader,
        kind: LogicalKind,
        offset: u64,
        end: u64,
        loc: Loc,
    ) -> Found {
        let next = h.lsn.checked_next().unwrap_or(Lsn::MAX);
        self.expected = Some(next);
        let unit_done = match self.batch {
            Some(b) => next >= b.end,
            None => true,
        };
        if unit_done {
            self.batch = None;
            self.commit = end;
            self.commit_lsn = next;
            if end.saturating_sub(self.last_indexed) >= self.opts.index_interval
                && let Some(seg) = self.segments.get(self.seg_idx)
            {
                self.last_indexed = end;
                let points = self
                    .index
                    .entry((seg.first_lsn(), seg.header.salt.get()))
                    .or_default();
                if points.last().is_none_or(|&(l, _)| l < next) {
                    points.push((next, end));
                }
            }
        }
        Found {
            lsn: h.lsn,
            kind,
            flags: h.flags,
            offset,
            loc,
        }
    }
}

impl Walker {
    /// Checks, without yielding anything, that the batch whose marker ends
    /// at `from` is complete: records `first .. end` follow, whole. Returns
    /// where and why it is not. The scanner is left at `from`.
    fn verify_batch(&mut self, from: u64, first: Lsn, end: Lsn) -> Result<Option<(u64, Trouble)>> {
        let max = self.opts.max_record_len;
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(None);
        };
        let mut expected = first;
        let mut chain: Option<(Lsn, Flags, usize)> = None;
        let result = loop {
            let at = scanner.offset;
            let p = match scanner.next()? {
                Ok(p) => p,
                Err(stop) => break Some((at, Trouble::Stop(stop))),
            };
            let h = p.header;
            let step: std::result::Result<bool, &'static str> = match (h.record_type, chain) {
                (RecordType::Full | RecordType::Checkpoint, None) => {
                    if h.lsn != expected {
                        Err("lsn out of sequence")
                    } else if p.payload_len > max {
                        Err(TOO_LONG)
                    } else {
                        Ok(true)
                    }
                }
                (RecordType::First, None) => {
                    if h.lsn == expected {
                        chain = Some((h.lsn, h.flags, p.payload_len));
                        Ok(false)
                    } else {
                        Err("lsn out of sequence")
                    }
                }
                (RecordType::Middle | RecordType::Last, Some((lsn, flags, len))) => {
                    let len = len.saturating_add(p.payload_len);
                    if lsn != h.lsn || flags != h.flags {
                        Err("fragment does not continue its chain")
                    } else if len > max {
                        Err(CHAIN_TOO_LONG)
                    } else if h.record_type == RecordType::Last {
                        chain = None;
                        Ok(true)
                    } else {
                        chain = Some((lsn, flags, len));
                        Ok(false)
                    }
                }
                (RecordType::Batch, _) => Err("batch marker inside a batch"),
                (RecordType::Middle | RecordType::Last, None) => {
                    Err("fragment without a first fragment")
                }
                _ => Err("fragment chain interrupted by another record"),
            };
            match step {
                Err(reason) => break Some((p.offset, Trouble::Sequence(reason))),
                Ok(true) => {
                    expected = expected.checked_next().unwrap_or(Lsn::MAX);
                    if expected >= end {
                        break None;
                    }
                }
                Ok(false) => {}
            }
        };
        scanner.offset = from;
        Ok(result)
    }

    /// The first valid record after `from` in the current segment with an
    /// LSN at or above `min` (any type), or, with `starts_only`, a record
    /// that starts a unit (full, first fragment, checkpoint, batch marker).
    fn find_valid(&mut self, from: u64, min: Lsn, starts_only: bool) -> Result<Option<Phys>> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(None);
        };
        let accept = |h: &RecordHeader| {
            h.lsn >= min
                && (!starts_only
                    || matches!(
                        h.record_type,
                        RecordType::Full
                            | RecordType::First
                            | RecordType::Checkpoint
                            | RecordType::Batch
                    ))
        };
        scanner.find_valid(from, &accept)
    }

    /// The end of the last valid record (LSN at or above `min`) of the
    /// current segment at or after the record `first`, and the highest LSN
    /// among them.
    fn last_valid_end(&mut self, first: Phys, min: Lsn) -> Result<(u64, Lsn)> {
        let mut end = first.end();
        let mut high = first.header.lsn;
        let mut from = first.end();
        while let Some(scanner) = self.scanner.as_mut() {
            scanner.offset = from;
            // Follow valid records; at a stop, look for the next valid one.
            let stop_at = loop {
                let at = scanner.offset;
                match scanner.next()? {
                    Ok(p) if p.header.lsn >= min => {
                        end = p.end();
                        high = high.max(p.header.lsn);
                    }
                    Ok(_) => {}
                    Err(_) => break at,
                }
            };
            match self.find_valid(stop_at.saturating_add(1), min, false)? {
                Some(p) => {
                    end = end.max(p.end());
                    high = high.max(p.header.lsn);
                    from = p.end();
                }
                None => break,
            }
        }
        Ok((end, high))
    }

    fn file_size(&self) -> Result<u64> {
        match self.scanner.as_ref() {
            Some(s) => s.file_size(),
            None => Ok(0),
        }
    }

    /// Ends the walk: the log's data ends at `commit` in the current
    /// segment.
    fn finish(&mut self, tail: TailKind, detail: Option<String>, dropped: Option<(Lsn, Lsn)>) {
        // Skipping mode: a range skipped in this segment is part of the
        // tail if nothing was kept after it, or if all that was kept after
        // it ends within the torn write window: once this recovery cuts the
        // tail, the next one would see it so. The log ends before it.
        let (mut tail, mut detail, mut dropped) = (tail, detail, dropped);
        loop {
            let end = self.commit;
            let window = self.opts.torn_write_window;
            let found = self
                .skips
                .iter()
                .filter(|k| {
                    k.segment == self.seg_idx
                        && k.before <= end
                        && (end == k.resume || end.saturating_sub(k.before) <= window)
                })
                .min_by_key(|k| k.before)
                .copied();
            let Some(k) = found else {
                break;
            };
            self.commit = k.before;
            self.commit_lsn = k.before_lsn;
            self.corrupt.truncate(k.index);
            self.skips.retain(|o| o.index < k.index);
            tail = TailKind::Torn;
            detail = Some(format!(
                "damage at the end of the log, from offset {} (skipped ranges after it kept nothing beyond the torn write window)",
                k.before
            ));
            dropped = None;
        }
        let cut = !matches!(tail, TailKind::Clean | TailKind::ZeroFilled);
        if let Some(detail) = &detail {
            tracing::info!(
                segment = %self.current_path().display(),
                offset = self.commit,
                next_lsn = %self.commit_lsn,
                %detail,
                "end of the log's data"
            );
        }
        self.end = Some(EndState {
            segment: Some(self.seg_idx),
            offset: self.commit,
            next_lsn: self.commit_lsn,
            tail,
            torn_detail: detail,
            dropped,
            cut,
            early: false,
        });
        self.chain = None;
        self.batch = None;
    }

    /// Moves on to the next segment after a clean end of this one's data.
    fn next_segment(&mut self) -> Result<()> {
        let (prev_idx, prev_commit, prev_lsn) = (self.seg_idx, self.commit, self.commit_lsn);
        if !self.open_segment(prev_idx.saturating_add(1), true)? {
            // Point in time: the log ends where the previous segment's
            // data ended; the segments from here go.
            self.seg_idx = prev_idx;
            self.commit = prev_commit;
            self.commit_lsn = prev_lsn;
            self.end = Some(EndState {
                segment: Some(prev_idx),
                offset: prev_commit,
                next_lsn: prev_lsn,
                tail: TailKind::Torn,
                torn_detail: Some("point-in-time recovery stopped at an lsn gap".into()),
                dropped: None,
                cut: false,
                early: true,
            });
        }
        Ok(())
    }

    /// The records stop at `x` in the current segment, for reason `t`:
    /// decide whether that is the end of a segment, a torn tail or
    /// corruption, and act as the mode says. Returns a step to hand out, or
    /// `None` to carry on walking.
    fn trouble(&mut self, x: u64, t: Trouble, batch_end: Option<Lsn>) -> Result<Option<Step>> {
        let batch_end = batch_end.or(self.batch.map(|b| b.end));
        if self.limit.is_some() {
            return self.live_trouble(x, &t);
        }
        let c = self.commit;
        let c_lsn = self.commit_lsn;
        let pending = x > c || batch_end.is_some() || self.chain.is_some();
        let last = self.is_last();
        let clean_stop = matches!(&t, Trouble::Stop(s) if s.is_clean());

        // Valid records after the stop, with LSNs the log has not reached?
        let witness = match &t {
            Trouble::Stop(Stop::Eof | Stop::Incomplete) => None,
            Trouble::Sequence(_) => None,
            Trouble::Stop(_) => {
                let min = if pending {
                    c_lsn.checked_next().unwrap_or(Lsn::MAX)
                } else {
                    c_lsn
                };
                self.find_valid(x.saturating_add(1), min, false)?
            }
        };
        let sequence = matches!(t, Trouble::Sequence(_));

        if witness.is_none() && !sequence {
            if clean_stop && !pending {
                if !last {
                    self.next_segment()?;
                    return Ok(None);
                }
                let tail = match &t {
                    Trouble::Stop(Stop::ZeroFilled) => TailKind::ZeroFilled,
                    Trouble::Stop(Stop::Stale) => TailKind::Stale,
                    _ => TailKind::Clean,
                };
                self.finish(tail, None, None);
                return Ok(None);
            }
            let next_first = self
                .segments
                .get(self.seg_idx.saturating_add(1))
                .map(Segment::first_lsn);
            if !last && !pending && next_first == Some(c_lsn) {
                // Damage after the last record of a sealed segment, and the
                // next segment continues the LSNs: no record is lost (the
                // damage is in space that never held one).
                tracing::warn!(
                    segment = %self.current_path().display(),
                    offset = x,
                    "damaged bytes after the last record of a sealed segment; no record lost"
                );
                self.next_segment()?;
                return Ok(None);
            }
            if last {
                let detail = torn_detail(x, &t, pending);
                if self.opts.mode == RecoveryMode::AbsoluteConsistency {
                    return Err(Error::TornTail {
                        path: self.current_path(),
                        offset: c,
                    });
                }
                self.finish(TailKind::Torn, Some(detail), None);
                return Ok(None);
            }
        }

        // Inside the torn write window of the last segment?
        if let (Some(w), true, false) = (witness, last, sequence) {
            let min = c_lsn.checked_next().unwrap_or(Lsn::MAX);
            let (end, high) = self.last_valid_end(w, min.min(w.header.lsn))?;
            if end.saturating_sub(c) <= self.opts.torn_write_window {
                if self.opts.mode == RecoveryMode::AbsoluteConsistency {
                    return Err(Error::TornTail {
                        path: self.current_path(),
                        offset: c,
                    });
                }
                let detail = format!(
                    "{}; valid records up to lsn {high} after it lie within the torn write window",
                    torn_detail(x, &t, pending)
                );
                self.finish(TailKind::Torn, Some(detail), Some((c_lsn, high)));
                return Ok(None);
            }
        }

        // Corruption before the tail.
        let kind = match &t {
            Trouble::Sequence(_) => CorruptionKind::BadSequence,
            Trouble::Stop(s) if s.is_clean() && pending => CorruptionKind::Unfinished,
            Trouble::Stop(s) if s.is_clean() => CorruptionKind::Hole,
            Trouble::Stop(_) => CorruptionKind::DamagedRecord,
        };
        let resync_min = batch_end.unwrap_or(c_lsn).max(c_lsn);
        // Where valid data resumes: a unit start in this segment after the
        // damage (for a bad sequence, the offending record itself may be
        // one), else the next segment.
        // A valid record that broke the sequence only where it stands (an
        // LSN out of sequence, a record inside a chain) may be where the
        // walk resumes; one that is bad by itself (too long, a bad marker),
        // or one the walk already resumed at, is skipped.
        let by_itself = matches!(t, Trouble::Sequence(r) if [TOO_LONG, CHAIN_TOO_LONG, BAD_MARKER].contains(&r));
        let again = self.last_resync == Some((self.seg_idx, x));
        let resync_from = if sequence && !again && !by_itself {
            x
        } else {
            x.saturating_add(1)
        };
        let resync = self.find_valid(resync_from, resync_min, true)?;
        let path = self.current_path();
        let (end_offset, upper) = match resync {
            Some(p) => (p.offset, p.header.lsn.checked_prev()),
            None => (
                self.file_size()?,
                self.segments
                    .get(self.seg_idx.saturating_add(1))
                    .and_then(|s| s.first_lsn().checked_prev())
                    .or(witness.map(|w| w.header.lsn)),
            ),
        };
        let offset = if kind == CorruptionKind::Unfinished {
            c
        } else {
            x
        };
        let lsns = upper.map(|u| (c_lsn, u.max(c_lsn)));
        let detail = match &t {
            Trouble::Sequence(reason) => (*reason).to_string(),
            Trouble::Stop(Stop::Damaged(e)) => e.to_string(),
            Trouble::Stop(Stop::Incomplete) => "record cut short by the end of the file".into(),
            Trouble::Stop(Stop::ZeroFilled) => "zeros where a record should be".into(),
            Trouble::Stop(Stop::Stale) => "a record of an earlier use of the file".into(),
            Trouble::Stop(Stop::Eof) => "the file ends".into(),
        };
        let detail = if last {
            detail
        } else {
            format!("{detail} (later segments exist)")
        };
        let range = CorruptRange {
            kind,
            segment: path,
            offset,
            end_offset,
            lsns,
            detail,
        };
        match self.opts.mode {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            RecoveryMode::PointInTime => {
                tracing::warn!(%range, "point-in-time recovery: discarding the log from here");
                self.corrupt.push(range);
                self.finish(
                    TailKind::Torn,
                    Some("point-in-time recovery stopped at corruption".into()),
                    None,
                );
                if let Some(end) = self.end.as_mut() {
                    end.cut = true;
                    end.early = true;
                }
                Ok(None)
            }
            RecoveryMode::SkipAnyCorruptedRecords => {
                tracing::warn!(%range, "skipping corrupt range");
                self.corrupt.push(range);
                self.chain = None;
                self.batch = None;
                match resync {
                    Some(p) => {
                        self.skips.push(Skip {
                            index: self.corrupt.len().saturating_sub(1),
                            segment: self.seg_idx,
                            before: c,
                            before_lsn: c_lsn,
                            resume: p.offset,
                        });
                        self.last_resync = Some((self.seg_idx, p.offset));
                        if let Some(s) = self.scanner.as_mut() {
                            s.offset = p.offset;
                        }
                        self.commit = p.offset;
                        self.commit_lsn = p.header.lsn;
                        self.expected = Some(p.header.lsn);
                    }
                    None if !last => {
                        // Accept whatever the next segment starts with.
                        self.expected = None;
                        self.open_segment(self.seg_idx.saturating_add(1), false)?;
                    }
                    None => self.finish(
                        TailKind::Torn,
                        Some("nothing to resume at after skipped damage".into()),
                        None,
                    ),
                }
                Ok(None)
            }
        }
    }

    /// Trouble while following a live log: everything up to the limit is
    /// durable, so the records must be there. First re-read the file (the
    /// window may hold bytes read before they were written), then list the
    /// directory again and seek (a rotation or a purge), then give up.
    fn live_trouble(&mut self, x: u64, t: &Trouble) -> Result<Option<Step>> {
        let lsn = self.commit_lsn;
        let tries = if self.retries.0 == lsn {
            self.retries.1
        } else {
            0
        };
        self.retries = (lsn, tries.saturating_add(1));
        tracing::trace!(offset = x, %lsn, tries, trouble = ?t, "tailing: record not found yet");
        self.chain = None;
        self.batch = None;
        self.expected = Some(lsn);
        match tries {
            0 => {
                if let Some(s) = self.scanner.as_mut() {
                    s.offset = self.commit;
                    s.invalidate();
                }
                Ok(None)
            }
            1 => {
                self.relist()?;
                let skip = self.skip_below;
                self.seek(lsn)?;
                self.skip_below = skip;
                Ok(None)
            }
            _ => Err(match t {
                Trouble::Stop(stop) if !stop.is_clean() => {
                    Error::Corruption(Box::new(CorruptRange {
                        kind: CorruptionKind::DamagedRecord,
                        segment: self.current_path(),
                        offset: x,
                        end_offset: x,
                        lsns: Some((lsn, lsn)),
                        detail: format!("{stop:?} at a durable lsn"),
                    }))
                }
                _ => Error::Missing {
                    lsn,
                    path: self.dir.clone(),
                },
            }),
        }
    }
}

fn torn_detail(x: u64, t: &Trouble, pending: bool) -> String {
    match t {
        Trouble::Stop(Stop::Damaged(e)) => format!("damaged record at offset {x} ({e})"),
        Trouble::Stop(Stop::Incomplete) => format!("record cut short at offset {x}"),
        Trouble::Stop(_) if pending => {
            format!("unfinished batch or fragment chain, data ends at offset {x}")
        }
        Trouble::Stop(_) => format!("data ends at offset {x}"),
        Trouble::Sequence(r) => format!("{r} at offset {x}"),
    }
}
