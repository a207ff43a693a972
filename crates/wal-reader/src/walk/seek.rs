//! Seeking: the sparse index of unit boundaries noted while reading
//! (nothing is stored on disk), and positioning the walk at an LSN from the
//! segment names and that index.

use std::collections::BTreeMap;

use wal_format::Lsn;

use super::Walker;
use super::open::Continuity;
use crate::error::{Error, Result};
use crate::segments::Segment;

/// The sparse seek index, noted while reading (nothing is stored on disk).
#[derive(Debug, Default)]
pub(super) struct SeekIndex {
    /// Per segment (by first LSN and salt), unit boundaries (LSN, offset)
    /// about `index_interval` bytes apart.
    points: BTreeMap<(Lsn, u64), Vec<(Lsn, u64)>>,
    /// The offset of the last boundary noted in the segment being read.
    pub(super) last: u64,
}

impl SeekIndex {
    /// Notes the unit boundary at `end` of `seg` (the next LSN there:
    /// `next`) if it is `interval` bytes or more past the last one noted.
    pub(super) fn note(&mut self, seg: &Segment, next: Lsn, end: u64, interval: u64) {
        if end.saturating_sub(self.last) < interval {
            return;
        }
        self.last = end;
        let points = self
            .points
            .entry((seg.first_lsn(), seg.header.salt.get()))
            .or_default();
        if points.last().is_none_or(|&(l, _)| l < next) {
            points.push((next, end));
        }
    }
}

impl Walker {
    /// Positions the walker so the next record yielded is `lsn` (or the
    /// first after it). Uses the segment names (binary search) and the
    /// sparse index, then walks forward.
    pub(crate) fn seek(&mut self, lsn: Lsn) -> Result<()> {
        self.end = None;
        self.yielded = Lsn::ZERO;
        self.corrupt.clear();
        self.skipped_from = None;
        let oldest = self.oldest();
        if self.segments.is_empty() {
            self.pos.seg_idx = 0;
            self.scanner = None;
            self.pos.expected = None;
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
        self.open_segment(idx, Continuity::Any)?;
        if let Some(seg) = self.segments.get(idx) {
            let key = (seg.first_lsn(), seg.header.salt.get());
            if let Some(points) = self.index.points.get(&key) {
                let i = points.partition_point(|&(l, _)| l <= lsn);
                if let Some(&(l, off)) = i.checked_sub(1).and_then(|i| points.get(i)) {
                    if let Some(s) = self.scanner.as_mut() {
                        s.offset = off;
                    }
                    self.pos.commit = off;
                    self.pos.commit_lsn = l;
                    self.pos.expected = Some(l);
                    self.index.last = off;
                }
            }
        }
        self.skip_below = lsn;
        Ok(())
    }
}
