//! The oracle of the read-fault campaign: a read that fails, or returns
//! flipped bits, is never taken for the end of the data.
//!
//! # What the oracle knows ([`ReadExpectation`])
//!
//! - The truth: every record the log holds, read by a fault-free recovery
//!   of the same image and held to the workload's [`crate::model::Model`]
//!   (every acknowledged record, bit-exact, in LSN order, purges and
//!   truncations modelled).
//! - E, the evidence the faults left intact (as in the bit-rot campaign,
//!   [`crate::bitrot::oracle`]): the durable LSN of every commit marker no
//!   flip changed, the `CLEAN` marker unless a fault hit a read of it, the
//!   LSNs before the last segment.
//! - The reads the faults hit ([`Hit`]): the file, and for a flip the byte
//!   that read back changed.
//!
//! # What it accepts ([`judge`])
//!
//! An operation that **failed** must change nothing on disk (the files,
//! `LOCK` aside) and name the fault: for a read error, an error whose
//! chain holds the `EIO` and names the file of a failed read; for flipped
//! bits, damage (corruption, a bad segment header, a torn tail in the
//! absolute mode, a payload that does not authenticate) in the file a
//! flip hit, or an LSN gap at the segment after it. A failure with no
//! fault that did anything is a violation too.
//!
//! An operation that **succeeded** must give back records of the truth,
//! bit-exact, in LSN order (gaps only in the skipping mode; no corrupt
//! range in the default and absolute modes), and:
//!
//! - after a read error (and after anything with `Wal::read_from`, which
//!   reads only what the durable watermark says exists), every record of
//!   the truth: an `Ok` with fewer is a read error taken for the end of
//!   the data;
//! - after flipped bits, every missing record is accounted for: by a
//!   corrupt range (skipping: its LSNs hold it; point in time: at or
//!   after the first range's), or by a torn tail that starts past E (a
//!   flip on read looks like damage, and damage no evidence proves
//!   acknowledged may be a torn write; proven records are never called
//!   torn).
//!
//! **Once the fault is gone** the log opens in the default mode and holds
//! the truth's records from its first on, up to its last, or, after an
//! open that succeeded with losses (a torn tail cut, a point-in-time
//! recovery), at least up to what that open kept; and takes an append.
//! So a fault that made recovery write bad data, or cut records it did
//! not report, is caught here.

use std::collections::BTreeSet;

use groupwal::reader::CorruptionKind;
use groupwal::{OwnedRecord, RecoveryMode};

use super::case::{Operation, ReadFault};
use super::disk::Hit;
use crate::bitrot::oracle::RangeFacts;

/// What the oracle knows about one case: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadExpectation {
    /// Every record of the log, from its first, as a fault-free recovery
    /// reads it.
    pub truth: Vec<OwnedRecord>,
    /// E: the highest LSN the evidence left intact proves acknowledged.
    pub evidence: u64,
    /// The segment files, in LSN order.
    pub segments: Vec<String>,
}

impl ReadExpectation {
    fn first(&self) -> u64 {
        self.truth.first().map_or(0, |r| r.lsn.get())
    }

    fn last(&self) -> u64 {
        self.truth.last().map_or(0, |r| r.lsn.get())
    }

    /// The segment after `file`, if any.
    fn next_segment(&self, file: &str) -> Option<&str> {
        let i = self.segments.iter().position(|s| s == file)?;
        self.segments.get(i + 1).map(String::as_str)
    }
}

/// How an operation that succeeded says the data ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndFacts {
    /// A torn tail (cut by recovery, or where a reader stopped).
    pub torn: bool,
    /// The LSN after the last record kept.
    pub next_lsn: u64,
    /// The ranges listed as corrupt (skipped, or where a point-in-time
    /// recovery stopped).
    pub corrupt: Vec<RangeFacts>,
}

/// What an operation that succeeded gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    /// How the data ended.
    pub end: EndFacts,
    /// The records read (for an open, read back after it with the fault
    /// disarmed), or why reading them failed.
    pub records: Result<Vec<OwnedRecord>, String>,
}

/// The damage an error names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The file.
    pub file: String,
    /// An LSN gap (reported at the segment after the damage).
    pub gap: bool,
}

/// Why an operation failed, as the oracle needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The error and its sources, one line.
    pub text: String,
    /// An `io::Error` with `EIO` is in the chain.
    pub eio: bool,
    /// The damage it reports, if it reports damage (corruption, a bad
    /// segment header, a torn tail, a payload that does not authenticate).
    pub damage: Option<Named>,
}

/// `EIO` on Linux.
const EIO: i32 = 5;

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl From<&groupwal::Error> for Failure {
    fn from(e: &groupwal::Error) -> Self {
        let mut text = e.to_string();
        let mut eio = false;
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                eio |= io.raw_os_error() == Some(EIO);
            }
            source = s.source();
            if let Some(next) = source {
                text.push_str(": ");
                text.push_str(&next.to_string());
            }
        }
        // Damage the open or a read named: a damaged range, a bad header,
        // a payload that does not authenticate, a segment that reads back
        // differently than it did a moment before (the damage a flip on
        // read made), a torn tail.
        let damage = match e {
            groupwal::Error::Corruption { segment, .. } => Some(Named {
                file: file_name(segment),
                gap: e
                    .corrupt_range()
                    .is_some_and(|range| range.kind == CorruptionKind::LsnGap),
            }),
            groupwal::Error::TornTail { segment, .. } => Some(Named {
                file: file_name(segment),
                gap: false,
            }),
            _ => None,
        };
        Failure { text, eio, damage }
    }
}

/// What one case saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The operation.
    pub operation: Operation,
    /// The reads the fault hit.
    pub hits: Vec<Hit>,
    /// What the operation gave, or why it failed.
    pub result: Result<Got, Failure>,
    /// How the operation changed the files, if it did.
    pub changed: Option<String>,
    /// Once the fault was gone: the last LSN the reopened log holds (its
    /// records checked against the truth), or what was wrong.
    pub after: Result<u64, String>,
}

/// The oracle's verdict on an accepted outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadVerdict {
    /// The operation failed naming the read error.
    IoError,
    /// The operation failed naming the damage a flip made.
    Corruption,
    /// Recovery opened the log listing corrupt ranges (point in time,
    /// skipping).
    Reported,
    /// Records past the evidence were taken for a torn tail.
    Torn,
    /// Everything came back, and no fault did anything.
    Intact,
    /// Everything came back though a fault did something: a read the
    /// operation threw away (a read-ahead), a read retried (the tailing
    /// reader re-reads before it gives up), an unreadable `CLEAN` marker
    /// ignored (it is only evidence), a flip in bytes past the data.
    Absorbed,
}

fn describe(hits: &[Hit]) -> String {
    let hits: Vec<String> = hits
        .iter()
        .filter(|h| h.effect)
        .map(Hit::to_string)
        .collect();
    if hits.is_empty() {
        "no fault did anything".into()
    } else {
        hits.join("; ")
    }
}

/// Judges one case: see the module docs.
///
/// # Errors
///
/// The violation.
pub fn judge(expect: &ReadExpectation, seen: &Seen) -> Result<ReadVerdict, String> {
    let verdict = match &seen.result {
        Err(failure) => failed(expect, seen, failure)?,
        Ok(got) => succeeded(expect, seen, got)?,
    };
    if matches!(seen.operation, Operation::ReadFrom | Operation::ReadLog)
        && let Some(changed) = &seen.changed
    {
        return Err(format!(
            "{} changed the disk: {changed}",
            seen.operation.name()
        ));
    }
    let after = seen
        .after
        .as_ref()
        .map_err(|e| format!("once the fault was gone: {e} [{}]", describe(&seen.hits)))?;
    // What the operation may have dropped durably: only an open that
    // succeeded, and only what it reported.
    let floor = match (&seen.operation, &seen.result) {
        (Operation::Open(_), Ok(got)) => got.end.next_lsn.saturating_sub(1),
        _ => expect.last(),
    };
    if *after < floor.min(expect.last()) || *after > expect.last() {
        return Err(format!(
            "once the fault was gone, the log holds lsns {}..={after}; it held {}..={} ({} after this operation) [{}]",
            expect.first(),
            expect.first(),
            expect.last(),
            if floor < expect.last() {
                format!("at least ..={floor}")
            } else {
                "all of them".into()
            },
            describe(&seen.hits)
        ));
    }
    Ok(verdict)
}

fn failed(expect: &ReadExpectation, seen: &Seen, failure: &Failure) -> Result<ReadVerdict, String> {
    let what = format!("{} failed ({})", seen.operation.name(), failure.text);
    if let Some(changed) = &seen.changed {
        return Err(format!("{what} and changed the disk: {changed}"));
    }
    let hits: Vec<&Hit> = seen.hits.iter().filter(|h| h.effect).collect();
    if hits.is_empty() {
        return Err(format!("{what}, and no fault did anything"));
    }
    let named_error = hits
        .iter()
        .filter(|h| h.fault.is_error())
        .any(|h| failure.eio && failure.text.contains(&h.file));
    if named_error {
        return Ok(ReadVerdict::IoError);
    }
    let named_damage = failure.damage.as_ref().is_some_and(|d| {
        hits.iter()
            .filter(|h| h.fault == ReadFault::Flip)
            .any(|h| d.file == h.file || (d.gap && expect.next_segment(&h.file) == Some(&d.file)))
    });
    if named_damage {
        return Ok(ReadVerdict::Corruption);
    }
    Err(format!(
        "{what} without naming the fault [{}]",
        describe(&seen.hits)
    ))
}

fn succeeded(expect: &ReadExpectation, seen: &Seen, got: &Got) -> Result<ReadVerdict, String> {
    let op = seen.operation;
    let mode = op.mode();
    let records = got.records.as_ref().map_err(|e| {
        format!(
            "{} succeeded but reading back failed: {e} [{}]",
            op.name(),
            describe(&seen.hits)
        )
    })?;
    let truth = |lsn: u64| {
        expect
            .truth
            .binary_search_by_key(&lsn, |r| r.lsn.get())
            .ok()
            .and_then(|i| expect.truth.get(i))
    };
    let mut prev: Option<u64> = None;
    for r in records {
        let lsn = r.lsn.get();
        let want = truth(lsn).ok_or_else(|| format!("invented record: lsn {lsn}"))?;
        if r.payload != want.payload || r.kind != want.kind {
            return Err(format!(
                "lsn {lsn} reads back changed ({} bytes, {:?}; the log holds {} bytes, {:?}) [{}]",
                r.payload.len(),
                r.kind,
                want.payload.len(),
                want.kind,
                describe(&seen.hits)
            ));
        }
        match prev {
            Some(p) if lsn <= p => return Err(format!("lsn {lsn} read after lsn {p}")),
            Some(p) if lsn != p + 1 && mode != RecoveryMode::SkipAnyCorruptedRecords => {
                return Err(format!("gap: lsn {lsn} read after lsn {p}"));
            }
            None if lsn != expect.first() && mode != RecoveryMode::SkipAnyCorruptedRecords => {
                return Err(format!(
                    "the records start at lsn {lsn}, the log's first is {}",
                    expect.first()
                ));
            }
            _ => {}
        }
        prev = Some(lsn);
    }
    let default_mode = matches!(
        mode,
        RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency
    );
    if default_mode && !got.end.corrupt.is_empty() {
        return Err(format!(
            "{} listed corrupt ranges instead of failing: {}",
            op.name(),
            got.end
                .corrupt
                .iter()
                .map(|r| r.text.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let read: BTreeSet<u64> = records.iter().map(|r| r.lsn.get()).collect();
    let missing: Vec<u64> = expect
        .truth
        .iter()
        .map(|r| r.lsn.get())
        .filter(|l| !read.contains(l))
        .collect();
    let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) else {
        return Ok(if seen.hits.iter().any(|h| h.effect) {
            ReadVerdict::Absorbed
        } else {
            ReadVerdict::Intact
        });
    };
    let lost = format!(
        "{} succeeded without lsns {lo}..={hi} ({} records; {}; next lsn {}) [{}]",
        op.name(),
        missing.len(),
        if got.end.torn {
            "a torn tail"
        } else {
            "a clean end"
        },
        got.end.next_lsn,
        describe(&seen.hits)
    );
    if op == Operation::ReadFrom {
        return Err(format!(
            "{lost}: the tailing reader ended below the durable lsn"
        ));
    }
    let flipped = seen
        .hits
        .iter()
        .any(|h| h.effect && h.fault == ReadFault::Flip);
    if !flipped {
        return Err(format!(
            "{lost}: a read error was taken for the end of the data"
        ));
    }
    for &m in &missing {
        if covered(mode, &got.end, m) {
            continue;
        }
        if got.end.torn && got.end.next_lsn <= m && m > expect.evidence {
            continue;
        }
        return Err(format!(
            "{lost}: lsn {m} is not accounted for (evidence E = {}{})",
            expect.evidence,
            if m <= expect.evidence {
                ", it was proven acknowledged"
            } else {
                ""
            }
        ));
    }
    if got.end.corrupt.is_empty() {
        Ok(ReadVerdict::Torn)
    } else {
        Ok(ReadVerdict::Reported)
    }
}

/// Whether a corrupt range accounts for missing LSN `m`.
fn covered(mode: RecoveryMode, end: &EndFacts, m: u64) -> bool {
    let past_end = m >= end.next_lsn;
    match mode {
        RecoveryMode::SkipAnyCorruptedRecords => end.corrupt.iter().any(|r| match r.lsns {
            Some((a, b)) => a <= m && m <= b,
            None => past_end,
        }),
        RecoveryMode::PointInTime => end.corrupt.first().is_some_and(|r| match r.lsns {
            Some((a, _)) => m >= a,
            None => past_end,
        }),
        _ => false,
    }
}
