//! What a read-fault exploration counted and found.

use std::fmt;

use super::case::{ReadFaultCase, ReadFaultPlan};
use super::oracle::ReadVerdict;
use crate::case::{Findings, Tally};

/// An oracle violation (or a harness failure) and the case that found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadFaultViolation {
    /// The workload.
    pub plan: ReadFaultPlan,
    /// The case, if the failure was one case's (`None`: building the log
    /// or a fault-free run failed).
    pub case: Option<ReadFaultCase>,
    /// What was wrong.
    pub what: String,
}

impl ReadFaultViolation {
    /// What `case` found.
    pub(crate) fn of(case: &ReadFaultCase, what: String) -> Self {
        ReadFaultViolation {
            plan: case.plan,
            case: Some(*case),
            what,
        }
    }
}

impl fmt::Display for ReadFaultViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.case {
            Some(case) => write!(
                f,
                "READ-FAULT VIOLATION ({}): {}; replay: {}",
                self.plan,
                self.what,
                case.replay_line()
            ),
            None => write!(f, "READ-FAULT VIOLATION ({}): {}", self.plan, self.what),
        }
    }
}

/// What a read-fault exploration did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadFaultCounts {
    /// Workloads (logs) explored.
    pub workloads: u64,
    /// Operations run fault-free to count their reads.
    pub operations: u64,
    /// Read calls those fault-free runs made, per lane: the operation's
    /// own thread, read-ahead threads, other threads.
    pub reads: [u64; 3],
    /// Cases checked.
    pub cases: u64,
    /// Of those, `EIO` at the k-th read.
    pub eio_cases: u64,
    /// Of those, a bit flipped at the k-th read.
    pub flip_cases: u64,
    /// Of those, faults at a rate (several reads may be hit).
    pub rate_cases: u64,
    /// Reads a fault hit and changed (failed, or returned a changed byte).
    pub faults: u64,
    /// Verdicts: failed, naming the read error.
    pub io_errors: u64,
    /// Verdicts: failed, naming the damage a flip made.
    pub corruption: u64,
    /// Verdicts: opened, listing the damage as corrupt ranges.
    pub reported: u64,
    /// Verdicts: records past the evidence taken for a torn tail.
    pub torn: u64,
    /// Verdicts: everything back, no fault did anything.
    pub intact: u64,
    /// Verdicts: everything back though a fault did something.
    pub absorbed: u64,
    /// Violations found.
    pub violations: u64,
}

impl Tally for ReadFaultCounts {
    fn add(&mut self, other: &ReadFaultCounts) {
        self.workloads += other.workloads;
        self.operations += other.operations;
        for (a, b) in self.reads.iter_mut().zip(other.reads) {
            *a += b;
        }
        self.cases += other.cases;
        self.eio_cases += other.eio_cases;
        self.flip_cases += other.flip_cases;
        self.rate_cases += other.rate_cases;
        self.faults += other.faults;
        self.io_errors += other.io_errors;
        self.corruption += other.corruption;
        self.reported += other.reported;
        self.torn += other.torn;
        self.intact += other.intact;
        self.absorbed += other.absorbed;
        self.violations += other.violations;
    }

    fn violations(&self) -> u64 {
        self.violations
    }

    fn count_violation(&mut self) {
        self.violations += 1;
    }
}

impl ReadFaultCounts {
    /// Counts one verdict.
    pub(crate) fn verdict(&mut self, verdict: ReadVerdict) {
        match verdict {
            ReadVerdict::IoError => self.io_errors += 1,
            ReadVerdict::Corruption => self.corruption += 1,
            ReadVerdict::Reported => self.reported += 1,
            ReadVerdict::Torn => self.torn += 1,
            ReadVerdict::Intact => self.intact += 1,
            ReadVerdict::Absorbed => self.absorbed += 1,
        }
    }

    /// The verdicts counted.
    #[must_use]
    pub fn verdicts(&self) -> u64 {
        self.io_errors + self.corruption + self.reported + self.torn + self.intact + self.absorbed
    }
}

impl fmt::Display for ReadFaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [caller, ahead, other] = self.reads;
        write!(
            f,
            "{} workloads, {} operations ({} reads: {caller} by the caller, {ahead} read ahead, {other} by other threads), {} cases ({} EIO at the k-th read, {} flips at the k-th read, {} at a rate), {} reads faulted; verdicts: {} I/O errors, {} corruption, {} reported ranges, {} torn tails, {} absorbed, {} intact; {} violations",
            self.workloads,
            self.operations,
            caller + ahead + other,
            self.cases,
            self.eio_cases,
            self.flip_cases,
            self.rate_cases,
            self.faults,
            self.io_errors,
            self.corruption,
            self.reported,
            self.torn,
            self.absorbed,
            self.intact,
            self.violations
        )
    }
}

/// The counts and violations of a read-fault exploration.
pub type ReadFaultOutcome = Findings<ReadFaultCounts, ReadFaultViolation>;

impl ReadFaultOutcome {
    pub(crate) fn violation(
        &mut self,
        plan: ReadFaultPlan,
        case: Option<ReadFaultCase>,
        what: String,
    ) {
        self.found(ReadFaultViolation { plan, case, what });
    }
}
