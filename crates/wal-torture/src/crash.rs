//! Crash-point exploration: the process dies at every mutating storage
//! call of a workload, then the power fails in several ways, then the log
//! is recovered and held to the oracle; also crashes inside that recovery.

use std::sync::Arc;

use groupwal::Wal;
use groupwal::io::sim::{Call, HaltingStorage, LostSectors, SimStorage};

use crate::case::{Case, Outcome, no_panic};
use crate::model::Model;
use crate::rng::mix;
use crate::verify::verify;
use crate::workload::{DIR, Ended, Op, Plan, Workload, run};

/// How many post-crash states each crash point gets, and whether crashes
/// inside the recovery are explored too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashConfig {
    /// Post-crash states per crash point (see [`variant`]).
    pub variants: u32,
    /// For each crash point, also crash the first reopen at each of its own
    /// mutating calls (after post-crash state 1), then lose power again.
    pub recovery: bool,
}

impl Default for CrashConfig {
    fn default() -> Self {
        CrashConfig {
            variants: 8,
            recovery: true,
        }
    }
}

/// What post-crash state `variant` of crash point `point` is, applied to
/// `sim` (a fork of the disk where the process died):
///
/// - 0: the process died, the machine did not (the page cache survives);
/// - 1, 4, 7, ...: a power loss, each unsynced sector and directory change
///   kept or lost at random (seeded by the plan, point and variant), lost
///   sectors keeping their old content;
/// - 2, 5, 8, ...: the same, lost sectors zeroed where the lost writes
///   changed them;
/// - 3, 6, 9, ...: the same, lost sectors garbage there (torn sector
///   writes).
pub fn variant(sim: &SimStorage, plan: &Plan, point: u64, variant: u32) {
    if variant == 0 {
        sim.crash_process();
        return;
    }
    let lost = match (variant - 1) % 3 {
        0 => LostSectors::Old,
        1 => LostSectors::Zeroed,
        _ => LostSectors::Garbage,
    };
    sim.crash_with(mix(&[plan.seed, point, u64::from(variant)]), lost);
}

/// The disk where the process died, and what the model says about it.
struct Halted {
    sim: SimStorage,
    model: Model,
    calls: Vec<Call>,
    made: u64,
}

/// Runs the workload on a fresh disk, the process dying at mutating call
/// `halt` (never with `None`).
fn run_halted(
    plan: &Plan,
    workload: Workload,
    ops: &[Op],
    halt: Option<u64>,
) -> Result<Halted, String> {
    let sim = SimStorage::new(plan.seed);
    let halting = HaltingStorage::new(Arc::new(sim.clone()));
    if let Some(k) = halt {
        halting.halt_at(k);
    }
    let mut model = Model::new(workload);
    match Wal::open(DIR, &plan.options(Arc::new(halting.clone()))) {
        Ok((wal, _)) => {
            let (ended, wal, _) = run(wal, ops, &mut model)?;
            if let (None, Ended::Failed { op, error }) = (halt, &ended) {
                return Err(format!(
                    "operation {op} failed without a fault: {error} ({error:?})"
                ));
            }
            drop(wal);
        }
        Err(e) if halt.is_none() => return Err(format!("the first open failed: {e} ({e:?})")),
        Err(_) => {}
    }
    Ok(Halted {
        sim,
        model,
        calls: halting.calls(),
        made: halting.calls_made(),
    })
}

fn probe(plan: &Plan, point: u64, variant: u32) -> Vec<u8> {
    format!("probe {:x}/{point}/{variant}", plan.seed).into_bytes()
}

/// Checks post-crash state `v` of a halted run.
fn check_variant(plan: &Plan, halted: &Halted, point: u64, v: u32) -> Result<(), String> {
    let disk = halted.sim.fork();
    variant(&disk, plan, point, v);
    verify(plan, &disk, &halted.model, &probe(plan, point, v)).map(|_| ())
}

/// Crashes the first reopen after post-crash state 1 at its own call
/// `inner`, loses power again, and checks.
fn check_recovery_crash(
    plan: &Plan,
    halted: &Halted,
    point: u64,
    inner: u64,
) -> Result<(), String> {
    let disk = halted.sim.fork();
    variant(&disk, plan, point, 1);
    let halting = HaltingStorage::new(Arc::new(disk.clone()));
    halting.halt_at(inner);
    if let Ok((wal, _)) = Wal::open(DIR, &plan.options(Arc::new(halting))) {
        drop(wal);
    }
    disk.crash_with(mix(&[plan.seed, point, inner, 0x7265]), LostSectors::Old);
    verify(plan, &disk, &halted.model, &probe(plan, point, 1000)).map(|_| ())
}

/// How many mutating calls the first reopen (and close) after post-crash
/// state 1 makes.
fn recovery_calls(plan: &Plan, halted: &Halted, point: u64) -> u64 {
    let disk = halted.sim.fork();
    variant(&disk, plan, point, 1);
    let halting = HaltingStorage::new(Arc::new(disk));
    if let Ok((wal, _)) = Wal::open(DIR, &plan.options(Arc::new(halting.clone()))) {
        let _ = wal.close();
    }
    halting.calls_made()
}

/// Explores every crash point of `plan`'s `workload`: see the module docs.
#[must_use]
pub fn explore(plan: &Plan, workload: Workload, config: &CrashConfig) -> Outcome {
    explore_part(plan, workload, config, 0, 1)
}

/// [`explore`] with the crash points dealt out to `jobs` threads (at
/// least one; [`explore_part`]): the same cases and the same counts, in
/// about `1 / jobs` of the time where the cores are free (a case spends
/// much of its time waiting for the log's own threads). The violations
/// kept are those of the first part first.
#[must_use]
pub fn explore_parallel(
    plan: &Plan,
    workload: Workload,
    config: &CrashConfig,
    jobs: usize,
) -> Outcome {
    let parts = jobs.max(1) as u64;
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..parts)
            .map(|part| s.spawn(move || explore_part(plan, workload, config, part, parts)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut out = Outcome::default();
    for part in outcomes {
        out.merge(part);
    }
    out
}

/// Part `part` of `parts` of [`explore`]: the crash points whose number
/// is `part` modulo `parts` (dealt out in turn, as a later point costs
/// more: the workload runs further before it). The parts of a division
/// together check exactly the cases one [`explore`] does and add up to
/// its counts: part 0 also checks the uncrashed run's log and counts the
/// workload; every part makes the counting run, which each point's run is
/// compared with.
#[must_use]
pub fn explore_part(
    plan: &Plan,
    workload: Workload,
    config: &CrashConfig,
    part: u64,
    parts: u64,
) -> Outcome {
    let parts = parts.max(1);
    let first = part == 0;
    let mut out = Outcome::default();
    out.counts.workloads = u64::from(first);
    out.counts.stream_workloads = u64::from(first && workload == Workload::Streams);
    let ops = workload.operations(plan);
    let case = |point, variant, recovery| Case::Crash {
        plan: *plan,
        workload,
        point,
        variant,
        recovery,
    };
    // The counting run, which must succeed, and whose log must verify.
    let full = match no_panic(|| run_halted(plan, workload, &ops, None)) {
        Ok(full) => full,
        Err(e) => {
            out.violation(case(u64::MAX, 0, None), e);
            return out;
        }
    };
    if first && let Err(e) = no_panic(|| check_variant(plan, &full, u64::MAX, 0)) {
        out.violation(case(u64::MAX, 0, None), e);
    }
    let streams = u64::from(workload == Workload::Streams);
    for point in (0..full.made).filter(|p| p % parts == part) {
        out.counts.crash_points += 1;
        out.counts.stream_crash_points += streams;
        let halted = match no_panic(|| run_halted(plan, workload, &ops, Some(point))) {
            Ok(h) => h,
            Err(e) => {
                out.violation(case(point, 0, None), e);
                continue;
            }
        };
        if full.calls.get(..halted.calls.len()) != Some(halted.calls.as_slice())
            || halted.calls.len() as u64 != point
        {
            out.violation(
                case(point, 0, None),
                format!(
                    "not deterministic: the run halted at call {point} made {} calls before it, not the counting run's first {point} (last: {:?})",
                    halted.calls.len(),
                    halted.calls.last()
                ),
            );
            continue;
        }
        for v in 0..config.variants {
            out.counts.crash_cases += 1;
            out.counts.stream_crash_cases += streams;
            if let Err(e) = no_panic(|| check_variant(plan, &halted, point, v)) {
                out.violation(case(point, v, None), e);
            }
        }
        if config.recovery {
            let calls = recovery_calls(plan, &halted, point);
            for inner in 0..calls {
                out.counts.recovery_crash_cases += 1;
                out.counts.stream_recovery_crash_cases += streams;
                if let Err(e) = no_panic(|| check_recovery_crash(plan, &halted, point, inner)) {
                    out.violation(case(point, 1, Some(inner)), e);
                }
            }
        }
    }
    out
}

/// What a workload exercised, from its operations and the storage calls
/// of an uncrashed run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Coverage {
    /// Mutating storage calls (crash points).
    pub calls: u64,
    /// Segments started (a rename to a `.wal` name).
    pub segments: u64,
    /// Segment files purged or cut away (renamed to a spare or removed).
    pub segments_dropped: u64,
    /// Of those, kept as spares for reuse.
    pub recycled: u64,
    /// Atomic batches (of records; of entries of one stream or several).
    pub batches: u64,
    /// Records (entries) larger than a fragment.
    pub fragmented: u64,
    /// Purge requests (of the log, or of a stream).
    pub purges: u64,
    /// Suffix truncation requests (of the log, or of a stream).
    pub truncations: u64,
    /// Streams written to.
    pub streams: u64,
    /// Atomic batches of entries of more than one stream.
    pub cross_stream_batches: u64,
    /// Streams started at an index other than 1 (`Stream::append_at`).
    pub started_late: u64,
    /// Purges and truncations that left a stream without entries.
    pub streams_emptied: u64,
    /// Entries appended at an index a truncation had removed.
    pub indexes_reused: u64,
    /// Records the log wrote on its own: the state of an empty stream
    /// written forward before the segment holding it went (and entries
    /// copied forward).
    pub written_forward: u64,
}

impl Coverage {
    fn count_ops(&mut self, ops: &[Op]) {
        let big = |p: &Vec<u8>| u64::from(p.len() > crate::workload::FRAGMENT_SIZE);
        let mut streams = crate::model::StreamSet::default();
        // The highest index ever appended to each stream.
        let mut highest = std::collections::BTreeMap::new();
        for op in ops {
            match op {
                Op::Append(p) | Op::StreamAppend { entry: p, .. } => self.fragmented += big(p),
                Op::Batch(ps) | Op::Submit(ps) | Op::StreamAppendAt { entries: ps, .. } => {
                    self.batches += u64::from(ps.len() > 1 && !matches!(op, Op::Submit(_)));
                    self.fragmented += ps.iter().map(big).sum::<u64>();
                }
                Op::StreamBatch(es) | Op::StreamSubmit(es) => {
                    if matches!(op, Op::StreamBatch(_)) {
                        self.batches += 1;
                        let first = es.first().map(|e| e.0);
                        self.cross_stream_batches +=
                            u64::from(es.iter().any(|e| Some(e.0) != first));
                    }
                    self.fragmented += es.iter().map(|e| big(&e.1)).sum::<u64>();
                }
                Op::Purge | Op::StreamPurge { .. } => self.purges += 1,
                Op::TruncateBack(_) | Op::StreamTruncate { .. } => self.truncations += 1,
                Op::Checkpoint(_) => {}
            }
            for unit in op.stream_units(&streams) {
                for r in &unit {
                    let id = r.stream();
                    let new = streams.get(id).is_none();
                    if let crate::model::StreamRecord::Append { index, .. } = r {
                        self.started_late += u64::from(new && *index > 1);
                        let top = highest.entry(id).or_insert(0);
                        self.indexes_reused += u64::from(*index <= *top);
                        *top = (*top).max(*index);
                    }
                    let _ = streams.apply(r);
                    let emptied = streams.get(id).is_some_and(|s| s.entries.is_empty());
                    self.streams_emptied += u64::from(
                        emptied && !matches!(r, crate::model::StreamRecord::Append { .. }),
                    );
                }
            }
        }
        self.streams = streams.0.len() as u64;
    }
}

/// Runs `plan`'s `workload` once without a crash and says what it
/// exercised.
///
/// # Errors
///
/// A violation of the uncrashed run.
pub fn coverage(plan: &Plan, workload: Workload) -> Result<Coverage, String> {
    let ops = workload.operations(plan);
    let full = no_panic(|| run_halted(plan, workload, &ops, None))?;
    let mut c = Coverage {
        calls: full.made,
        ..Coverage::default()
    };
    c.count_ops(&ops);
    // Every record written: the last LSN of the closed log.
    let disk = full.sim.fork();
    let (wal, report) = Wal::open(DIR, &plan.options(Arc::new(disk)))
        .map_err(|e| format!("reopening the uncrashed run's log: {e}"))?;
    let _ = wal.close();
    let submitted: u64 = match workload {
        Workload::Records => full.model.next_lsn() - 1,
        Workload::Streams => {
            let mut streams = crate::model::StreamSet::default();
            let mut n = 0;
            for op in &ops {
                for unit in op.stream_units(&streams) {
                    n += unit.len() as u64;
                    for r in &unit {
                        let _ = streams.apply(r);
                    }
                }
            }
            n
        }
    };
    c.written_forward = report.last_lsn.get().saturating_sub(submitted);
    for call in &full.calls {
        let ext = call.path.extension().and_then(|e| e.to_str());
        match (call.op, ext) {
            ("rename", Some("spare")) => c.segments += 1,
            ("rename", Some("wal")) => {
                c.segments_dropped += 1;
                c.recycled += 1;
            }
            ("remove", Some("wal")) => c.segments_dropped += 1,
            _ => {}
        }
    }
    Ok(c)
}

/// Replays one crash case.
pub(crate) fn replay(
    plan: &Plan,
    workload: Workload,
    point: u64,
    v: u32,
    recovery: Option<u64>,
) -> Result<(), String> {
    let ops = workload.operations(plan);
    no_panic(|| {
        let halt = (point != u64::MAX).then_some(point);
        let halted = run_halted(plan, workload, &ops, halt)?;
        match recovery {
            None => check_variant(plan, &halted, point, v),
            Some(inner) => check_recovery_crash(plan, &halted, point, inner),
        }
    })
}
