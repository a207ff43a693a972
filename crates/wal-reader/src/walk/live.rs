//! Following a live log (a tailer): waiting for the durable watermark,
//! retrying a stop (re-read, then relist and seek), and judging what the
//! retries did not make go away.

use wal_format::Lsn;

use super::classify::Verdict;
use super::fault::Fault;
use super::{Step, Walker};
use crate::error::{Error, Result};
use crate::options::RecoveryMode;

/// The state of following a live log (a tailer); inert otherwise.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// The highest LSN that may be yielded: the durable watermark
    /// (`None`: not live, everything on the disk may be).
    pub(crate) limit: Option<Lsn>,
    /// How often the unit at this LSN was retried ([`Walker::live_retry`]).
    pub(super) retries: (Lsn, u8),
}

impl Walker {
    /// Live: no segment is open; the log may have had none yet. Lists the
    /// directory again and seeks to where the tailer is; waits if there
    /// is still nothing to read.
    pub(super) fn live_start(&mut self) -> Result<Option<Step>> {
        self.relist()?;
        if self.segments.is_empty() {
            return Ok(Some(Step::Wait));
        }
        let target = self.skip_below;
        self.seek(target)?;
        if self.scanner.is_none() {
            return Ok(Some(Step::Wait));
        }
        Ok(None)
    }

    /// Live: the next unit would start past the durable watermark (no
    /// batch or fragment chain is open): do not start it yet.
    pub(super) fn not_durable_yet(&self) -> bool {
        matches!(
            (self.live.limit, self.pos.expected, self.open.chain, self.open.batch),
            (Some(limit), Some(expected), None, None) if expected > limit
        )
    }

    /// Trouble while following a live log: everything up to the limit is
    /// durable, so the records must be there. First re-read the file (the
    /// window may hold bytes read before they were written), then list the
    /// directory again and seek (a rotation or a purge): [`Walker::live_retry`].
    /// If the records still stop there: where the segment is followed by
    /// another, or the stop is damage at rest in the last segment
    /// ([`Walker::damage_at_rest`]), the stop is judged as for any reader
    /// ([`Walker::live_verdict`]). Records that are simply not there: give
    /// up.
    pub(super) fn live_trouble(
        &mut self,
        x: u64,
        t: &Fault,
        batch_end: Option<Lsn>,
    ) -> Result<Option<Step>> {
        let lsn = self.pos.commit_lsn;
        let tries = if self.live.retries.0 == lsn {
            self.live.retries.1
        } else {
            0
        };
        self.live.retries = (lsn, tries.saturating_add(1));
        tracing::trace!(offset = x, %lsn, tries, trouble = ?t, "tailing: record not found yet");
        if tries > 1 && (!self.is_last() || self.damage_at_rest(x, t, batch_end)?) {
            return self.live_verdict(x, t, batch_end, lsn);
        }
        self.live_retry(tries, lsn)
    }

    /// In the last segment of a live log, after the retries: whether the
    /// stop at `x` is damage at rest. Damage that is still there is; so is
    /// a clean stop (zeros, stale bytes) that valid records of the segment
    /// follow, with LSNs the log has not reached ([`Walker::written_after`]):
    /// they were written after the bytes at the stop, so those bytes were
    /// lost at rest, not yet to come. A clean stop with nothing valid after
    /// it is records not there.
    fn damage_at_rest(&mut self, x: u64, t: &Fault, batch_end: Option<Lsn>) -> Result<bool> {
        match t {
            Fault::Stop(stop) if stop.is_clean() => {
                let unit = self.unit_at(x, batch_end.or(self.open.batch.map(|b| b.end)));
                self.written_after(x, stop, unit)
            }
            _ => Ok(true),
        }
    }

    /// A live stop that re-reading did not make go away: in a segment
    /// another follows, classified as for any reader (the end of a sealed
    /// segment, slack after its last record, or corruption); in the last
    /// segment, corruption (damage at rest). The recovery mode decides what
    /// corruption does: the skipping mode skips it, as recovery did, and
    /// waits where the damage ends if nothing valid follows it yet; the
    /// other modes fail. `lsn`: the unit the walk could not read.
    fn live_verdict(
        &mut self,
        x: u64,
        t: &Fault,
        batch_end: Option<Lsn>,
        lsn: Lsn,
    ) -> Result<Option<Step>> {
        let verdict = if self.is_last() {
            self.corrupt(x, t, batch_end, None)?
        } else {
            self.classify(x, t, batch_end)?
        };
        match verdict {
            Verdict::Corrupt { range, resync } => {
                if self.opts.mode != RecoveryMode::SkipAnyCorruptedRecords {
                    return Err(Error::Corruption(Box::new(range)));
                }
                self.live.retries = (Lsn::ZERO, 0);
                if resync.is_none() && self.is_last() {
                    // Nothing valid after it yet: what follows is not
                    // written; wait for it where the damage ends.
                    if self.corrupt.last() != Some(&range) {
                        tracing::warn!(%range, "skipping corrupt range");
                        self.corrupt.push(range);
                    }
                    return Ok(Some(Step::Wait));
                }
                self.apply_corruption(range, resync)
            }
            Verdict::NextSegment | Verdict::SealedSlack => {
                self.live.retries = (Lsn::ZERO, 0);
                self.apply(verdict)
            }
            // Not reached for a segment another follows.
            Verdict::End(_) | Verdict::Torn { .. } => Err(Error::Missing {
                lsn,
                path: self.dir.clone(),
            }),
        }
    }

    /// The retries of a live stop at the unit starting at `lsn`: the first
    /// re-reads the file from the unit's start, the second lists the
    /// directory again and seeks to it; after those the records are not
    /// there ([`Error::Missing`]).
    fn live_retry(&mut self, tries: u8, lsn: Lsn) -> Result<Option<Step>> {
        self.open.chain = None;
        self.open.batch = None;
        self.pos.expected = Some(lsn);
        // Both retries walk again from the start of a unit (a batch whose
        // first records were handed out, say): never hand those out again.
        let handed_out = self.yielded.checked_next().unwrap_or(Lsn::MAX);
        let handed_out = if self.yielded == Lsn::ZERO {
            Lsn::ZERO
        } else {
            handed_out
        };
        match tries {
            0 => {
                if let Some(s) = self.scanner.as_mut() {
                    s.offset = self.pos.commit;
                    s.invalidate();
                }
                self.skip_below = self.skip_below.max(handed_out);
                Ok(None)
            }
            1 => {
                self.relist()?;
                let (skip, yielded) = (self.skip_below, self.yielded);
                self.seek(lsn)?;
                self.yielded = yielded;
                self.skip_below = skip.max(lsn).max(handed_out);
                Ok(None)
            }
            _ => Err(Error::Missing {
                lsn,
                path: self.dir.clone(),
            }),
        }
    }
}
