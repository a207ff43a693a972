//! What a bit-rot exploration counted and found.

use std::fmt;

use super::case::BitrotCase;
use super::workload::BitrotPlan;
use crate::case::{Findings, Tally};

/// An oracle violation (or a harness failure) and the case that found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitrotViolation {
    /// The workload.
    pub plan: BitrotPlan,
    /// The case, if the failure was one case's (`None`: building or
    /// listing the image failed).
    pub case: Option<BitrotCase>,
    /// What was wrong.
    pub what: String,
}

impl BitrotViolation {
    /// What `case` found.
    pub(crate) fn of(case: &BitrotCase, what: String) -> Self {
        BitrotViolation {
            plan: case.plan,
            case: Some(*case),
            what,
        }
    }
}

impl fmt::Display for BitrotViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.case {
            Some(case) => write!(
                f,
                "BIT-ROT VIOLATION ({}): {}; case {case}; replay: {}",
                self.plan,
                self.what,
                case.replay_line()
            ),
            None => write!(f, "BIT-ROT VIOLATION ({}): {}", self.plan, self.what),
        }
    }
}

/// What a bit-rot exploration did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BitrotCounts {
    /// Workloads (images) explored.
    pub workloads: u64,
    /// Damage positions.
    pub positions: u64,
    /// (position, kind, mode) cases checked.
    pub cases: u64,
    /// Cases whose damage changed no byte (a zeroed sector that was zeros
    /// already): everything must come back, nothing reported.
    pub no_op: u64,
    /// Cases where the first unit the damage hits was proven acknowledged
    /// (its LSN at or below the surviving evidence).
    pub proven: u64,
    /// Corruption verdicts: recovery refused the log naming the damage
    /// (corruption, or a bad segment header).
    pub refused: u64,
    /// Corruption verdicts: recovery opened the log and listed the damage
    /// as corrupt ranges (point in time, skipping).
    pub reported: u64,
    /// Torn verdicts: recovery cut a torn tail nothing proved acknowledged.
    pub torn: u64,
    /// The damage zeroed the last records whole, from a record boundary
    /// (an image where they were never written): recovery found a clean
    /// end before them, nothing proved them acknowledged.
    pub zeroed_tail: u64,
    /// Every record came back and nothing was reported (only when the
    /// damage changed nothing).
    pub intact: u64,
    /// Of the refusals, those in the point-in-time and skipping modes
    /// (a bad segment header is an error in every mode).
    pub salvage_refused: u64,
    /// Of the refusals, those in the default mode where no surviving
    /// evidence covered the damage (allowed: a segment header that does
    /// not verify is an error in every mode, whatever the evidence; for
    /// damaged records recovery would be more careful than it has to be).
    pub refused_unproven: u64,
    /// Violations found.
    pub violations: u64,
}

impl Tally for BitrotCounts {
    fn add(&mut self, other: &BitrotCounts) {
        self.workloads += other.workloads;
        self.positions += other.positions;
        self.cases += other.cases;
        self.no_op += other.no_op;
        self.proven += other.proven;
        self.refused += other.refused;
        self.reported += other.reported;
        self.torn += other.torn;
        self.zeroed_tail += other.zeroed_tail;
        self.intact += other.intact;
        self.salvage_refused += other.salvage_refused;
        self.refused_unproven += other.refused_unproven;
        self.violations += other.violations;
    }

    fn violations(&self) -> u64 {
        self.violations
    }

    fn count_violation(&mut self) {
        self.violations += 1;
    }
}

impl BitrotCounts {
    /// Corruption verdicts: refusals and reported ranges.
    #[must_use]
    pub fn corruption(&self) -> u64 {
        self.refused + self.reported
    }
}

impl fmt::Display for BitrotCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} workloads, {} damage positions, {} (position, kind, mode) cases ({} proven damage, {} no-op), {} corruption verdicts ({} refused, {} of them in a salvage mode, {} without evidence; {} reported ranges), {} torn verdicts, {} zeroed tails, {} intact, {} violations",
            self.workloads,
            self.positions,
            self.cases,
            self.proven,
            self.no_op,
            self.corruption(),
            self.refused,
            self.salvage_refused,
            self.refused_unproven,
            self.reported,
            self.torn,
            self.zeroed_tail,
            self.intact,
            self.violations
        )
    }
}

/// The counts and violations of a bit-rot exploration.
pub type BitrotOutcome = Findings<BitrotCounts, BitrotViolation>;

impl BitrotOutcome {
    pub(crate) fn violation(&mut self, plan: BitrotPlan, case: Option<BitrotCase>, what: String) {
        self.found(BitrotViolation { plan, case, what });
    }
}
