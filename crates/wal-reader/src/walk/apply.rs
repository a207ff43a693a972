//! What the recovery mode does about a classified stop: move on, end the
//! log's data (cut or not), fail, or skip the corruption and resume after
//! it; and about a payload that fails to decode.

use wal_format::Lsn;

use super::classify::Verdict;
use super::open::Continuity;
use super::{EndState, Found, SkippedFrom, Step, Walker};
use crate::error::{Error, Result};
use crate::options::RecoveryMode;
use crate::report::{CorruptRange, CorruptionKind, TailKind};
use crate::scan::Phys;

impl Walker {
    /// The payload of `found` (just yielded) failed to decode: a record
    /// whose checksums are right but whose ciphertext does not
    /// authenticate or whose compressed payload does not decompress (no
    /// torn write makes one: it was changed by someone, or written wrong).
    /// Corruption, handled as the mode says: an error, the end of the log
    /// before its unit (point in time), or skipped (the skipping mode; its
    /// batch's other records may already have been handed out: decoding
    /// happens as records are read). A live log is never ended early: a
    /// tailer skips it in the skipping mode and stops at it otherwise, as
    /// for corruption it meets in the walk ([`Walker::live_trouble`]).
    pub(crate) fn payload_fault(&mut self, found: Found, source: &wal_crypto::Error) -> Result<()> {
        let kind = if matches!(source, wal_crypto::Error::Authentication { .. }) {
            CorruptionKind::Unauthenticated
        } else {
            CorruptionKind::DamagedRecord
        };
        let range = CorruptRange {
            kind,
            segment: self.current_path(),
            offset: found.offset,
            end_offset: found.end,
            lsns: Some((found.lsn, found.lsn)),
            detail: source.to_string(),
        };
        match self.opts.mode {
            RecoveryMode::SkipAnyCorruptedRecords => {
                tracing::warn!(%range, "skipping corrupt range");
                self.corrupt.push(range);
                Ok(())
            }
            _ if self.live.limit.is_some() => Err(Error::Corruption(Box::new(range))),
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            RecoveryMode::PointInTime => {
                (self.pos.commit, self.pos.commit_lsn) = found.unit;
                self.end_at_corruption(range);
                Ok(())
            }
        }
    }

    /// Ends the walk: the log's data ends at `commit` in the current
    /// segment.
    fn finish(&mut self, tail: TailKind, detail: Option<String>, dropped: Option<(Lsn, Lsn)>) {
        let cut = !matches!(tail, TailKind::Clean | TailKind::ZeroFilled);
        let detail = self.fold_skipped_into_tail(tail, detail);
        if let Some(detail) = &detail {
            tracing::info!(
                segment = %self.current_path().display(),
                offset = self.pos.commit,
                next_lsn = %self.pos.commit_lsn,
                %detail,
                "end of the log's data"
            );
        }
        self.end = Some(EndState {
            segment: Some(self.pos.seg_idx),
            offset: self.pos.commit,
            next_lsn: self.pos.commit_lsn,
            tail,
            torn_detail: detail,
            dropped,
            cut,
            early: false,
        });
        self.open.chain = None;
        self.open.batch = None;
    }

    /// (Skipping mode) A torn tail that begins where the walk resumed after
    /// skipped damage, in the same segment, leaves nothing after that
    /// damage: unless evidence shows the damaged records were acknowledged,
    /// it is part of the same tail, and the log ends before it, as it does
    /// when no valid record follows the damage at all
    /// ([`Walker::skip_corruption`]). Ending after it would leave damage at
    /// the end of the log, which the next recovery would cut as a torn
    /// tail: two recoveries would disagree. Returns the tail's detail.
    fn fold_skipped_into_tail(&mut self, tail: TailKind, detail: Option<String>) -> Option<String> {
        let Some(s) = self.skipped_from else {
            return detail;
        };
        // Something after the damage was kept (or it is another segment's,
        // or another range came since): the damage stays where it is.
        let nothing_kept = tail == TailKind::Torn
            && s.seg_idx == self.pos.seg_idx
            && s.resumed_at == self.pos.commit
            && s.ranges == self.corrupt.len();
        // Evidence shows the damaged records were acknowledged: it stays
        // corruption, and the log ends after it.
        let proven = self.proven_lsn() >= s.commit_lsn;
        if !nothing_kept || proven {
            return detail;
        }
        let Some(range) = self.corrupt.pop() else {
            return detail;
        };
        // `skipped_from` stays: with its range popped, `nothing_kept`
        // cannot hold for it again.
        self.pos.commit = s.commit;
        self.pos.commit_lsn = s.commit_lsn;
        Some(format!(
            "{}; the damage skipped before it ({}) is part of the same tail: nothing after it was kept",
            detail.unwrap_or_else(|| "torn tail".into()),
            range.detail
        ))
    }

    /// Point-in-time mode: the log's data ends at the commit point, before
    /// the corruption `range`; everything after it must go.
    fn end_at_corruption(&mut self, range: CorruptRange) {
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
    }

    /// Does what the recovery mode says about a classified stop.
    pub(super) fn apply(&mut self, verdict: Verdict) -> Result<Option<Step>> {
        match verdict {
            Verdict::NextSegment => {
                self.next_segment()?;
                Ok(None)
            }
            Verdict::SealedSlack => {
                tracing::warn!(
                    segment = %self.current_path().display(),
                    offset = self.pos.commit,
                    "damaged bytes after the last record of a sealed segment; no record lost"
                );
                self.next_segment()?;
                Ok(None)
            }
            Verdict::End(tail) => {
                self.finish(tail, None, None);
                Ok(None)
            }
            Verdict::Torn { detail, dropped } => {
                if self.opts.mode == RecoveryMode::AbsoluteConsistency {
                    return Err(Error::TornTail {
                        path: self.current_path(),
                        offset: self.pos.commit,
                    });
                }
                self.finish(TailKind::Torn, Some(detail), dropped);
                Ok(None)
            }
            Verdict::Corrupt { range, resync } => self.apply_corruption(range, resync),
        }
    }

    /// Does what the recovery mode says about corruption: an error, the
    /// end of the log before it (point in time), or skipped
    /// ([`Walker::skip_corruption`]).
    pub(super) fn apply_corruption(
        &mut self,
        range: CorruptRange,
        resync: Option<Phys>,
    ) -> Result<Option<Step>> {
        match self.opts.mode {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            RecoveryMode::PointInTime => {
                self.end_at_corruption(range);
                Ok(None)
            }
            RecoveryMode::SkipAnyCorruptedRecords => {
                self.skip_corruption(range, resync)?;
                Ok(None)
            }
        }
    }

    /// The skipping mode: notes the corruption `range` and resumes the
    /// walk at `resync`, else at the next segment (whatever it starts
    /// with), else ends the log's data before the damage.
    fn skip_corruption(&mut self, range: CorruptRange, resync: Option<Phys>) -> Result<()> {
        let last = self.is_last();
        tracing::warn!(%range, "skipping corrupt range");
        self.corrupt.push(range);
        self.open.chain = None;
        self.open.batch = None;
        match resync {
            Some(p) => {
                self.skipped_from = Some(SkippedFrom {
                    seg_idx: self.pos.seg_idx,
                    commit: self.pos.commit,
                    commit_lsn: self.pos.commit_lsn,
                    resumed_at: p.offset,
                    ranges: self.corrupt.len(),
                });
                if let Some(s) = self.scanner.as_mut() {
                    s.offset = p.offset;
                }
                self.pos.commit = p.offset;
                self.pos.commit_lsn = p.header.lsn;
                self.pos.expected = Some(p.header.lsn);
            }
            None if !last => {
                // Accept whatever the next segment starts with.
                self.pos.expected = None;
                self.open_segment(self.pos.seg_idx.saturating_add(1), Continuity::Any)?;
            }
            None => self.finish(
                TailKind::Torn,
                Some("nothing to resume at after skipped damage".into()),
                None,
            ),
        }
        Ok(())
    }
}
