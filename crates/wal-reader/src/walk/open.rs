//! Opening a segment: the read buffers taken over from the last one, the
//! LSN continuity with the segment before (a gap or an overlap, handled as
//! the recovery mode says), and moving on after a clean end.

use wal_format::SEGMENT_HEADER_LEN;

use super::{EndState, Walker};
use crate::ahead::ReadAhead;
use crate::error::{Error, Result};
use crate::options::RecoveryMode;
use crate::report::{CorruptRange, CorruptionKind, TailKind};
use crate::scan::Scanner;
use crate::segments::Segment;

/// Whether opening a segment checks that its first LSN (its name)
/// continues where the previous segment's records ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Continuity {
    /// Check it: moving on from a segment whose data ended cleanly.
    Checked,
    /// Take whatever it starts with: a seek, the first segment, or after
    /// damage was skipped.
    Any,
}

/// What opening a segment came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Opened {
    /// The segment is open (or there is none at that index).
    Reading,
    /// Point-in-time mode: the segment does not continue the LSNs, so the
    /// log ends where the previous segment's data ends.
    LogEndsBefore,
}

impl Walker {
    /// Opens segment `idx`, checking that it continues the LSNs when
    /// `continuity` says so and the walker knows what comes next. Returns
    /// [`Opened::LogEndsBefore`] when it does not and the mode (point in
    /// time) ends the log there.
    pub(super) fn open_segment(&mut self, idx: usize, continuity: Continuity) -> Result<Opened> {
        let (buf, ahead) = self.take_buffers();
        let Some(seg) = self.segments.get(idx).cloned() else {
            return Ok(Opened::Reading);
        };
        self.enter_segment(idx);
        if continuity == Continuity::Checked
            && let Some(range) = self.lsn_break(&seg)
            && self.on_lsn_break(range)? == Opened::LogEndsBefore
        {
            return Ok(Opened::LogEndsBefore);
        }
        self.check_segment(idx, &seg)?;
        let first = seg.first_lsn();
        self.pos.expected = Some(first);
        self.pos.commit_lsn = first;
        self.scan_budget = None;
        self.scanner = Some(Scanner::open(
            &*self.storage,
            &seg,
            self.opts.max_payload_len,
            self.opts.buffer_size,
            buf,
            ahead,
        )?);
        Ok(Opened::Reading)
    }

    /// Closes the segment being read, if any, and keeps its buffers for
    /// the next one: the read window, and the read-ahead (made here when
    /// the options ask for one and there is none yet).
    fn take_buffers(&mut self) -> (Vec<u8>, Option<ReadAhead>) {
        let mut buf = Vec::new();
        let mut ahead = None;
        if let Some(s) = self.scanner.take() {
            self.high.window = self.high.window.max(s.window_capacity());
            (buf, ahead) = s.into_parts();
        }
        if ahead.is_none() && self.opts.read_ahead {
            ahead = Some(ReadAhead::new(self.opts.buffer_size));
        }
        (buf, ahead)
    }

    /// The walk stands at the start of segment `idx`: no unit open, the
    /// commit point after its header.
    fn enter_segment(&mut self, idx: usize) {
        self.pos.seg_idx = idx;
        self.open.chain = None;
        self.open.batch = None;
        self.pos.commit = SEGMENT_HEADER_LEN as u64;
        self.index.last = self.pos.commit;
    }

    /// The break in the LSNs when `seg` does not start where the walk
    /// expects the next record (a gap, or an overlap), if the walk expects
    /// a particular one.
    fn lsn_break(&self, seg: &Segment) -> Option<CorruptRange> {
        let first = seg.first_lsn();
        let expected = self.pos.expected.filter(|&e| e != first)?;
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
        Some(CorruptRange {
            kind,
            segment: seg.path.clone(),
            offset: 0,
            end_offset: SEGMENT_HEADER_LEN as u64,
            lsns,
            detail,
        })
    }

    /// Does what the recovery mode says about a break in the LSNs between
    /// segments: an error, the end of the log before this segment (point
    /// in time), or noted and read on (the skipping mode).
    fn on_lsn_break(&mut self, range: CorruptRange) -> Result<Opened> {
        match self.opts.mode {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            RecoveryMode::PointInTime => {
                // The log ends where the previous segment's data ends;
                // `self.end` was prepared by the caller.
                tracing::warn!(%range, "point-in-time recovery: discarding the log from here");
                self.corrupt.push(range);
                Ok(Opened::LogEndsBefore)
            }
            RecoveryMode::SkipAnyCorruptedRecords => {
                tracing::warn!(%range, "skipping corrupt range");
                self.corrupt.push(range);
                Ok(Opened::Reading)
            }
        }
    }

    /// Moves on to the next segment after a clean end of this one's data.
    pub(super) fn next_segment(&mut self) -> Result<()> {
        let (prev_idx, prev_commit, prev_lsn) =
            (self.pos.seg_idx, self.pos.commit, self.pos.commit_lsn);
        if self.open_segment(prev_idx.saturating_add(1), Continuity::Checked)?
            == Opened::LogEndsBefore
        {
            // Point in time: the log ends where the previous segment's
            // data ended; the segments from here go.
            self.pos.seg_idx = prev_idx;
            self.pos.commit = prev_commit;
            self.pos.commit_lsn = prev_lsn;
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
}
