//! Walking record by record: the fast path (a full record, whole in the
//! read window, that continues the sequence), the general loop that opens
//! segments and meets stops, and the start of a log without segments.

use wal_format::{LogicalKind, Lsn, RecordType, SEGMENT_HEADER_LEN};

use super::accept::Accept;
use super::fault::Fault;
use super::open::Continuity;
use super::{EndState, Found, Step, Walker};
use crate::error::{Error, Result};
use crate::options::RecoveryMode;
use crate::report::{CorruptRange, CorruptionKind, TailKind};

impl Walker {
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
        if self.end.is_some() || self.live.limit.is_some() {
            return None;
        }
        let scanner = self.scanner.as_mut()?;
        let at = scanner.offset;
        let phys = scanner.next_in_window()?;
        let h = phys.header;
        if h.record_type != RecordType::Full
            || h.lsn < self.skip_below
            || self.pos.expected.is_none()
            || self.breaks_full(&phys).is_some()
        {
            if let Some(s) = self.scanner.as_mut() {
                s.offset = at;
            }
            return None;
        }
        let kind = LogicalKind::of(h.record_type, h.flags).unwrap_or(LogicalKind::Data);
        let found = self.complete_full(&phys, kind);
        self.progressed(found.lsn);
        Some(found)
    }

    /// A record at `lsn` is handed out: the tries at a stop below it are
    /// over (re-walking records before a stop after a seek does not count:
    /// they are not handed out again), and nothing at or below it is ever
    /// handed out again.
    fn progressed(&mut self, lsn: Lsn) {
        if lsn >= self.live.retries.0 {
            self.live.retries = (Lsn::ZERO, 0);
        }
        self.yielded = self.yielded.max(lsn);
    }

    /// [`Walker::advance`] in general: walks record by record, opening
    /// segments and handling stops, until a record to yield, the end of
    /// the log's data, or (live) the next record is not durable yet.
    #[inline(never)]
    fn advance_slow(&mut self) -> Result<Step> {
        loop {
            if self.end.is_some() {
                return Ok(Step::End);
            }
            let step = if self.scanner.is_none() {
                self.no_segment_open()?
            } else if self.not_durable_yet() {
                Some(Step::Wait)
            } else {
                self.walk_one()?
            };
            if let Some(step) = step {
                return Ok(step);
            }
        }
    }

    /// No segment is open: the walk starts. With no segment file the log
    /// is empty (after checking the clean-close marker agrees), or, live,
    /// has no segment yet; else the segment to read is opened. Returns a
    /// step to hand out, or `None` to carry on walking.
    fn no_segment_open(&mut self) -> Result<Option<Step>> {
        if self.live.limit.is_some() {
            return self.live_start();
        }
        if self.segments.is_empty() {
            self.check_clean_without_segments()?;
            self.end_empty();
            return Ok(None);
        }
        self.open_segment(self.pos.seg_idx, Continuity::Any)?;
        Ok(None)
    }

    /// No segment file, yet the clean-close marker says the log was
    /// closed after records (its next LSN is past the first): those
    /// records were durable, and their segments are gone. Corruption,
    /// handled by the mode (an error, or noted).
    fn check_clean_without_segments(&mut self) -> Result<()> {
        let Some(clean) = self.proof.clean.filter(|c| c.next_lsn > Lsn::FIRST) else {
            return Ok(());
        };
        let range = CorruptRange {
            kind: CorruptionKind::LsnGap,
            segment: self.dir.join(wal_io::CLEAN_FILE),
            offset: 0,
            end_offset: 0,
            lsns: Some((clean.segment.max(Lsn::FIRST), clean.last_lsn())),
            detail: format!(
                "no segment file, but the log was closed cleanly after lsn {}",
                clean.last_lsn()
            ),
        };
        self.proof.clean = None;
        match self.opts.mode {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            _ => {
                self.corrupt.push(range);
                Ok(())
            }
        }
    }

    /// Ends the walk of a log without segments: clean, its next LSN the
    /// one asked for (or the first).
    fn end_empty(&mut self) {
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
    }

    /// Reads the next physical record and takes it into the sequence
    /// ([`Walker::accept`]), or handles the stop where there is none
    /// ([`Walker::stopped`]). Returns a step to hand out, or `None` to
    /// carry on walking.
    fn walk_one(&mut self) -> Result<Option<Step>> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(None);
        };
        let at = scanner.offset;
        let phys = match scanner.next()? {
            Ok(phys) => phys,
            Err(stop) => return self.stopped(at, Fault::Stop(stop), None),
        };
        match self.accept(phys)? {
            Accept::Continue => Ok(None),
            Accept::Wait => Ok(Some(Step::Wait)),
            Accept::Done(found) if found.lsn >= self.skip_below => {
                self.progressed(found.lsn);
                Ok(Some(Step::Record(found)))
            }
            // Walked over: below where the walk was asked to start.
            Accept::Done(_) => Ok(None),
            Accept::Break(fault) => self.stopped(phys.offset, Fault::Sequence(fault), None),
            Accept::BatchFault(x, f, end) => self.stopped(x, f, Some(end)),
        }
    }
}
