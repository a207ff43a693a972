//! Dropping segments: purge of a prefix ([`SegmentLog::purge_below`]) and
//! truncation of a suffix ([`SegmentLog::truncate_from`],
//! [`SegmentLog::cut_at`]).
//!
//! The log stays contiguous at every step: segments go one at a time
//! (oldest first for a purge, newest first for a suffix), each removed or
//! renamed to a spare and followed by a directory sync; what a suffix
//! truncation keeps is read, checked and made durable before anything goes.

use wal_format::{Lsn, SEGMENT_HEADER_LEN};

use super::{SegmentLog, Writer};
use crate::error::{Error, Result, io_err};
use crate::segment::{SegmentInfo, SegmentReader, find_cut};

impl SegmentLog {
    /// Drops every segment whose records all have LSNs below `lsn` (purge
    /// after a checkpoint). The segment being appended to is never dropped,
    /// nor the last segment. Segments go oldest first, each removed (or
    /// renamed to a spare, for recycling) with a directory sync after each,
    /// so a crash at any point leaves a contiguous log. Returns how many
    /// segments went.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn purge_below(&mut self, lsn: Lsn) -> Result<usize> {
        self.check_usable()?;
        let mut purged = 0;
        if self.segments.len() > 1
            && self
                .segments
                .get(1)
                .is_some_and(|next| next.first_lsn() <= lsn)
        {
            self.take_clean_marker()?;
        }
        while self.segments.len() > 1
            && self
                .segments
                .get(1)
                .is_some_and(|next| next.first_lsn() <= lsn)
        {
            let oldest = self.segments.remove(0);
            self.retire(&oldest)?;
            purged += 1;
        }
        if purged > 0 {
            tracing::debug!(dir = %self.dir.display(), purged, below = %lsn, "purged segments");
        }
        Ok(purged)
    }

    /// Discards every record with an LSN at or after `lsn` (a Raft
    /// follower whose suffix the leader overwrites). Segments that start at
    /// or after `lsn` go, newest first (each with a directory sync, so a
    /// crash leaves a contiguous prefix of the log); then the segment that
    /// holds `lsn` is cut at that record's offset, durably. The appender is
    /// then positioned there: the next batch starts at `lsn` (or just after
    /// the last record kept, if the log ended before `lsn`).
    ///
    /// # Errors
    ///
    /// [`Error::InsideBatch`] if `lsn` is inside an atomic batch (it would
    /// leave half a batch, which recovery drops whole, taking records below
    /// `lsn` with it); [`Error::Io`], [`Error::Failed`].
    pub fn truncate_from(&mut self, lsn: Lsn) -> Result<()> {
        self.guard(|log| {
            // Find the cut before removing anything, so an `InsideBatch`
            // error leaves the log untouched.
            let keep = log
                .segments
                .iter()
                .take_while(|s| s.first_lsn() < lsn)
                .count();
            let cut = match keep.checked_sub(1).and_then(|i| log.segments.get(i)) {
                Some(info) => {
                    let reader = SegmentReader::open(&*log.storage, info)?;
                    Some((
                        info.clone(),
                        find_cut(&reader, lsn, log.options.max_payload_len)?,
                    ))
                }
                None => None,
            };
            log.writer = Writer::NotResumed;
            // What stays is read, checked and made durable before anything
            // goes (see `resume`).
            if let Some((info, cut)) = &cut {
                log.make_durable(info, cut.offset, &[])?;
            }
            log.take_clean_marker()?;
            while log.segments.len() > keep {
                if let Some(newest) = log.segments.pop() {
                    log.retire(&newest)?;
                }
            }
            match cut {
                Some((info, cut)) => {
                    if cut.needed {
                        log.cut_file(&info.path, cut.offset)?;
                    }
                    log.activate(&info, cut.offset)?;
                    log.next_lsn = Some(cut.next_lsn);
                }
                None => {
                    log.writer = Writer::Empty;
                    log.next_lsn = Some(lsn);
                    log.all_durable = true;
                }
            }
            log.force_new_segment |= log.hook.is_some();
            tracing::debug!(dir = %log.dir.display(), from = %lsn, "truncated the log's suffix");
            Ok(())
        })
    }

    /// Ends the log exactly at `offset` in the segment whose first LSN is
    /// `segment`, where the next record takes `next_lsn`: what a recovery
    /// that found where the data must end (point in time) asks for. Later
    /// segments go, newest first (each with a directory sync), then the
    /// segment is cut at `offset` and its records made durable. Unlike
    /// [`SegmentLog::truncate_from`] it does not scan for the cut, so a read
    /// that goes wrong now cannot move it; the records it keeps are read
    /// and checked before anything changes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] (no such segment, an offset outside it),
    /// [`Error::ReadBack`] (its records no longer read as checked),
    /// [`Error::Io`], [`Error::Failed`].
    pub fn cut_at(&mut self, segment: Lsn, offset: u64, next_lsn: Lsn) -> Result<()> {
        self.guard(|log| {
            let Some(keep) = log.segments.iter().position(|s| s.first_lsn() == segment) else {
                return Err(Error::InvalidOption {
                    name: "cut_at",
                    reason: "no segment with that first lsn",
                });
            };
            let Some(info) = log.segments.get(keep).cloned() else {
                return Err(Error::InvalidOption {
                    name: "cut_at",
                    reason: "no segment with that first lsn",
                });
            };
            if offset < SEGMENT_HEADER_LEN as u64 || next_lsn < segment {
                return Err(Error::InvalidOption {
                    name: "cut_at",
                    reason: "offset before the first record, or lsn before the segment's first",
                });
            }
            let cut = !log.tail_is_clean(&info.path, offset)?;
            log.writer = Writer::NotResumed;
            // The records kept, read, checked and made durable before
            // anything goes (see `resume`).
            log.all_durable = false;
            log.make_durable(&info, offset, &[])?;
            log.take_clean_marker()?;
            while log.segments.len() > keep.saturating_add(1) {
                if let Some(newest) = log.segments.pop() {
                    log.retire(&newest)?;
                }
            }
            if cut {
                log.cut_file(&info.path, offset)?;
            }
            log.activate(&info, offset)?;
            log.next_lsn = Some(next_lsn);
            log.force_new_segment |= log.hook.is_some();
            tracing::debug!(dir = %log.dir.display(), %segment, offset, %next_lsn, "cut the log's end");
            Ok(())
        })
    }

    /// Removes a segment, or renames it to a spare for recycling, then
    /// syncs the directory.
    fn retire(&mut self, info: &SegmentInfo) -> Result<()> {
        if self.spares.lock().len() < self.options.max_spares {
            let spare = self.spares.new_path(&self.dir);
            self.storage
                .rename(&info.path, &spare)
                .map_err(io_err("rename", &info.path))?;
            self.sync_dir()?;
            self.spares.lock().push(spare);
        } else {
            self.storage
                .remove_file(&info.path)
                .map_err(io_err("remove", &info.path))?;
            self.sync_dir()?;
        }
        Ok(())
    }
}
