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
use crate::workload::{DIR, Ended, Op, Plan, run};

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
fn run_halted(plan: &Plan, ops: &[Op], halt: Option<u64>) -> Result<Halted, String> {
    let sim = SimStorage::new(plan.seed);
    let halting = HaltingStorage::new(Arc::new(sim.clone()));
    if let Some(k) = halt {
        halting.halt_at(k);
    }
    let mut model = Model::default();
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

/// Explores every crash point of `plan`'s workload: see the module docs.
#[must_use]
pub fn explore(plan: &Plan, config: &CrashConfig) -> Outcome {
    let mut out = Outcome::default();
    out.counts.workloads = 1;
    let ops = plan.operations();
    let case = |point, variant, recovery| Case::Crash {
        plan: *plan,
        point,
        variant,
        recovery,
    };
    // The counting run, which must succeed, and whose log must verify.
    let full = match no_panic(|| run_halted(plan, &ops, None)) {
        Ok(full) => full,
        Err(e) => {
            out.violation(case(u64::MAX, 0, None), e);
            return out;
        }
    };
    if let Err(e) = no_panic(|| check_variant(plan, &full, u64::MAX, 0)) {
        out.violation(case(u64::MAX, 0, None), e);
    }
    for point in 0..full.made {
        out.counts.crash_points += 1;
        let halted = match no_panic(|| run_halted(plan, &ops, Some(point))) {
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
            if let Err(e) = no_panic(|| check_variant(plan, &halted, point, v)) {
                out.violation(case(point, v, None), e);
            }
        }
        if config.recovery {
            let calls = recovery_calls(plan, &halted, point);
            for inner in 0..calls {
                out.counts.recovery_crash_cases += 1;
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
    /// Atomic batches.
    pub batches: u64,
    /// Records larger than a fragment.
    pub fragmented: u64,
    /// Purge requests.
    pub purges: u64,
    /// Suffix truncation requests.
    pub truncations: u64,
}

/// Runs `plan` once without a crash and says what it exercised.
///
/// # Errors
///
/// A violation of the uncrashed run.
pub fn coverage(plan: &Plan) -> Result<Coverage, String> {
    let ops = plan.operations();
    let full = no_panic(|| run_halted(plan, &ops, None))?;
    let mut c = Coverage {
        calls: full.made,
        ..Coverage::default()
    };
    let big = |p: &Vec<u8>| u64::from(p.len() > crate::workload::FRAGMENT_SIZE);
    for op in &ops {
        match op {
            Op::Append(p) => c.fragmented += big(p),
            Op::Batch(ps) | Op::Submit(ps) => {
                c.batches += u64::from(matches!(op, Op::Batch(_)));
                c.fragmented += ps.iter().map(big).sum::<u64>();
            }
            Op::Purge => c.purges += 1,
            Op::TruncateBack(_) => c.truncations += 1,
            Op::Checkpoint(_) => {}
        }
    }
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
pub(crate) fn replay(plan: &Plan, point: u64, v: u32, recovery: Option<u64>) -> Result<(), String> {
    let ops = plan.operations();
    no_panic(|| {
        let halt = (point != u64::MAX).then_some(point);
        let halted = run_halted(plan, &ops, halt)?;
        match recovery {
            None => check_variant(plan, &halted, point, v),
            Some(inner) => check_recovery_crash(plan, &halted, point, inner),
        }
    })
}
