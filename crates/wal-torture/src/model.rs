//! The model of what a log may hold after a crash, and the oracle that
//! compares a recovered log with it.
//!
//! The model keeps every unit (a record, or an atomic batch) ever
//! submitted in the current history, in LSN order from LSN 1, with the
//! highest acknowledged LSN, the highest purge point requested and any
//! suffix truncation under way. A recovered log satisfies it when:
//!
//! - its LSNs run from some `first` to `last` without a gap, and each
//!   record is, bit for bit and in kind, the one submitted at its LSN (so
//!   nothing is invented, and nothing cut off by an acknowledged
//!   `truncate_from` comes back: new records took those LSNs);
//! - `last` is at least the highest acknowledged LSN (lowered only by an
//!   acknowledged truncation, or by one under way, which may have cut
//!   anything from its point on) and at most the last submitted one;
//! - `first` is 1, or at most the highest purge point requested (purging
//!   drops whole segments below it, oldest first);
//! - both ends fall on unit boundaries: no batch is half present.

use groupwal::{LogicalKind, OwnedRecord};

/// One record as submitted.
#[derive(Clone, Debug)]
struct Rec {
    payload: Vec<u8>,
    checkpoint: bool,
}

/// A record, or an atomic batch.
#[derive(Clone, Debug)]
struct Unit {
    first: u64,
    records: Vec<Rec>,
}

impl Unit {
    fn last(&self) -> u64 {
        self.first + self.records.len() as u64 - 1
    }
}

/// What was submitted and acknowledged: see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Model {
    units: Vec<Unit>,
    acked: u64,
    purge_floor: u64,
    truncating: Option<u64>,
    checkpoint: Option<u64>,
}

impl Model {
    /// The LSN the next submitted record takes.
    #[must_use]
    pub fn next_lsn(&self) -> u64 {
        self.units.last().map_or(1, |u| u.last() + 1)
    }

    /// The highest acknowledged LSN.
    #[must_use]
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Notes the submission of one unit; returns its first and last LSN.
    pub fn push(&mut self, payloads: &[Vec<u8>], checkpoint: bool) -> (u64, u64) {
        let first = self.next_lsn();
        let unit = Unit {
            first,
            records: payloads
                .iter()
                .map(|p| Rec {
                    payload: p.clone(),
                    checkpoint,
                })
                .collect(),
        };
        let last = unit.last();
        self.units.push(unit);
        (first, last)
    }

    /// Notes that everything up to `lsn` was acknowledged.
    pub fn ack(&mut self, lsn: u64) {
        self.acked = self.acked.max(lsn);
    }

    /// Notes that the checkpoint record at `lsn` was acknowledged (the
    /// point [`Model::last_checkpoint`] purges below).
    pub fn checkpointed(&mut self, lsn: u64) {
        self.checkpoint = Some(lsn);
    }

    /// The LSN of the last acknowledged checkpoint still in the history.
    #[must_use]
    pub fn last_checkpoint(&self) -> Option<u64> {
        self.checkpoint
    }

    /// Notes a purge below `lsn` (requested: it may have happened, in part
    /// or whole, from now on).
    pub fn purging(&mut self, lsn: u64) {
        self.purge_floor = self.purge_floor.max(lsn);
    }

    /// The first LSN of the `n`-th last unit, if it lies above every purge
    /// point (truncating into purged segments is not what this workload
    /// tests).
    #[must_use]
    pub fn truncation_point(&self, n: usize) -> Option<u64> {
        let i = self.units.len().checked_sub(n)?;
        let first = self.units.get(i)?.first;
        (first > self.purge_floor).then_some(first)
    }

    /// Notes a `truncate_from(lsn)` under way.
    pub fn truncating(&mut self, lsn: u64) {
        self.truncating = Some(lsn);
    }

    /// Notes that `truncate_from(lsn)` returned: records from `lsn` on are
    /// gone, and their LSNs go to new records.
    pub fn truncated(&mut self, lsn: u64) {
        self.units.retain(|u| u.first < lsn);
        self.acked = self.acked.min(lsn.saturating_sub(1));
        self.truncating = None;
        if self.checkpoint.is_some_and(|c| c >= lsn) {
            self.checkpoint = None;
        }
    }

    /// Notes that a recovered log ending at `last` (checked by
    /// [`Model::check`]) was reopened and built on: what it holds is the
    /// history now, and must survive like acknowledged records.
    pub fn rebase(&mut self, last: u64) {
        self.units.retain(|u| u.first <= last);
        self.acked = last;
        self.truncating = None;
        if self.checkpoint.is_some_and(|c| c > last) {
            self.checkpoint = None;
        }
    }

    fn unit_of(&self, lsn: u64) -> Option<&Unit> {
        let i = self.units.partition_point(|u| u.last() < lsn);
        self.units.get(i).filter(|u| u.first <= lsn)
    }

    fn record(&self, lsn: u64) -> Option<&Rec> {
        let unit = self.unit_of(lsn)?;
        unit.records.get(usize::try_from(lsn - unit.first).ok()?)
    }

    /// The oracle: whether a recovered log whose last LSN is `last` (from
    /// the recovery report) and whose records are `records` (read from the
    /// oldest on) is one the model allows. The error says what is wrong.
    ///
    /// # Errors
    ///
    /// A description of the violation.
    pub fn check(&self, last: u64, records: &[OwnedRecord]) -> Result<(), String> {
        let first = records.first().map_or(last + 1, |r| r.lsn.get());
        for (i, r) in records.iter().enumerate() {
            if r.lsn.get() != first + i as u64 {
                return Err(format!(
                    "gap: record {i} read back has lsn {}, expected {}",
                    r.lsn,
                    first + i as u64
                ));
            }
        }
        if let Some(r) = records.last()
            && r.lsn.get() != last
        {
            return Err(format!(
                "the recovery report says the last lsn is {last}, the last record read is {}",
                r.lsn
            ));
        }
        let submitted = self.next_lsn() - 1;
        if last > submitted {
            return Err(format!(
                "invented records: recovered up to lsn {last}, only {submitted} were submitted"
            ));
        }
        let must_reach = match self.truncating {
            Some(t) => self.acked.min(t.saturating_sub(1)),
            None => self.acked,
        };
        if last < must_reach {
            return Err(format!(
                "acknowledged records lost: recovered up to lsn {last}, acknowledged up to {must_reach}{}",
                if self.truncating.is_some() {
                    " (below a truncation under way)"
                } else {
                    ""
                }
            ));
        }
        if first > 1 && first > self.purge_floor {
            return Err(format!(
                "records lost at the start: the log starts at lsn {first}, the highest purge point is {}",
                self.purge_floor
            ));
        }
        if last > 0
            && let Some(u) = self.unit_of(last)
            && u.last() != last
        {
            return Err(format!(
                "half a batch at the end: recovered up to lsn {last}, inside the batch {}..={}",
                u.first,
                u.last()
            ));
        }
        if first <= last
            && let Some(u) = self.unit_of(first)
            && u.first != first
        {
            return Err(format!(
                "half a batch at the start: the log starts at lsn {first}, inside the batch {}..={}",
                u.first,
                u.last()
            ));
        }
        for r in records {
            let Some(want) = self.record(r.lsn.get()) else {
                return Err(format!("lsn {} was never submitted", r.lsn));
            };
            if r.payload != want.payload {
                return Err(format!(
                    "lsn {}: payload differs from what was submitted ({} bytes read, {} submitted)",
                    r.lsn,
                    r.payload.len(),
                    want.payload.len()
                ));
            }
            let is_checkpoint = r.kind == LogicalKind::Checkpoint;
            if is_checkpoint != want.checkpoint {
                return Err(format!("lsn {}: kind {:?} differs", r.lsn, r.kind));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupwal::Lsn;
    use groupwal::format::Flags;

    fn rec(lsn: u64, payload: &[u8]) -> OwnedRecord {
        OwnedRecord {
            lsn: Lsn::new(lsn),
            kind: LogicalKind::Data,
            flags: Flags::EMPTY,
            payload: payload.to_vec(),
        }
    }

    fn model() -> Model {
        let mut m = Model::default();
        m.push(&[b"a".to_vec()], false);
        m.push(&[b"b".to_vec(), b"c".to_vec()], false);
        m.ack(3);
        m.push(&[b"d".to_vec()], false);
        m
    }

    #[test]
    fn the_oracle_accepts_allowed_prefixes_and_refuses_the_rest() {
        let m = model();
        let all = [rec(1, b"a"), rec(2, b"b"), rec(3, b"c"), rec(4, b"d")];
        assert!(m.check(3, &all[..3]).is_ok());
        assert!(m.check(4, &all).is_ok());
        // Acknowledged lost, half a batch, a gap, an invented or changed record.
        assert!(m.check(1, &all[..1]).unwrap_err().contains("lost"));
        assert!(m.check(2, &all[..2]).is_err());
        assert!(
            m.check(4, &[rec(1, b"a"), rec(2, b"b"), rec(4, b"d")])
                .is_err()
        );
        assert!(
            m.check(
                5,
                &[
                    all[0].clone(),
                    all[1].clone(),
                    all[2].clone(),
                    all[3].clone(),
                    rec(5, b"e")
                ]
            )
            .is_err()
        );
        assert!(
            m.check(3, &[rec(1, b"a"), rec(2, b"b"), rec(3, b"X")])
                .is_err()
        );
        // Starting late needs a purge.
        assert!(m.check(4, &all[3..]).is_err());
        let mut purged = m.clone();
        purged.purging(4);
        assert!(purged.check(4, &all[3..]).is_ok());
        assert!(
            purged.check(4, &all[2..]).is_err(),
            "half a batch at the start"
        );
    }

    #[test]
    fn truncation_reuses_lsns_and_the_old_records_must_not_return() {
        let mut m = model();
        m.truncating(2);
        // Under way: anything from 2 on may be gone.
        assert!(m.check(1, &[rec(1, b"a")]).is_ok());
        m.truncated(2);
        m.push(&[b"new".to_vec()], false);
        m.ack(2);
        assert!(m.check(2, &[rec(1, b"a"), rec(2, b"new")]).is_ok());
        assert!(m.check(2, &[rec(1, b"a"), rec(2, b"b")]).is_err());
        assert!(m.check(1, &[rec(1, b"a")]).is_err());
    }
}
