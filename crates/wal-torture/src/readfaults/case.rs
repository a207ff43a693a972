//! A read-fault case: the workload, the operation, the fault and which
//! read it hits; its text form replays it.

use std::fmt;
use std::str::FromStr;

use groupwal::RecoveryMode;

use crate::bitrot::Ending;
use crate::case::number;
use crate::workload::Plan;

/// One workload of the campaign: the crash campaign's sequential plan of
/// `ops` operations from `seed` (appends, batches, checkpoints, purges,
/// suffix truncations, rotations; encryption, compression and recycling
/// from the seed's low bits), then a last session of a few appends and
/// batches, closed cleanly or crashed right after its last
/// acknowledgement ([`Ending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadFaultPlan {
    /// The seed.
    pub seed: u64,
    /// Operations of the crash campaign's plan.
    pub ops: usize,
    /// How the last session ended.
    pub ending: Ending,
}

impl ReadFaultPlan {
    /// The plan of `seed`, `ops` operations, ending `ending`.
    #[must_use]
    pub fn new(seed: u64, ops: usize, ending: Ending) -> Self {
        ReadFaultPlan { seed, ops, ending }
    }

    /// The crash campaign's plan the workload runs (sequential: the same
    /// storage calls on every run).
    #[must_use]
    pub fn workload(&self) -> Plan {
        Plan::from_seed(self.seed, self.ops)
    }
}

impl fmt::Display for ReadFaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read faults on {}, {} ending",
            self.workload(),
            self.ending.name()
        )
    }
}

/// The operation a case runs with the fault armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `Wal::open` (recovery) in this mode; the log is then read back with
    /// `Wal::read_from` and closed, the fault disarmed.
    Open(RecoveryMode),
    /// `Wal::read_from` from the log's first LSN to the end, on a log
    /// opened without a fault.
    ReadFrom,
    /// `groupwal::read_log` (a `LogReader`, default mode) to the end, on
    /// the log as the workload left it (no lock, no recovery).
    ReadLog,
}

/// Every operation: recovery in each mode, and both readers.
pub const ALL_OPERATIONS: &[Operation] = &[
    Operation::Open(RecoveryMode::TolerateCorruptedTailRecords),
    Operation::Open(RecoveryMode::AbsoluteConsistency),
    Operation::Open(RecoveryMode::PointInTime),
    Operation::Open(RecoveryMode::SkipAnyCorruptedRecords),
    Operation::ReadFrom,
    Operation::ReadLog,
];

impl Operation {
    /// Its name in a case.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Operation::Open(RecoveryMode::TolerateCorruptedTailRecords) => "open/default",
            Operation::Open(RecoveryMode::AbsoluteConsistency) => "open/absolute",
            Operation::Open(RecoveryMode::PointInTime) => "open/pit",
            Operation::Open(RecoveryMode::SkipAnyCorruptedRecords) => "open/skip",
            Operation::Open(_) => "open/other",
            Operation::ReadFrom => "read-from",
            Operation::ReadLog => "read-log",
        }
    }

    /// The operation named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Operation> {
        ALL_OPERATIONS.iter().copied().find(|o| o.name() == name)
    }

    /// The recovery mode the operation reads in (the readers read in the
    /// default mode).
    #[must_use]
    pub fn mode(self) -> RecoveryMode {
        match self {
            Operation::Open(mode) => mode,
            Operation::ReadFrom | Operation::ReadLog => RecoveryMode::default(),
        }
    }
}

/// What a faulted read does (the simulated disk's read faults,
/// `groupwal::io::sim::Fault`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadFault {
    /// The read fails with `EIO` (`Fault::ReadEio`).
    Eio,
    /// The read returns the data with one bit flipped; the stored data is
    /// unharmed (`Fault::BitFlipOnRead`).
    Flip,
    /// The storage layer swallows the read's `EIO` and reports the end of
    /// the file (`Ok(0)`): a broken storage layer, which no log can
    /// survive. Not in [`ALL_READ_FAULTS`]: it is there to show that the
    /// oracle catches a read error taken for the end of the data.
    EofOnError,
}

/// The read faults a campaign injects.
pub const ALL_READ_FAULTS: &[ReadFault] = &[ReadFault::Eio, ReadFault::Flip];

impl ReadFault {
    /// Its name in a case.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ReadFault::Eio => "eio",
            ReadFault::Flip => "flip",
            ReadFault::EofOnError => "eof-on-error",
        }
    }

    /// The fault named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<ReadFault> {
        [ReadFault::Eio, ReadFault::Flip, ReadFault::EofOnError]
            .into_iter()
            .find(|f| f.name() == name)
    }

    /// Whether the fault is a read error (reported or swallowed), not bad
    /// data.
    #[must_use]
    pub fn is_error(self) -> bool {
        matches!(self, ReadFault::Eio | ReadFault::EofOnError)
    }
}

/// The threads read calls are counted on, separately: each lane's calls
/// come in the same order on every run (the read-ahead thread does its
/// jobs in order), whereas the interleaving of the lanes depends on timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// The thread running the operation.
    Caller,
    /// A reader's read-ahead thread (`groupwal-readahead`).
    ReadAhead,
    /// Any other thread (the log's own threads).
    Other,
}

/// Every lane.
pub const ALL_LANES: &[Lane] = &[Lane::Caller, Lane::ReadAhead, Lane::Other];

impl Lane {
    fn letter(self) -> char {
        match self {
            Lane::Caller => 'c',
            Lane::ReadAhead => 'a',
            Lane::Other => 'o',
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Lane::Caller => 0,
            Lane::ReadAhead => 1,
            Lane::Other => 2,
        }
    }
}

/// Which reads the fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Injection {
    /// The `k`-th read call (from 0) of `lane` during the operation.
    At {
        /// The lane.
        lane: Lane,
        /// Which call.
        k: u64,
    },
    /// Each read call with probability `per_million / 1_000_000`, decided
    /// for each (lane, call number) from the seed and `draw`, so the same
    /// reads are hit on every run.
    Rate {
        /// The rate.
        per_million: u32,
        /// Which draw.
        draw: u64,
    },
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Injection::At { lane, k } => write!(f, "{}{k}", lane.letter()),
            Injection::Rate { per_million, draw } => write!(f, "r{per_million}.{draw}"),
        }
    }
}

impl FromStr for Injection {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if let Some(rate) = s.strip_prefix('r') {
            let (rate, draw) = rate.split_once('.').ok_or(())?;
            return Ok(Injection::Rate {
                per_million: rate.parse().map_err(|_| ())?,
                draw: draw.parse().map_err(|_| ())?,
            });
        }
        let mut chars = s.chars();
        let letter = chars.next().ok_or(())?;
        let lane = ALL_LANES
            .iter()
            .copied()
            .find(|l| l.letter() == letter)
            .ok_or(())?;
        Ok(Injection::At {
            lane,
            k: chars.as_str().parse().map_err(|_| ())?,
        })
    }
}

/// One case: enough to replay it ([`super::replay`]). Its text form is
/// `readfault:SEED:OPS:ENDING:OPERATION:FAULT:INJECTION:FINGERPRINT`, for
/// example `readfault:0x5100:60:crash:open/default:flip:c17:3f0c...`; the
/// injection is `cK`, `aK` or `oK` (the K-th read of the caller, the
/// read-ahead or another thread) or `rRATE.DRAW` (a rate per million).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadFaultCase {
    /// The workload.
    pub plan: ReadFaultPlan,
    /// The operation run with the fault armed.
    pub operation: Operation,
    /// The fault.
    pub fault: ReadFault,
    /// Which reads it hits.
    pub injection: Injection,
    /// The fingerprint of the layout of the log the workload left (every
    /// file's name and length, every record's offset, length, type and
    /// LSN): a replay checks that it rebuilt the same log.
    pub fingerprint: u64,
}

impl ReadFaultCase {
    /// The command that replays this case.
    #[must_use]
    pub fn replay_line(&self) -> String {
        format!("cargo xtask crash --replay {self}")
    }
}

impl fmt::Display for ReadFaultCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "readfault:{:#x}:{}:{}:{}:{}:{}:{:016x}",
            self.plan.seed,
            self.plan.ops,
            self.plan.ending.name(),
            self.operation.name(),
            self.fault.name(),
            self.injection,
            self.fingerprint
        )
    }
}

/// A case that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadReadFaultCase(pub String);

impl fmt::Display for BadReadFaultCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad case {:?}: expected readfault:SEED:OPS:clean|crash:open/default|open/absolute|open/pit|open/skip|read-from|read-log:eio|flip|eof-on-error:cK|aK|oK|rRATE.DRAW:FINGERPRINT",
            self.0
        )
    }
}

impl std::error::Error for BadReadFaultCase {}

impl FromStr for ReadFaultCase {
    type Err = BadReadFaultCase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadReadFaultCase(s.to_owned());
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [
            tag,
            seed,
            ops,
            ending,
            operation,
            fault,
            injection,
            fingerprint,
        ] = parts.as_slice()
        else {
            return Err(bad());
        };
        if *tag != "readfault" {
            return Err(bad());
        }
        let seed = number(seed).ok_or_else(bad)?;
        let ops = number(ops)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(bad)?;
        Ok(ReadFaultCase {
            plan: ReadFaultPlan::new(seed, ops, Ending::from_name(ending).ok_or_else(bad)?),
            operation: Operation::from_name(operation).ok_or_else(bad)?,
            fault: ReadFault::from_name(fault).ok_or_else(bad)?,
            injection: injection.parse().map_err(|()| bad())?,
            fingerprint: u64::from_str_radix(fingerprint, 16).map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_round_trip_through_their_text() {
        for (ending, operation, fault, injection) in [
            (
                Ending::Clean,
                Operation::Open(RecoveryMode::PointInTime),
                ReadFault::Eio,
                Injection::At {
                    lane: Lane::ReadAhead,
                    k: 3,
                },
            ),
            (
                Ending::Crash,
                Operation::ReadLog,
                ReadFault::Flip,
                Injection::Rate {
                    per_million: 20_000,
                    draw: 7,
                },
            ),
            (
                Ending::Crash,
                Operation::ReadFrom,
                ReadFault::EofOnError,
                Injection::At {
                    lane: Lane::Caller,
                    k: 0,
                },
            ),
        ] {
            let case = ReadFaultCase {
                plan: ReadFaultPlan::new(0x51a, 60, ending),
                operation,
                fault,
                injection,
                fingerprint: 0x0123_4567_89ab_cdef,
            };
            assert_eq!(case.to_string().parse::<ReadFaultCase>(), Ok(case));
        }
        for &lane in ALL_LANES {
            let at = Injection::At { lane, k: 12 };
            assert_eq!(at.to_string().parse::<Injection>(), Ok(at));
        }
        for op in ALL_OPERATIONS {
            assert_eq!(Operation::from_name(op.name()), Some(*op));
        }
        assert!(
            "readfault:1:2:clean:open/default:eio:x3:0"
                .parse::<ReadFaultCase>()
                .is_err()
        );
        assert!("bitrot:1:2".parse::<ReadFaultCase>().is_err());
    }
}
