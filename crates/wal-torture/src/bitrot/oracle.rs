//! The oracle of the bit-rot campaign: what recovery of a log damaged at
//! rest may do, given what the workload acknowledged and what evidence of
//! it survives the damage (`docs/FORMAT.md`, "Commit markers: evidence of
//! durability" and "Recovery").
//!
//! # What the oracle knows ([`Expectation`])
//!
//! - The kind and logical payload of every acknowledged record (LSNs
//!   `1..=n`; every record the workloads write is acknowledged before the
//!   image is taken), stream records included.
//! - **E**, the surviving evidence: the largest durable LSN `D` of a commit
//!   marker whose 40 bytes the damage left untouched (in any segment);
//!   the last LSN of a valid `CLEAN` marker (clean close); and the last
//!   LSN before the last segment (a later segment exists for every record
//!   of an earlier one). Every acknowledged record at or below E is
//!   *proven*.
//! - The damage: the file, the first byte it changed, and **L**, the first
//!   LSN of the unit recovery cannot keep there: the LSN the marker of the
//!   damaged commit group carries (a torn write drops the whole group), or
//!   the segment's first LSN for damage to its header. The damage is
//!   *proven* when `L <= E`. Every record of an earlier group (below L) is
//!   undamaged and before the damage: the *intact prefix*.
//! - Whether the damage zeroed everything from a record boundary of the
//!   last segment to the end of its records: the image is then exactly one
//!   where those records were never written, and recovery cannot tell.
//!
//! # What it accepts ([`judge`])
//!
//! A recovery that **failed** must change nothing on disk (the files,
//! `LOCK` aside) and must name the damage: a corrupt range in the damaged
//! file starting at or before the first damaged byte, or an LSN gap
//! reported at the segment after it, or a bad segment header naming the
//! damaged file. Any other error is a violation, and so is a failure on an
//! undamaged image. In the default mode a refusal is accepted even when
//! the damage is not proven (counted apart: recovery is then more careful
//! than it has to be, never less).
//!
//! A recovery that **succeeded** must read back without error, and:
//!
//! - nothing invented: LSNs increase, each is acknowledged, each payload
//!   is bit-exact and of the kind written (data, or a stream record); the
//!   report's last LSN is the last record read and its next LSN the one
//!   after;
//! - the streams, read through the facade (`Wal::streams`,
//!   `Stream::read`), hold exactly what replaying the stream records read
//!   back gives ([`crate::model::StreamSet`]): so a stream holds fewer
//!   entries than were acknowledged only where records are missing, and
//!   every missing record is accounted for by the rules below: damage is
//!   never silently turned into a shorter stream;
//! - the default and point-in-time modes: no gap (the log starts at LSN
//!   1); the default mode lists no corrupt range;
//! - every record of the intact prefix comes back;
//! - every other missing acknowledged LSN `m` is accounted for: by a
//!   corrupt range (skipping: `m` within its LSNs; point in time: `m` at
//!   or after the first range's first LSN; a range without LSNs, in the
//!   damaged file or in point-in-time mode, covers what lies at or past
//!   the report's next LSN), or, only when `m > E`, by a
//!   torn tail (`tail == Torn` and `next_lsn <= m`), or by a tail the
//!   damage zeroed from a record boundary at or below `m`
//!   (`next_lsn <= m`). So an `Ok` that silently holds fewer records
//!   than were acknowledged is a violation, and so is a proven record
//!   dropped as torn;
//! - a torn tail with no corrupt range never starts at or below E
//!   (proven damage is never called torn; the salvage modes may label
//!   the end of what they kept `Torn` while listing the damage as a
//!   corrupt range, which the rule above checks);
//! - damage never goes unreported: if bytes changed, the report has a
//!   corrupt range, a torn tail, or records are missing under the zeroed
//!   tail rule; if none changed, the report drops nothing.

use std::collections::BTreeSet;
use std::fmt;

use groupwal::reader::CorruptionKind;
use groupwal::{LogicalKind, OwnedRecord, RecoveryReport, TailKind};

use super::Mode;
use super::image::Listing;
use crate::model::{StreamRecord, StreamSet};

/// An acknowledged record: its kind and logical payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acked {
    /// [`LogicalKind::Data`] or [`LogicalKind::Stream`].
    pub kind: LogicalKind,
    /// The payload (for a stream record, the stream header and the entry).
    pub payload: Vec<u8>,
}

impl Acked {
    /// A data record.
    #[must_use]
    pub fn data(payload: Vec<u8>) -> Acked {
        Acked {
            kind: LogicalKind::Data,
            payload,
        }
    }

    /// A stream record.
    #[must_use]
    pub fn stream(record: &StreamRecord) -> Acked {
        Acked {
            kind: LogicalKind::Stream,
            payload: record.payload(),
        }
    }
}

/// The damage, as the oracle needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamageFacts {
    /// The damaged segment file's name.
    pub file: String,
    /// The name of the segment after it, if any.
    pub next_file: Option<String>,
    /// The offset of the first byte the damage changed.
    pub first_byte: u64,
    /// L: the first LSN of the unit recovery cannot keep (the damaged
    /// group's, or the segment's first LSN for header damage).
    pub first_lsn: u64,
}

/// What the oracle knows about one damaged image: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// Each acknowledged record, LSN `i + 1` at index `i`.
    pub acked: Vec<Acked>,
    /// E: the highest LSN the surviving evidence proves acknowledged.
    pub evidence: u64,
    /// Every LSN up to this one lies, undamaged, before the damaged group.
    pub intact_prefix: u64,
    /// The damage (`None`: it changed no byte).
    pub damage: Option<DamageFacts>,
    /// The first LSN of the records the damage zeroed to the end of the
    /// last segment's records, if it did.
    pub zeroed_tail_from: Option<u64>,
}

impl Expectation {
    /// The expectation for `listing` (the undamaged image's), the
    /// acknowledged payloads, the `CLEAN` marker's last LSN, the damage
    /// (segment index, changed bytes `start..end`) and the zeroed tail.
    pub(crate) fn new(
        listing: &Listing,
        acked: &[Acked],
        clean_last: Option<u64>,
        changed: Option<(usize, u64, u64)>,
        zeroed_tail_from: Option<u64>,
    ) -> Expectation {
        let touched = |seg: usize, from: u64, to: u64| {
            changed.is_some_and(|(s, start, end)| s == seg && from < end && start < to)
        };
        let markers = listing
            .segments
            .iter()
            .enumerate()
            .flat_map(|(i, seg)| seg.records.iter().map(move |r| (i, r)))
            .filter(|(i, r)| !touched(*i, r.offset, r.end()))
            .filter_map(|(_, r)| r.durable)
            .max()
            .unwrap_or(0);
        let later_segment = listing
            .segments
            .last()
            .map_or(0, |s| s.first_lsn.saturating_sub(1));
        let evidence = markers.max(clean_last.unwrap_or(0)).max(later_segment);
        let damage = changed.and_then(|(s, start, _)| {
            let seg = listing.segments.get(s)?;
            let first_lsn = if start < groupwal::format::SEGMENT_HEADER_LEN as u64 {
                seg.first_lsn
            } else {
                let hit = seg.records.iter().find(|r| start < r.end())?;
                seg.records
                    .iter()
                    .find(|r| r.offset == hit.group)
                    .map_or(hit.lsn, |marker| marker.lsn)
            };
            Some(DamageFacts {
                file: seg.name.clone(),
                next_file: listing.segments.get(s + 1).map(|n| n.name.clone()),
                first_byte: start,
                first_lsn,
            })
        });
        Expectation {
            acked: acked.to_vec(),
            evidence,
            intact_prefix: damage
                .as_ref()
                .map_or(acked.len() as u64, |d| d.first_lsn.saturating_sub(1)),
            damage,
            zeroed_tail_from,
        }
    }

    /// Whether the damage hits a unit the evidence proves acknowledged.
    #[must_use]
    pub fn proven(&self) -> bool {
        self.damage
            .as_ref()
            .is_some_and(|d| d.first_lsn <= self.evidence)
    }
}

/// A corrupt range, as the oracle needs it (from `CorruptRange`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeFacts {
    /// What kind of damage.
    pub kind: CorruptionKind,
    /// The file name it names.
    pub file: String,
    /// Where the damage starts in that file.
    pub offset: u64,
    /// The LSNs it covers, if known.
    pub lsns: Option<(u64, u64)>,
    /// How recovery described it.
    pub text: String,
}

impl From<&groupwal::CorruptRange> for RangeFacts {
    fn from(r: &groupwal::CorruptRange) -> Self {
        RangeFacts {
            kind: r.kind,
            file: file_name(&r.segment),
            offset: r.offset,
            lsns: r.lsns.map(|(a, b)| (a.get(), b.get())),
            text: r.to_string(),
        }
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What a recovery report said, as the oracle needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFacts {
    /// The tail was torn (and cut).
    pub torn: bool,
    /// The last LSN kept.
    pub last_lsn: u64,
    /// The LSN the next append takes.
    pub next_lsn: u64,
    /// Corrupt ranges skipped or discarded.
    pub corrupt: Vec<RangeFacts>,
    /// Whether recovery says it dropped anything.
    pub dropped_anything: bool,
    /// Its one-line summary of losses.
    pub losses: Option<String>,
}

impl From<&RecoveryReport> for ReportFacts {
    fn from(r: &RecoveryReport) -> Self {
        ReportFacts {
            torn: r.tail == TailKind::Torn,
            last_lsn: r.last_lsn.get(),
            next_lsn: r.next_lsn.get(),
            corrupt: r.corrupt.iter().map(RangeFacts::from).collect(),
            dropped_anything: r.dropped_anything(),
            losses: r.losses(),
        }
    }
}

/// Why recovery refused a log, as the oracle needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `groupwal::Error::Corruption` of a `wal_reader::Error::Corruption`.
    Corruption(RangeFacts),
    /// `groupwal::Error::Corruption` of a
    /// `wal_io::Error::BadSegmentHeader`, naming this file.
    BadSegmentHeader(String),
    /// Anything else, described.
    Other(String),
}

impl From<&groupwal::Error> for Refusal {
    fn from(e: &groupwal::Error) -> Self {
        use groupwal::io::Error as W;
        use groupwal::reader::Error as R;
        let layer = match e {
            groupwal::Error::Corruption { source, .. } => Some(source),
            _ => None,
        };
        match (
            layer.and_then(|s| s.downcast_ref::<R>()),
            layer.and_then(|s| s.downcast_ref::<W>()),
        ) {
            (Some(R::Corruption(range)), _) => {
                Refusal::Corruption(RangeFacts::from(range.as_ref()))
            }
            (_, Some(W::BadSegmentHeader { path, .. })) => {
                Refusal::BadSegmentHeader(file_name(path))
            }
            _ => Refusal::Other(format!("{e} ({e:?})")),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Corruption(r) => write!(f, "corruption: {}", r.text),
            Refusal::BadSegmentHeader(file) => write!(f, "bad segment header in {file}"),
            Refusal::Other(e) => write!(f, "{e}"),
        }
    }
}

/// What recovery did with a damaged image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovered {
    /// `Wal::open` succeeded; what it reported, and every record read back
    /// from the first (or why reading, or closing, failed), and every
    /// stream read through the facade.
    Opened {
        /// The report.
        report: ReportFacts,
        /// The records read.
        records: Result<Vec<OwnedRecord>, String>,
        /// The streams read (`verify::read_streams`).
        streams: Result<StreamSet, String>,
    },
    /// `Wal::open` failed.
    Refused {
        /// Why.
        refusal: Refusal,
        /// How the files changed, if they did.
        changed: Option<String>,
    },
}

/// The oracle's verdict on an accepted outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Recovery refused the log, naming the damage.
    Refused,
    /// Recovery opened the log and listed the damage as corrupt ranges.
    Reported,
    /// Recovery cut a torn tail that no evidence proved acknowledged.
    Torn,
    /// The damage zeroed the last records whole, from a record boundary:
    /// recovery found a clean (zero-filled) end before them.
    ZeroedTail,
    /// Everything came back, nothing reported (the damage changed nothing).
    Intact,
}

/// Judges one outcome: see the module docs.
///
/// # Errors
///
/// The violation.
pub fn judge(expect: &Expectation, mode: Mode, got: &Recovered) -> Result<Verdict, String> {
    match got {
        Recovered::Refused { refusal, changed } => refused(expect, refusal, changed.as_deref()),
        Recovered::Opened {
            report,
            records,
            streams,
        } => {
            let summary = report.losses.as_deref().unwrap_or("nothing dropped");
            let records = records
                .as_ref()
                .map_err(|e| format!("recovery succeeded ({summary}) but reading failed: {e}"))?;
            let streams = streams.as_ref().map_err(|e| {
                format!("recovery succeeded ({summary}) but reading the streams failed: {e}")
            })?;
            opened(expect, mode, report, records)
                .and_then(|verdict| streams_agree(mode, records, streams).map(|()| verdict))
                .map_err(|e| format!("{e} [{}; report: {summary}]", describe(expect)))
        }
    }
}

fn describe(expect: &Expectation) -> String {
    let damage = expect
        .damage
        .as_ref()
        .map_or("no byte changed".to_owned(), |d| {
            format!(
                "damage in {} from offset {}, first lsn {}",
                d.file, d.first_byte, d.first_lsn
            )
        });
    format!(
        "{damage}; {} acknowledged, evidence E = {}",
        expect.acked.len(),
        expect.evidence
    )
}

fn refused(
    expect: &Expectation,
    refusal: &Refusal,
    changed: Option<&str>,
) -> Result<Verdict, String> {
    if let Some(changed) = changed {
        return Err(format!(
            "recovery failed ({refusal}) and changed the disk: {changed}"
        ));
    }
    let Some(d) = &expect.damage else {
        return Err(format!("recovery refused an undamaged log: {refusal}"));
    };
    let named = match refusal {
        Refusal::Corruption(r) => {
            (r.file == d.file && r.offset <= d.first_byte)
                || (r.kind == CorruptionKind::LsnGap && d.next_file.as_ref() == Some(&r.file))
        }
        Refusal::BadSegmentHeader(file) => *file == d.file,
        Refusal::Other(_) => false,
    };
    if named {
        Ok(Verdict::Refused)
    } else {
        Err(format!(
            "recovery failed without naming the damage ({}): {refusal}",
            describe(expect)
        ))
    }
}

fn opened(
    expect: &Expectation,
    mode: Mode,
    report: &ReportFacts,
    records: &[OwnedRecord],
) -> Result<Verdict, String> {
    let mut prev = 0u64;
    for r in records {
        let lsn = r.lsn.get();
        if lsn <= prev {
            return Err(format!("lsn {lsn} read after lsn {prev}"));
        }
        let want = usize::try_from(lsn - 1)
            .ok()
            .and_then(|i| expect.acked.get(i))
            .ok_or_else(|| format!("invented record: lsn {lsn} was never acknowledged"))?;
        if r.payload != want.payload {
            return Err(format!(
                "lsn {lsn}: payload differs from what was acknowledged ({} bytes read, {} written)",
                r.payload.len(),
                want.payload.len()
            ));
        }
        if r.kind != want.kind {
            return Err(format!(
                "lsn {lsn}: kind {:?}, a {:?} record was written",
                r.kind, want.kind
            ));
        }
        if mode != Mode::Skip && lsn != prev + 1 {
            return Err(format!("gap: lsn {lsn} read after lsn {prev}"));
        }
        prev = lsn;
    }
    if records
        .last()
        .is_some_and(|r| r.lsn.get() != report.last_lsn)
    {
        return Err(format!(
            "the report's last lsn is {}, the last record read is {prev}",
            report.last_lsn
        ));
    }
    if report.next_lsn != report.last_lsn + 1 {
        return Err(format!(
            "the report's next lsn {} does not follow its last lsn {}",
            report.next_lsn, report.last_lsn
        ));
    }
    if mode == Mode::Default && !report.corrupt.is_empty() {
        return Err("the default mode listed corrupt ranges instead of failing".into());
    }
    if report.torn && report.corrupt.is_empty() && report.next_lsn <= expect.evidence {
        return Err(format!(
            "proven damage called torn: the tail was cut at lsn {}, the evidence proves every lsn up to {} acknowledged",
            report.next_lsn, expect.evidence
        ));
    }
    let read: BTreeSet<u64> = records.iter().map(|r| r.lsn.get()).collect();
    let mut zeroed = false;
    for m in (1..=expect.acked.len() as u64).filter(|m| !read.contains(m)) {
        if m <= expect.intact_prefix {
            return Err(format!(
                "acknowledged lsn {m}, before the damaged group (intact up to lsn {}), is missing",
                expect.intact_prefix
            ));
        }
        let Some(d) = &expect.damage else {
            return Err(format!(
                "acknowledged lsn {m} is missing, and nothing was damaged"
            ));
        };
        if covered(mode, report, m, d) {
            continue;
        }
        if m > expect.evidence && report.next_lsn <= m {
            if report.torn {
                continue;
            }
            if expect.zeroed_tail_from.is_some_and(|z| z <= m) {
                zeroed = true;
                continue;
            }
        }
        return Err(format!(
            "acknowledged lsn {m} is missing and no corrupt range or torn tail accounts for it (silently lost{})",
            if m <= expect.evidence {
                ", and it was proven acknowledged"
            } else {
                ""
            }
        ));
    }
    if expect.damage.is_none() {
        if report.dropped_anything {
            return Err("nothing was damaged, but recovery dropped something".into());
        }
        return Ok(Verdict::Intact);
    }
    if !report.corrupt.is_empty() {
        Ok(Verdict::Reported)
    } else if report.torn {
        Ok(Verdict::Torn)
    } else if zeroed {
        Ok(Verdict::ZeroedTail)
    } else {
        Err("the damage went unreported: no corrupt range, no torn tail, no record missing".into())
    }
}

/// The streams read through the facade hold what replaying the stream
/// records read back gives.
fn streams_agree(mode: Mode, records: &[OwnedRecord], streams: &StreamSet) -> Result<(), String> {
    let mut replayed = StreamSet::default();
    for r in records.iter().filter(|r| r.kind == LogicalKind::Stream) {
        let record = StreamRecord::from_payload(&r.payload)
            .map_err(|e| format!("lsn {}: a stream record read back: {e}", r.lsn))?;
        if let Some(record) = record {
            let applied = if mode == Mode::Skip {
                replayed.apply_skipping(&record)
            } else {
                replayed.apply(&record)
            };
            applied.map_err(|e| {
                format!(
                    "the log opened, but the stream records read back make no valid history (lsn {}: {e})",
                    r.lsn
                )
            })?;
        }
    }
    match replayed.difference(streams) {
        None => Ok(()),
        Some(d) => Err(format!(
            "the streams read through the facade are not what the records read back make: {d}"
        )),
    }
}

/// Whether a corrupt range of the report accounts for missing LSN `m`.
fn covered(mode: Mode, report: &ReportFacts, m: u64, d: &DamageFacts) -> bool {
    let past_end =
        |r: &RangeFacts| m >= report.next_lsn && (r.file == d.file || mode == Mode::PointInTime);
    match mode {
        Mode::Default => false,
        Mode::Skip => report.corrupt.iter().any(|r| match r.lsns {
            Some((a, b)) => a <= m && m <= b,
            None => past_end(r),
        }),
        Mode::PointInTime => report.corrupt.first().is_some_and(|r| match r.lsns {
            Some((a, _)) => m >= a,
            None => past_end(r),
        }),
    }
}
