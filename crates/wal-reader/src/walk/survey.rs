//! What follows a stop: the budgeted search for valid records after
//! damage, and the survey of the rest of the last segment (the highest LSN
//! written there, the nearest commit marker proving acknowledgement).

use wal_format::{CommitMarker, Lsn, Record, RecordHeader, RecordType};

use super::Walker;
use super::evidence::{Evidence, EvidenceAt};
use super::keys::KeyChecks;
use crate::error::Result;
use crate::scan::{Phys, Scanner};

/// What the bytes after a stop in the last segment hold.
#[derive(Clone, Copy, Debug)]
pub(super) struct Survey {
    /// The first commit marker found that proves the first record not kept
    /// was acknowledged (the nearest proof, so a report names the same
    /// one however much of the tail was cut since).
    pub(super) proof: Option<Evidence>,
    /// The highest LSN of the valid records found with an LSN the log has
    /// not reached.
    pub(super) high: Option<Lsn>,
}

impl Survey {
    /// Nothing found (nothing follows the end of the file).
    pub(super) const NOTHING: Survey = Survey {
        proof: None,
        high: None,
    };
}

/// Which records a search after damage looks for ([`Walker::find_valid`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    /// Any valid record: evidence that something was written after the
    /// stop.
    AnyRecord,
    /// A record that starts a unit (full record, first fragment,
    /// checkpoint, batch or commit marker): where the walk can resume.
    UnitStart,
}

/// Where following the records after a stop came to ([`Walker::follow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Followed {
    /// The record after the one ending here does not read: the search for
    /// valid records goes on after it.
    StoppedAt(u64),
    /// Nothing more to follow: the search budget is spent.
    Ended,
}

impl Walker {
    /// The first valid record after `from` in the current segment with an
    /// LSN at or above `min`, of the kinds `wanted` names.
    pub(super) fn find_valid(
        &mut self,
        from: u64,
        min: Lsn,
        wanted: Wanted,
    ) -> Result<Option<Phys>> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(None);
        };
        let accept = |h: &RecordHeader| {
            h.lsn >= min
                && (wanted == Wanted::AnyRecord
                    || matches!(
                        h.record_type,
                        RecordType::Full
                            | RecordType::First
                            | RecordType::Checkpoint
                            | RecordType::Batch
                            | RecordType::Commit
                    ))
        };
        if self.scan_budget.is_none() {
            // Four passes over the segment, and some: plenty for every
            // search one stop makes, and a bound on what crafted content
            // can make them cost.
            let size = scanner.file_size()?;
            self.scan_budget = Some(size.saturating_mul(4).saturating_add(4 << 20));
        }
        let budget = self.scan_budget.get_or_insert(0);
        scanner.find_valid(from, &accept, budget)
    }

    /// What the rest of the current segment holds after a stop at `from`:
    /// every valid record of the segment from there on (followed record
    /// by record, and found again by the salt search after each stop), the
    /// first of their commit markers that proves `min` was acknowledged,
    /// and the highest LSN at or above `min`. Reads the rest of the segment
    /// once.
    pub(super) fn survey(&mut self, from: u64, min: Lsn) -> Result<Survey> {
        let mut survey = Survey::NOTHING;
        let mut at = from;
        while let Some(first) = self.find_valid(at, Lsn::ZERO, Wanted::AnyRecord)? {
            match self.follow(first, min, &mut survey)? {
                Followed::StoppedAt(stop_at) => at = stop_at.saturating_add(1),
                Followed::Ended => break,
            }
        }
        Ok(survey)
    }

    /// Follows the segment's records from `first` (found valid), record by
    /// record, noting each in `survey`, until one does not read or the
    /// search budget is spent.
    fn follow(&mut self, first: Phys, min: Lsn, survey: &mut Survey) -> Result<Followed> {
        let seg_idx = self.pos.seg_idx;
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(Followed::Ended);
        };
        let mut p = first;
        loop {
            if p.header.lsn >= min {
                survey.high = Some(survey.high.map_or(p.header.lsn, |h| h.max(p.header.lsn)));
            }
            if survey.proof.is_none() {
                survey.proof = commit_proof(scanner, &self.keys, &p, min).map(|lsn| Evidence {
                    lsn,
                    at: EvidenceAt::Marker(seg_idx, p.offset),
                });
            }
            let here = scanner.offset;
            // Following records spends the search budget too.
            let budget = self.scan_budget.get_or_insert(0);
            *budget = budget.saturating_sub(p.end().saturating_sub(p.offset));
            if *budget == 0 {
                return Ok(Followed::Ended);
            }
            p = match scanner.next()? {
                Ok(p) => p,
                Err(_) => return Ok(Followed::StoppedAt(here)),
            };
        }
    }
}

/// The durable LSN of `p`, if it is a commit marker (authenticated, with
/// keys) that proves `min` was acknowledged.
#[cfg_attr(not(feature = "encryption"), allow(unused_variables))]
fn commit_proof(scanner: &Scanner, keys: &KeyChecks, p: &Phys, min: Lsn) -> Option<Lsn> {
    if p.header.record_type != RecordType::Commit {
        return None;
    }
    let record = Record {
        header: p.header,
        payload: scanner.payload(p),
    };
    #[cfg(feature = "encryption")]
    let authentic = keys
        .auth
        .as_ref()
        .is_none_or(|a| a.verify_marker(&record).is_ok());
    #[cfg(not(feature = "encryption"))]
    let authentic = true;
    let marker = CommitMarker::decode(&record).ok()?;
    (authentic && marker.durable() >= min).then(|| marker.durable())
}
