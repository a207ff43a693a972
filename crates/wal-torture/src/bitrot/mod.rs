//! The bit-rot campaign: damage to data *at rest*, after it was
//! acknowledged (the crash campaign, [`crate::crash`], only damages data
//! in flight).
//!
//! For each workload ([`BitrotPlan`]: several sessions of appends, atomic
//! batches and pipelined appends of several sizes on one simulated disk,
//! encrypted or not, 16 KiB segments with one 40–64 KiB batch, the last
//! session closed cleanly or crashed after its last acknowledgement, see
//! [`Ending`]):
//!
//! 1. the workload runs once and the image is taken (every file's bytes);
//! 2. each segment is walked with `wal_format::RecordDecoder`, independently
//!    of `wal-reader`, to list its physical records (offset, length, type,
//!    LSN) and its commit markers (offset, durable LSN);
//! 3. damage positions ([`Position`]): every record of the last segment
//!    (data records and markers), a sample of the records of earlier
//!    segments, and every segment header; damage kinds ([`Kind`]): a
//!    single bit flip inside the record, the 512-byte sector holding one
//!    of its bytes zeroed, or filled with garbage (sectors are clipped to
//!    the segment's header and records, so only bytes of acknowledged
//!    records, their markers and their segment's header are ever damaged);
//! 4. for each (position, kind) and each recovery mode ([`Mode`]), the
//!    damaged image is restored into a fresh simulated disk, the log is
//!    opened with that mode, read back in full, and closed;
//! 5. the outcome is held to the [`oracle`].
//!
//! Every violation names a [`BitrotCase`] (seed, ending, position, kind,
//! mode, and the layout fingerprint of the image), which [`replay`] runs
//! again.

mod case;
mod image;
pub mod oracle;
mod outcome;
mod workload;

use std::sync::Arc;
use std::time::Instant;

use groupwal::Wal;

use crate::case::no_panic;
use crate::rng::{Rng, mix};
use crate::workload::DIR;

pub use case::{ALL_KINDS, ALL_MODES, BadBitrotCase, BitrotCase, Kind, Mode, Position, SkipReader};
use image::{Damage, Image, Listing};
pub use oracle::{Acked, Expectation, Recovered, Verdict};
pub use outcome::{BitrotCounts, BitrotOutcome, BitrotViolation};
pub use workload::{BitrotPlan, Ending};

/// What an exploration damages.
#[derive(Clone, Debug)]
pub struct BitrotConfig {
    /// Damage kinds.
    pub kinds: Vec<Kind>,
    /// Recovery modes.
    pub modes: Vec<Mode>,
    /// Records sampled per segment before the last (every record of the
    /// last segment is damaged): the first, the last, and random ones.
    pub earlier_samples: usize,
    /// How a log recovered in the skipping mode is read back.
    pub skip_reader: SkipReader,
}

impl Default for BitrotConfig {
    fn default() -> Self {
        BitrotConfig {
            kinds: ALL_KINDS.to_vec(),
            modes: ALL_MODES.to_vec(),
            earlier_samples: 3,
            skip_reader: SkipReader::Wal,
        }
    }
}

/// The damage positions of an image: every segment header, every record
/// of the last segment, and `samples` records of each earlier segment.
fn positions(plan: &BitrotPlan, listing: &Listing, samples: usize) -> Vec<Position> {
    let mut out = Vec::new();
    let count = listing.segments.len();
    for (segment, seg) in listing.segments.iter().enumerate() {
        out.push(Position::Header { segment });
        let n = seg.records.len();
        if n == 0 {
            continue;
        }
        if segment + 1 == count {
            out.extend((0..n).map(|index| Position::Record { segment, index }));
            continue;
        }
        // The first and the last record, then random ones.
        let mut rng = Rng::new(mix(&[plan.seed, 0x7361_6d70, segment as u64]));
        let want = samples.clamp(1, n);
        let mut picked = vec![0, n - 1];
        picked.truncate(want);
        picked.dedup();
        while picked.len() < want {
            let i = rng.range(0, n as u64 - 1) as usize;
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked.sort_unstable();
        out.extend(
            picked
                .into_iter()
                .map(|index| Position::Record { segment, index }),
        );
    }
    out
}

/// The image a workload left, its listing and what it acknowledged.
struct Prepared {
    image: Image,
    listing: Listing,
    acked: Vec<Acked>,
}

fn prepare(plan: &BitrotPlan) -> Result<Prepared, String> {
    let built = workload::build(plan)?;
    let listing = image::list(&built.image, built.acked.len() as u64)?;
    let clean = built.image.clean_last_lsn();
    let want = (plan.ending == Ending::Clean).then_some(built.acked.len() as u64);
    if clean != want {
        return Err(format!(
            "the image's CLEAN marker names lsn {clean:?}, expected {want:?} ({} ending)",
            plan.ending.name()
        ));
    }
    Ok(Prepared {
        image: built.image,
        listing,
        acked: built.acked,
    })
}

/// Restores `damaged` into a fresh disk, opens it in `mode`, reads
/// everything back (at most `limit` records: a reader that hands out
/// records again must not hang the campaign, and one record more than was
/// acknowledged is enough for the oracle to see it) and closes: what the
/// oracle judges.
fn observe_image(
    plan: &BitrotPlan,
    damaged: &Image,
    mode: Mode,
    reader: SkipReader,
    limit: usize,
) -> Result<Recovered, String> {
    let sim = damaged.restore(plan.seed ^ 0x726f_7421)?;
    let options = plan.options(Arc::new(sim.clone()), mode.recovery_mode());
    match Wal::open(DIR, &options) {
        Ok((wal, report)) => {
            let from = report.first_lsn.max(groupwal::Lsn::FIRST);
            let through_log = mode == Mode::Skip && reader == SkipReader::LogReader;
            let records = if through_log {
                Ok(Vec::new())
            } else {
                match wal.read_from(from) {
                    Ok(iter) => iter
                        .take(limit)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("Wal::read_from({from}) failed: {e} ({e:?})")),
                    Err(e) => Err(format!("Wal::read_from({from}) failed: {e} ({e:?})")),
                }
            };
            let streams = crate::verify::read_streams(&wal);
            let closed = wal
                .close()
                .map_err(|e| format!("closing the recovered log failed: {e} ({e:?})"));
            let records = match (records, closed) {
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                (Ok(_), Ok(())) if through_log => groupwal::read_log(DIR, &options)
                    .and_then(|r| {
                        r.take(limit)
                            .map(|x| x.map_err(groupwal::Error::from))
                            .collect()
                    })
                    .map_err(|e| format!("read_log failed: {e} ({e:?})")),
                (Ok(r), Ok(())) => Ok(r),
            };
            Ok(Recovered::Opened {
                report: oracle::ReportFacts::from(&report),
                records,
                streams,
            })
        }
        Err(error) => Ok(Recovered::Refused {
            refusal: oracle::Refusal::from(&error),
            changed: damaged.differs_from(&sim)?,
        }),
    }
}

/// The damage of one case, and the damaged image.
fn damaged(
    plan: &BitrotPlan,
    prepared: &Prepared,
    position: Position,
    kind: Kind,
) -> Result<(Damage, Image), String> {
    let damage = image::damage_for(plan, &prepared.listing, &prepared.image, position, kind)?;
    let mut image = prepared.image.clone();
    image.apply(&damage)?;
    Ok((damage, image))
}

/// What a workload's image holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageCoverage {
    /// The layout fingerprint (see [`BitrotCase::fingerprint`]).
    pub fingerprint: u64,
    /// Acknowledged records.
    pub records: u64,
    /// Segment files.
    pub segments: u64,
    /// Physical records (markers and fragments included).
    pub physical: u64,
    /// Commit markers (groups).
    pub groups: u64,
    /// Commit groups of more than one append (pipelined appends).
    pub multi_append_groups: u64,
    /// Batch markers.
    pub batches: u64,
    /// Fragmented records.
    pub fragmented: u64,
    /// Physical records of the last segment.
    pub last_segment: u64,
    /// Segments holding a group larger than the segment size.
    pub oversized: u64,
    /// Whether a valid `CLEAN` marker is there.
    pub clean: bool,
    /// Of the acknowledged records, stream records.
    pub stream_records: u64,
    /// Of those, truncations.
    pub stream_truncations: u64,
    /// Of those, purges.
    pub stream_purges: u64,
}

/// Builds `plan`'s image (as a campaign does) and says what it holds.
///
/// # Errors
///
/// Why the image could not be built or listed.
pub fn coverage(plan: &BitrotPlan) -> Result<ImageCoverage, String> {
    use groupwal::format::RecordType;
    let prepared = no_panic(|| prepare(plan))?;
    let listing = &prepared.listing;
    let mut c = ImageCoverage {
        fingerprint: listing.fingerprint(),
        records: prepared.acked.len() as u64,
        segments: listing.segments.len() as u64,
        last_segment: listing
            .segments
            .last()
            .map_or(0, |s| s.records.len() as u64),
        clean: prepared.image.clean_last_lsn().is_some(),
        stream_records: prepared
            .acked
            .iter()
            .filter(|a| a.kind == groupwal::LogicalKind::Stream)
            .count() as u64,
        ..ImageCoverage::default()
    };
    for a in &prepared.acked {
        match crate::model::StreamRecord::from_payload(&a.payload) {
            Ok(Some(crate::model::StreamRecord::Truncate { .. }))
                if a.kind == groupwal::LogicalKind::Stream =>
            {
                c.stream_truncations += 1;
            }
            Ok(Some(crate::model::StreamRecord::Purge { .. }))
                if a.kind == groupwal::LogicalKind::Stream =>
            {
                c.stream_purges += 1;
            }
            _ => {}
        }
    }
    for seg in &listing.segments {
        c.physical += seg.records.len() as u64;
        c.oversized += u64::from(seg.data_end > crate::workload::SEGMENT_SIZE);
        let mut appends_in_group = 0u64;
        for r in &seg.records {
            match r.ty {
                RecordType::Commit => {
                    c.groups += 1;
                    appends_in_group = 0;
                }
                RecordType::Batch => c.batches += 1,
                RecordType::First => c.fragmented += 1,
                _ => {}
            }
            if matches!(r.ty, RecordType::Full | RecordType::First) {
                appends_in_group += 1;
            }
            if appends_in_group == 2 && !group_has_batch(seg, r.group) {
                c.multi_append_groups += 1;
            }
        }
    }
    Ok(c)
}

fn group_has_batch(seg: &image::SegmentListing, group: u64) -> bool {
    seg.records
        .iter()
        .any(|r| r.group == group && r.ty == groupwal::format::RecordType::Batch)
}

/// What the oracle knows about `prepared` damaged by `damage` into
/// `damaged`.
fn expectation(prepared: &Prepared, damage: &Damage, damaged: &Image) -> Expectation {
    Expectation::new(
        &prepared.listing,
        &prepared.acked,
        prepared.image.clean_last_lsn(),
        damage.changed(&prepared.image),
        image::zeroed_tail(&prepared.listing, damaged),
    )
}

/// Explores every damage position of `plan`'s image, every kind and mode
/// of `config`: see the module docs.
#[must_use]
pub fn explore(plan: &BitrotPlan, config: &BitrotConfig) -> BitrotOutcome {
    let mut out = BitrotOutcome::default();
    out.counts.workloads = 1;
    let prepared = match no_panic(|| prepare(plan)) {
        Ok(p) => p,
        Err(e) => {
            out.violation(*plan, None, format!("building the image: {e}"));
            return out;
        }
    };
    let fingerprint = prepared.listing.fingerprint();
    for position in positions(plan, &prepared.listing, config.earlier_samples) {
        out.counts.positions += 1;
        for &kind in &config.kinds {
            let (damage, image) = match damaged(plan, &prepared, position, kind) {
                Ok(d) => d,
                Err(e) => {
                    let case = BitrotCase {
                        plan: *plan,
                        position,
                        kind,
                        mode: Mode::Default,
                        reader: config.skip_reader,
                        fingerprint,
                    };
                    out.violation(*plan, Some(case), format!("damaging the image: {e}"));
                    continue;
                }
            };
            let expect = expectation(&prepared, &damage, &image);
            for &mode in &config.modes {
                let case = BitrotCase {
                    plan: *plan,
                    position,
                    kind,
                    mode,
                    reader: config.skip_reader,
                    fingerprint,
                };
                out.counts.cases += 1;
                out.counts.no_op += u64::from(expect.damage.is_none());
                out.counts.proven += u64::from(expect.proven());
                let judged = no_panic(|| {
                    let limit = prepared.acked.len() + 1;
                    let got = observe_image(plan, &image, mode, config.skip_reader, limit)?;
                    oracle::judge(&expect, mode, &got)
                });
                match judged {
                    Ok(verdict) => count(&mut out.counts, &expect, mode, verdict),
                    Err(what) => out.violation(*plan, Some(case), what),
                }
            }
        }
    }
    out
}

fn count(counts: &mut BitrotCounts, expect: &Expectation, mode: Mode, verdict: Verdict) {
    match verdict {
        Verdict::Refused => {
            counts.refused += 1;
            if mode == Mode::Default && expect.damage.is_some() && !expect.proven() {
                counts.refused_unproven += 1;
            }
            counts.salvage_refused += u64::from(mode != Mode::Default);
        }
        Verdict::Reported => counts.reported += 1,
        Verdict::Torn => counts.torn += 1,
        Verdict::ZeroedTail => counts.zeroed_tail += 1,
        Verdict::Intact => counts.intact += 1,
    }
}

/// Rebuilds the case's image and runs the case: what the oracle knew,
/// and what recovery did. The layout of an image is the same on every run
/// (with encryption the ciphertext differs: segment key seeds come from
/// the OS); a rebuild whose layout fingerprint is not the case's is an
/// error (the workload or the committer's grouping changed since).
///
/// # Errors
///
/// The image could not be rebuilt, damaged or observed.
pub fn observe(case: &BitrotCase) -> Result<(Expectation, Recovered), String> {
    no_panic(|| {
        let prepared = prepare(&case.plan)?;
        let fingerprint = prepared.listing.fingerprint();
        if fingerprint != case.fingerprint {
            return Err(format!(
                "the rebuilt image has layout {fingerprint:016x}, not the case's {:016x}",
                case.fingerprint
            ));
        }
        let (damage, image) = damaged(&case.plan, &prepared, case.position, case.kind)?;
        let expect = expectation(&prepared, &damage, &image);
        let limit = prepared.acked.len() + 1;
        let got = observe_image(&case.plan, &image, case.mode, case.reader, limit)?;
        Ok((expect, got))
    })
}

/// Runs one case again and judges it.
///
/// # Errors
///
/// The violation it finds (or why it could not run).
pub fn replay(case: &BitrotCase) -> Result<Verdict, BitrotViolation> {
    observe(case)
        .and_then(|(expect, got)| oracle::judge(&expect, case.mode, &got))
        .map_err(|what| BitrotViolation::of(case, what))
}

/// Explores seeds `first..first + seeds`, each with both endings (clean
/// first), on `jobs` threads, starting no new plan after `deadline`;
/// calls `progress` with each plan's own outcome as it finishes; returns
/// the totals. What a soak runs.
pub fn sweep(
    first: u64,
    seeds: u64,
    config: &BitrotConfig,
    jobs: usize,
    deadline: Option<Instant>,
    progress: impl Fn(&BitrotPlan, &BitrotOutcome) + Sync,
) -> BitrotOutcome {
    crate::sweep_endings(
        first,
        seeds,
        jobs,
        deadline,
        BitrotPlan::new,
        |plan| explore(plan, config),
        progress,
    )
}
