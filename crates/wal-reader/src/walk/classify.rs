//! What a stop is, from evidence on disk alone: the end of a segment's data,
//! slack after a sealed segment's last record, a clean end, a torn tail (an
//! unfinished write), or corruption, with its range and where valid data
//! resumes.

use wal_format::Lsn;

use super::evidence::Acked;
use super::fault::Fault;
use super::survey::{Survey, Wanted};
use super::{Step, Walker};
use crate::error::Result;
use crate::report::{CorruptRange, CorruptionKind, TailKind};
use crate::scan::{Phys, Stop};
use crate::segments::Segment;

/// The unit at a stop ([`Walker::unit_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UnitAt {
    /// The last unit read is whole: the stop is at the commit point.
    Whole,
    /// A unit is in progress: records of it were read past the commit
    /// point, or a batch or fragment chain is open.
    Pending,
}

/// A stop of the records, as [`Walker::classify`] hands it to the
/// classification of the segment it is in.
#[derive(Debug)]
struct StopSite<'a> {
    /// The offset where the records stop.
    x: u64,
    /// What the bytes at `x` are.
    stop: &'a Stop,
    /// `stop`, as the fault a corruption report names.
    fault: &'a Fault,
    /// The LSN after the batch in progress, if one is.
    batch_end: Option<Lsn>,
    unit: UnitAt,
}

/// What a stop is, once classified; the recovery mode then decides what
/// to do about it ([`Walker::apply`]).
#[derive(Debug)]
pub(super) enum Verdict {
    /// The segment's data ends cleanly and a later segment follows.
    NextSegment,
    /// Damaged bytes after the last record of a sealed segment, which the
    /// next segment continues: no record lost.
    SealedSlack,
    /// The log's data ends here, cleanly.
    End(TailKind),
    /// A torn tail: the end of the last write(s), never proven
    /// acknowledged. `dropped`: valid records found after the damage.
    Torn {
        detail: String,
        dropped: Option<(Lsn, Lsn)>,
    },
    /// Damage to what had been written: corruption. `resync` is where
    /// valid data resumes in this segment, if anywhere.
    Corrupt {
        range: CorruptRange,
        resync: Option<Phys>,
    },
}

impl Walker {
    /// The records stop at `x` in the current segment, for `fault`:
    /// classify that ([`Walker::classify`]), then do what the recovery mode
    /// says ([`Walker::apply`]). Returns a step to hand out, or `None` to
    /// carry on walking.
    pub(super) fn stopped(
        &mut self,
        x: u64,
        fault: Fault,
        batch_end: Option<Lsn>,
    ) -> Result<Option<Step>> {
        if self.live.limit.is_some() {
            return self.live_trouble(x, &fault, batch_end);
        }
        let verdict = self.classify(x, &fault, batch_end)?;
        self.apply(verdict)
    }

    /// The unit at a stop at `x`: pending when records of it were read
    /// past the commit point, or a batch or fragment chain is open; else
    /// the last unit is whole.
    pub(super) fn unit_at(&self, x: u64, batch_end: Option<Lsn>) -> UnitAt {
        if x > self.pos.commit || batch_end.is_some() || self.open.chain.is_some() {
            UnitAt::Pending
        } else {
            UnitAt::Whole
        }
    }

    /// Whether valid records of the current segment follow the stop at `x`
    /// with LSNs the log has not reached (past the unit in progress, when
    /// one is pending): a segment is written in order, so those records
    /// were written after the bytes at `x`, and what stopped the walk there
    /// is a hole, never the end of the segment's writes. Nothing follows
    /// the end of the file, nor bytes cut short by it.
    pub(super) fn written_after(&mut self, x: u64, stop: &Stop, unit: UnitAt) -> Result<bool> {
        if matches!(stop, Stop::Eof | Stop::Incomplete) {
            return Ok(false);
        }
        let min = match unit {
            UnitAt::Pending => self.pos.commit_lsn.checked_next().unwrap_or(Lsn::MAX),
            UnitAt::Whole => self.pos.commit_lsn,
        };
        Ok(self
            .find_valid(x.saturating_add(1), min, Wanted::AnyRecord)?
            .is_some())
    }

    /// Decides what a stop at `x` is, from what is on the disk alone: in a
    /// segment that another follows, [`Walker::classify_followed`]; in the
    /// last segment, [`Walker::classify_last`]. A valid record that breaks
    /// the sequence is corruption anywhere: no write leaves one (it was
    /// written whole, and where it stands is wrong).
    pub(super) fn classify(
        &mut self,
        x: u64,
        fault: &Fault,
        batch_end: Option<Lsn>,
    ) -> Result<Verdict> {
        let batch_end = batch_end.or(self.open.batch.map(|b| b.end));
        let Fault::Stop(stop) = fault else {
            return self.corrupt(x, fault, batch_end, None);
        };
        let site = StopSite {
            x,
            stop,
            fault,
            batch_end,
            unit: self.unit_at(x, batch_end),
        };
        if self.is_last() {
            self.classify_last(&site)
        } else {
            self.classify_followed(&site)
        }
    }

    /// A stop in a segment that another follows. The later segment exists
    /// only because this one was synced first, so nothing here is an
    /// unfinished write. Valid records of this segment after the stop make
    /// it a hole ([`Walker::written_after`]); a unit cut short is
    /// corruption; a clean stop after a whole unit is the end of the
    /// segment's data; damaged bytes after a whole unit are slack after its
    /// last record (no record lost) when the next segment starts at the
    /// next LSN (its name says so), else corruption.
    fn classify_followed(&mut self, site: &StopSite<'_>) -> Result<Verdict> {
        // Searched first, whatever the unit: the search spends the budget
        // later searches in this segment share.
        if self.written_after(site.x, site.stop, site.unit)? || site.unit == UnitAt::Pending {
            return self.corrupt_at(site, None);
        }
        if site.stop.is_clean() {
            return Ok(Verdict::NextSegment);
        }
        let next_first = self
            .segments
            .get(self.pos.seg_idx.saturating_add(1))
            .map(Segment::first_lsn);
        if next_first == Some(self.pos.commit_lsn) {
            return Ok(Verdict::SealedSlack);
        }
        self.corrupt_at(site, None)
    }

    /// A stop in the last segment: corruption when the log's evidence (a
    /// commit marker anywhere in the log, the clean-close marker) shows
    /// that the first record not kept had been acknowledged; else a torn
    /// tail (the end of the writes in flight when the writer stopped, with
    /// the valid records found after the damage reported as dropped), or a
    /// clean end (a clean stop after a whole unit, nothing valid after it).
    fn classify_last(&mut self, site: &StopSite<'_>) -> Result<Verdict> {
        let c_lsn = self.pos.commit_lsn;
        let clean_end = site.stop.is_clean() && site.unit == UnitAt::Whole;
        if clean_end && self.at_clean_close_end() {
            return Ok(Verdict::End(clean_tail(site.fault)));
        }
        let survey = match site.stop {
            // Nothing follows the end of the file.
            Stop::Eof | Stop::Incomplete => Survey::NOTHING,
            _ => self.survey(site.x.saturating_add(1), c_lsn)?,
        };
        // The first record not kept had been acknowledged: a commit marker
        // after the damage (the nearest) or before it, or the clean close,
        // says so.
        let proof = survey
            .proof
            .or((self.proof.best.lsn >= c_lsn).then_some(self.proof.best));
        if let Some(evidence) = proof.filter(|_| c_lsn != Lsn::ZERO) {
            let acked = Acked {
                evidence,
                high: survey.high,
            };
            return self.corrupt_at(site, Some(acked));
        }
        let dropped = survey.high.map(|h| (c_lsn, h));
        if clean_end && dropped.is_none() {
            return Ok(Verdict::End(clean_tail(site.fault)));
        }
        Ok(torn(site, dropped))
    }

    /// [`Walker::corrupt`] at a classified stop.
    fn corrupt_at(&mut self, site: &StopSite<'_>, acked: Option<Acked>) -> Result<Verdict> {
        self.corrupt(site.x, site.fault, site.batch_end, acked)
    }

    /// The corruption found at `x`: its range, and where valid data
    /// resumes in this segment (for the skipping mode). `acked`: the
    /// evidence that made it corruption in the last segment, and the
    /// highest LSN found after it.
    pub(super) fn corrupt(
        &mut self,
        x: u64,
        fault: &Fault,
        batch_end: Option<Lsn>,
        acked: Option<Acked>,
    ) -> Result<Verdict> {
        let c_lsn = self.pos.commit_lsn;
        let kind = self.corruption_kind(fault, batch_end);
        let resync = self.resync_after(x, fault, batch_end.unwrap_or(c_lsn).max(c_lsn))?;
        let (end_offset, upper) = self.corruption_end(resync, acked)?;
        let offset = if kind == CorruptionKind::Unfinished {
            self.pos.commit
        } else {
            x
        };
        let range = CorruptRange {
            kind,
            segment: self.current_path(),
            offset,
            end_offset,
            lsns: upper.map(|u| (c_lsn, u.max(c_lsn))),
            detail: self.corruption_detail(fault, acked),
        };
        Ok(Verdict::Corrupt { range, resync })
    }

    /// The kind of corruption `fault` is: a valid record out of place, a
    /// batch or fragment chain cut short (not a group whose marker made it
    /// and whose records did not: that is a hole), a hole, or damaged
    /// bytes.
    fn corruption_kind(&self, fault: &Fault, batch_end: Option<Lsn>) -> CorruptionKind {
        let unfinished = batch_end.is_some() || self.open.chain.is_some();
        match fault {
            Fault::Sequence(_) => CorruptionKind::BadSequence,
            Fault::Stop(s) if s.is_clean() && unfinished => CorruptionKind::Unfinished,
            Fault::Stop(s) if s.is_clean() => CorruptionKind::Hole,
            Fault::Stop(_) => CorruptionKind::DamagedRecord,
        }
    }

    /// Where valid data resumes after the corruption at `x`: a unit start
    /// in this segment at or above `min`, if any. A valid record that broke
    /// the sequence only where it stands (an LSN out of sequence, a record
    /// inside a chain) may be where the walk resumes; one that is bad by
    /// itself (too long, a bad marker), or one the walk already resumed
    /// at, is skipped.
    fn resync_after(&mut self, x: u64, fault: &Fault, min: Lsn) -> Result<Option<Phys>> {
        let again = self
            .skipped_from
            .is_some_and(|s| (s.seg_idx, s.resumed_at) == (self.pos.seg_idx, x));
        let from = match fault {
            Fault::Sequence(f) if !again && !f.bad_by_itself() => x,
            _ => x.saturating_add(1),
        };
        self.find_valid(from, min, Wanted::UnitStart)
    }

    /// Where a corruption ends, and the highest LSN it may hold: at
    /// `resync`, before its record; else at the end of the file, below the
    /// next segment's first LSN or, in the last segment, up to what
    /// `acked` found.
    fn corruption_end(
        &self,
        resync: Option<Phys>,
        acked: Option<Acked>,
    ) -> Result<(u64, Option<Lsn>)> {
        Ok(match resync {
            Some(p) => (p.offset, p.header.lsn.checked_prev()),
            None => (
                self.file_size()?,
                self.segments
                    .get(self.pos.seg_idx.saturating_add(1))
                    .and_then(|s| s.first_lsn().checked_prev())
                    .or(acked.and_then(|a| a.high.max(Some(a.evidence.lsn)))),
            ),
        })
    }

    /// What a corruption report says of `fault`, and of what made it
    /// corruption: later segments, or the evidence in `acked`.
    fn corruption_detail(&self, fault: &Fault, acked: Option<Acked>) -> String {
        let mut detail = fault.describe();
        if !self.is_last() {
            detail.push_str(" (later segments exist)");
        } else if let Some(acked) = acked {
            detail.push_str(&format!(
                " (records up to lsn {} were acknowledged: {})",
                acked.evidence.lsn,
                self.describe_evidence(acked.evidence.at)
            ));
        }
        detail
    }
}

/// A torn tail at the classified stop `site`, with the valid records
/// found after it (`dropped`) named in its detail.
fn torn(site: &StopSite<'_>, dropped: Option<(Lsn, Lsn)>) -> Verdict {
    let (x, fault) = (site.x, site.fault);
    let detail = match dropped {
        Some((c_lsn, high)) => format!(
            "{}; valid records up to lsn {high} after it were never proven acknowledged (no commit marker or clean close covers lsn {c_lsn})",
            torn_detail(x, fault, site.unit)
        ),
        None => torn_detail(x, fault, site.unit),
    };
    Verdict::Torn { detail, dropped }
}

/// What a torn tail's report says of the stop at `x`.
pub(super) fn torn_detail(x: u64, fault: &Fault, unit: UnitAt) -> String {
    match fault {
        Fault::Stop(Stop::Damaged(e)) => format!("damaged record at offset {x} ({e})"),
        Fault::Stop(Stop::Incomplete) => format!("record cut short at offset {x}"),
        Fault::Stop(Stop::ZeroFilled | Stop::Stale) if unit == UnitAt::Whole => {
            format!("a hole (zeros or an earlier use of the file) at offset {x}")
        }
        Fault::Stop(_) if unit == UnitAt::Pending => {
            format!("unfinished batch or fragment chain, data ends at offset {x}")
        }
        Fault::Stop(_) => format!("data ends at offset {x}"),
        Fault::Sequence(f) => format!("{f} at offset {x}"),
    }
}

/// How the data ends at a clean stop.
fn clean_tail(fault: &Fault) -> TailKind {
    match fault {
        Fault::Stop(Stop::ZeroFilled) => TailKind::ZeroFilled,
        Fault::Stop(Stop::Stale) => TailKind::Stale,
        _ => TailKind::Clean,
    }
}
