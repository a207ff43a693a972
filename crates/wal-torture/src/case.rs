//! Cases (one crash point and post-crash state, or one injected fault),
//! violations, and the counts of a campaign.

use std::fmt;
use std::str::FromStr;

use crate::faults::FaultKind;
use crate::workload::{Plan, Workload};

/// One case of the campaign, enough to replay it exactly
/// ([`crate::replay`]). Its text form (`Display`, [`FromStr`]) is what
/// `cargo xtask crash --replay` takes; the tag of a case of the streams
/// workload ends in `-streams`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Case {
    /// The process dies at mutating storage call `point` of the workload
    /// (counted from the first open), then post-crash state `variant`
    /// (see [`crate::crash::variant`]); with `recovery`, the first reopen
    /// dies at its own call of that number, and the power fails again.
    Crash {
        /// The workload.
        plan: Plan,
        /// What it writes.
        workload: Workload,
        /// The crash point.
        point: u64,
        /// The post-crash state.
        variant: u32,
        /// A crash point inside the first recovery.
        recovery: Option<u64>,
    },
    /// Fault `kind` on the `k`-th call it applies to (from 0).
    Fault {
        /// The workload.
        plan: Plan,
        /// What it writes.
        workload: Workload,
        /// The fault.
        kind: FaultKind,
        /// Which call.
        k: u64,
    },
}

impl Case {
    /// The workload of the case.
    #[must_use]
    pub fn plan(&self) -> &Plan {
        match self {
            Case::Crash { plan, .. } | Case::Fault { plan, .. } => plan,
        }
    }

    /// What the workload of the case writes.
    #[must_use]
    pub fn workload(&self) -> Workload {
        match self {
            Case::Crash { workload, .. } | Case::Fault { workload, .. } => *workload,
        }
    }

    /// The command line that replays this case.
    #[must_use]
    pub fn replay_line(&self) -> String {
        format!("cargo xtask crash --replay {self}")
    }
}

/// The tag's suffix for a workload.
fn suffix(workload: Workload) -> &'static str {
    match workload {
        Workload::Records => "",
        Workload::Streams => "-streams",
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = self.plan();
        let tag = match self {
            Case::Crash { .. } => "crash",
            // `fault:` for the fault explorer's concurrent plans,
            // `fault-seq:` for sequential ones.
            Case::Fault { .. } if plan.concurrent => "fault",
            Case::Fault { .. } => "fault-seq",
        };
        let suffix = suffix(self.workload());
        write!(f, "{tag}{suffix}:{:#x}:{}:", plan.seed, plan.ops)?;
        match self {
            Case::Crash {
                point,
                variant,
                recovery,
                ..
            } => {
                write!(f, "{point}:{variant}")?;
                if let Some(r) = recovery {
                    write!(f, ":{r}")?;
                }
                Ok(())
            }
            Case::Fault { kind, k, .. } => write!(f, "{}:{k}", kind.name()),
        }
    }
}

/// A case that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadCase(pub String);

impl fmt::Display for BadCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad case {:?}: expected crash[-streams]:SEED:OPS:POINT:VARIANT[:RECOVERY_POINT] or fault[-seq][-streams]:SEED:OPS:KIND:K",
            self.0
        )
    }
}

impl std::error::Error for BadCase {}

/// A number of a case's text: decimal, or hexadecimal after `0x`.
pub(crate) fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl FromStr for Case {
    type Err = BadCase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadCase(s.to_owned());
        let parts: Vec<&str> = s.split(':').collect();
        let seed = parts.get(1).and_then(|p| number(p)).ok_or_else(bad)?;
        let ops = parts
            .get(2)
            .and_then(|p| number(p))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(bad)?;
        let tag = parts.first().copied().unwrap_or_default();
        let (tag, workload) = match tag.strip_suffix(suffix(Workload::Streams)) {
            Some(t) => (t, Workload::Streams),
            None => (tag, Workload::Records),
        };
        match (tag, parts.len()) {
            ("crash", 5 | 6) => Ok(Case::Crash {
                plan: Plan::from_seed(seed, ops),
                workload,
                point: parts.get(3).and_then(|p| number(p)).ok_or_else(bad)?,
                variant: parts
                    .get(4)
                    .and_then(|p| number(p))
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(bad)?,
                recovery: match parts.get(5) {
                    Some(p) => Some(number(p).ok_or_else(bad)?),
                    None => None,
                },
            }),
            (tag @ ("fault" | "fault-seq"), 5) => Ok(Case::Fault {
                plan: Plan::from_seed(seed, ops).with_concurrent(tag == "fault"),
                workload,
                kind: parts
                    .get(3)
                    .and_then(|p| FaultKind::from_name(p))
                    .ok_or_else(bad)?,
                k: parts.get(4).and_then(|p| number(p)).ok_or_else(bad)?,
            }),
            _ => Err(bad()),
        }
    }
}

/// An oracle violation: the case, and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The case that found it.
    pub case: Case,
    /// What was wrong.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VIOLATION ({}): {}; replay: {}",
            self.case.plan(),
            self.what,
            self.case.replay_line()
        )
    }
}

/// What a campaign did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Workloads explored.
    pub workloads: u64,
    /// Crash points (mutating storage calls of the workloads).
    pub crash_points: u64,
    /// (crash point, post-crash state) cases checked.
    pub crash_cases: u64,
    /// Cases with a second crash inside the first recovery.
    pub recovery_crash_cases: u64,
    /// Injected-fault cases checked.
    pub fault_cases: u64,
    /// Of those, disk-full runs (ENOSPC from the capacity running out).
    pub disk_full_cases: u64,
    /// Of the workloads, streams workloads.
    pub stream_workloads: u64,
    /// Of the crash points, those of streams workloads.
    pub stream_crash_points: u64,
    /// Of the (crash point, post-crash state) cases, those of streams
    /// workloads.
    pub stream_crash_cases: u64,
    /// Of the crashes during recovery, those of streams workloads.
    pub stream_recovery_crash_cases: u64,
    /// Of the injected-fault cases, those of streams workloads.
    pub stream_fault_cases: u64,
    /// Violations found.
    pub violations: u64,
}

impl Tally for Counts {
    fn add(&mut self, other: &Counts) {
        self.workloads += other.workloads;
        self.stream_workloads += other.stream_workloads;
        self.stream_crash_points += other.stream_crash_points;
        self.stream_crash_cases += other.stream_crash_cases;
        self.stream_recovery_crash_cases += other.stream_recovery_crash_cases;
        self.stream_fault_cases += other.stream_fault_cases;
        self.crash_points += other.crash_points;
        self.crash_cases += other.crash_cases;
        self.recovery_crash_cases += other.recovery_crash_cases;
        self.fault_cases += other.fault_cases;
        self.disk_full_cases += other.disk_full_cases;
        self.violations += other.violations;
    }

    fn violations(&self) -> u64 {
        self.violations
    }

    fn count_violation(&mut self) {
        self.violations += 1;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} workloads, {} crash points, {} (crash point, post-crash state) cases, {} crashes during recovery, {} injected faults ({} disk-full runs)",
            self.workloads,
            self.crash_points,
            self.crash_cases,
            self.recovery_crash_cases,
            self.fault_cases,
            self.disk_full_cases,
        )?;
        if self.stream_workloads > 0 {
            write!(
                f,
                "; of which streams: {} workloads, {} crash points, {} cases, {} crashes during recovery, {} injected faults",
                self.stream_workloads,
                self.stream_crash_points,
                self.stream_crash_cases,
                self.stream_recovery_crash_cases,
                self.stream_fault_cases,
            )?;
        }
        write!(f, "; {} violations", self.violations)
    }
}

/// The counts of a campaign, which add up over explorations and count
/// the violations found.
pub trait Tally: Clone + Default {
    /// Adds `other` to these counts.
    fn add(&mut self, other: &Self);
    /// The violations counted.
    fn violations(&self) -> u64;
    /// Counts one violation more.
    fn count_violation(&mut self);
}

/// The counts and violations of an exploration.
#[derive(Clone, Debug)]
pub struct Findings<C, V> {
    /// What was done.
    pub counts: C,
    /// What was found (at most [`MAX_KEPT`] are kept; the counts have
    /// them all).
    pub violations: Vec<V>,
}

/// The most violations [`Findings`] keep.
pub const MAX_KEPT: usize = 20;

impl<C: Default, V> Default for Findings<C, V> {
    fn default() -> Self {
        Findings {
            counts: C::default(),
            violations: Vec::new(),
        }
    }
}

impl<C: Tally, V> Findings<C, V> {
    /// Counts `violation`, and keeps it if there is room.
    pub fn found(&mut self, violation: V) {
        self.counts.count_violation();
        if self.violations.len() < MAX_KEPT {
            self.violations.push(violation);
        }
    }

    /// Merges `other` into these findings.
    pub fn merge(&mut self, other: Self) {
        self.counts.add(&other.counts);
        let room = MAX_KEPT.saturating_sub(self.violations.len());
        self.violations
            .extend(other.violations.into_iter().take(room));
    }
}

/// The counts and violations of a crash or fault exploration.
pub type Outcome = Findings<Counts, Violation>;

impl Outcome {
    pub(crate) fn violation(&mut self, case: Case, what: String) {
        self.found(Violation { case, what });
    }
}

/// Runs `f`, turning a panic into an error naming it.
pub(crate) fn no_panic<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            Err(format!("panic: {msg}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_round_trip_through_their_text() {
        let plan = Plan::from_seed(0x2a, 120);
        for workload in Workload::ALL {
            for case in [
                Case::Crash {
                    plan,
                    workload,
                    point: 17,
                    variant: 3,
                    recovery: None,
                },
                Case::Crash {
                    plan,
                    workload,
                    point: 17,
                    variant: 1,
                    recovery: Some(2),
                },
                Case::Fault {
                    plan: plan.with_concurrent(true),
                    workload,
                    kind: FaultKind::SyncEioForgets,
                    k: 9,
                },
                Case::Fault {
                    plan,
                    workload,
                    kind: FaultKind::DirSyncEio,
                    k: 2,
                },
            ] {
                assert_eq!(case.to_string().parse::<Case>(), Ok(case));
            }
        }
        assert!(
            "crash-streams:0x2a:120:17:3"
                .parse::<Case>()
                .is_ok_and(|c| c.workload() == Workload::Streams)
        );
        assert!("crash:1:2".parse::<Case>().is_err());
        assert!("fault:1:2:nonsense:3".parse::<Case>().is_err());
        assert!("crash-records:1:2:3:4".parse::<Case>().is_err());
    }
}
