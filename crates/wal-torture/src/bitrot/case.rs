//! A bit-rot case: where the damage goes, what it is, the recovery mode,
//! and the image's layout; its text form replays it.

use std::fmt;
use std::str::FromStr;

use groupwal::RecoveryMode;

use super::workload::{BitrotPlan, Ending};
use crate::case::number;

/// Where the damage goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// The header of segment `segment` (index in name order).
    Header {
        /// Which segment.
        segment: usize,
    },
    /// Physical record `index` (in file order, markers included) of
    /// segment `segment`.
    Record {
        /// Which segment.
        segment: usize,
        /// Which record.
        index: usize,
    },
}

impl Position {
    /// The segment damaged.
    #[must_use]
    pub fn segment(&self) -> usize {
        match *self {
            Position::Header { segment } | Position::Record { segment, .. } => segment,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Header { segment } => write!(f, "h{segment}"),
            Position::Record { segment, index } => write!(f, "r{segment}.{index}"),
        }
    }
}

impl FromStr for Position {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if let Some(seg) = s.strip_prefix('h') {
            return Ok(Position::Header {
                segment: seg.parse().map_err(|_| ())?,
            });
        }
        let (seg, index) = s
            .strip_prefix('r')
            .and_then(|r| r.split_once('.'))
            .ok_or(())?;
        Ok(Position::Record {
            segment: seg.parse().map_err(|_| ())?,
            index: index.parse().map_err(|_| ())?,
        })
    }
}

/// What the damage is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One bit of one byte of the record (or header) flipped.
    BitFlip,
    /// The 512-byte sector holding one byte of the record zeroed.
    ZeroSector,
    /// The 512-byte sector holding one byte of the record filled with
    /// random bytes.
    GarbageSector,
}

/// Every damage kind.
pub const ALL_KINDS: &[Kind] = &[Kind::BitFlip, Kind::ZeroSector, Kind::GarbageSector];

impl Kind {
    /// The kind's name in a case.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::BitFlip => "flip",
            Kind::ZeroSector => "zero",
            Kind::GarbageSector => "garbage",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Kind> {
        ALL_KINDS.iter().copied().find(|k| k.name() == s)
    }
}

/// The recovery mode a case opens the damaged log with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `RecoveryMode::TolerateCorruptedTailRecords`.
    Default,
    /// `RecoveryMode::PointInTime`.
    PointInTime,
    /// `RecoveryMode::SkipAnyCorruptedRecords`.
    Skip,
}

/// Every mode.
pub const ALL_MODES: &[Mode] = &[Mode::Default, Mode::PointInTime, Mode::Skip];

impl Mode {
    /// The mode's name in a case.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Mode::Default => "default",
            Mode::PointInTime => "pit",
            Mode::Skip => "skip",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Mode> {
        ALL_MODES.iter().copied().find(|m| m.name() == s)
    }

    /// The recovery mode.
    #[must_use]
    pub fn recovery_mode(self) -> RecoveryMode {
        match self {
            Mode::Default => RecoveryMode::TolerateCorruptedTailRecords,
            Mode::PointInTime => RecoveryMode::PointInTime,
            Mode::Skip => RecoveryMode::SkipAnyCorruptedRecords,
        }
    }
}

/// One case: enough to replay it ([`super::replay`]). Its text form is
/// `bitrot:SEED:ENDING:POSITION:KIND:MODE:FINGERPRINT`, for example
/// `bitrot:0x7001:crash:r4.12:zero:default:8c2f0e6a91d3b457`; the mode is
/// `default`, `pit`, `skip` (read back with `Wal::read_from`) or
/// `skip/log` (read back with `groupwal::read_log`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BitrotCase {
    /// The workload.
    pub plan: BitrotPlan,
    /// Where the damage goes.
    pub position: Position,
    /// What it is.
    pub kind: Kind,
    /// The recovery mode.
    pub mode: Mode,
    /// How a log recovered in the skipping mode is read back.
    pub reader: SkipReader,
    /// The layout fingerprint of the image the case damaged (names,
    /// offsets, lengths, types, LSNs and durable LSNs of every record): a
    /// replay checks that it rebuilt the same image.
    pub fingerprint: u64,
}

impl BitrotCase {
    /// The command that replays this case.
    #[must_use]
    pub fn replay_line(&self) -> String {
        format!(
            "GROUPWAL_BITROT_CASE={self} cargo test -p wal-torture --test it bit_rot::a_case_replays -- --nocapture"
        )
    }
}

impl fmt::Display for BitrotCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reader = match (self.mode, self.reader) {
            (Mode::Skip, SkipReader::LogReader) => "/log",
            _ => "",
        };
        write!(
            f,
            "bitrot:{:#x}:{}:{}:{}:{}{reader}:{:016x}",
            self.plan.seed,
            self.plan.ending.name(),
            self.position,
            self.kind.name(),
            self.mode.name(),
            self.fingerprint
        )
    }
}

/// A case that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBitrotCase(pub String);

impl fmt::Display for BadBitrotCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad case {:?}: expected bitrot:SEED:clean|crash:hS|rS.I:flip|zero|garbage:default|pit|skip|skip/log:FINGERPRINT",
            self.0
        )
    }
}

impl std::error::Error for BadBitrotCase {}

impl FromStr for BitrotCase {
    type Err = BadBitrotCase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadBitrotCase(s.to_owned());
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [tag, seed, ending, position, kind, mode, fingerprint] = parts.as_slice() else {
            return Err(bad());
        };
        if *tag != "bitrot" {
            return Err(bad());
        }
        let seed = number(seed).ok_or_else(bad)?;
        Ok(BitrotCase {
            plan: BitrotPlan::new(seed, Ending::from_name(ending).ok_or_else(bad)?),
            position: position.parse().map_err(|()| bad())?,
            kind: Kind::from_name(kind).ok_or_else(bad)?,
            mode: match *mode {
                "skip/log" => Mode::Skip,
                m => Mode::from_name(m).ok_or_else(bad)?,
            },
            reader: if *mode == "skip/log" {
                SkipReader::LogReader
            } else {
                SkipReader::Wal
            },
            fingerprint: u64::from_str_radix(fingerprint, 16).map_err(|_| bad())?,
        })
    }
}

/// How a log recovered in [`Mode::Skip`] is read back (the other modes
/// always read through `Wal::read_from`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReader {
    /// `Wal::read_from`, on the open log (the tailing reader, bounded by
    /// the durable watermark).
    Wal,
    /// `groupwal::read_log` (a `LogReader` in the skipping mode), after the
    /// log is closed. For sweeps that check recovery while
    /// `Wal::read_from` cannot read past a range the skipping mode skipped
    /// (it fails with "... at a durable lsn": its tailing reader treats
    /// every stop below the watermark as a record not written yet, and
    /// ignores the mode).
    LogReader,
}
