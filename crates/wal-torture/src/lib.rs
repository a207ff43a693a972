//! groupwal's crash and fault campaign, on the simulated disk
//! (`groupwal::io::sim`).
//!
//! - [`workload`]: a deterministic workload from a seed (appends tiny, of
//!   about 1 KiB and larger than a fragment; atomic batches; checkpoints
//!   and purges; suffix truncations; small segments, so it rotates; with
//!   recycling, encryption and compression on or off). Two of them
//!   ([`Workload`]): plain records, or streams (appends to several
//!   streams, some started at an index of their own; batches across
//!   streams; purges and truncations of each, and appends that take the
//!   truncated indexes again).
//! - [`model`]: what the log may hold after a crash, and the oracle:
//!   every acknowledged record back bit-exact in LSN order, a gap-free
//!   prefix of what was submitted (truncations modelled), no half batch;
//!   for streams, every stream (read through the facade) exactly what the
//!   acknowledged calls left, or the call in flight too, whole.
//!   [`verify`] adds: recovering twice gives the same
//!   result, appending after recovery works and reads back; no panic
//!   anywhere (caught and reported as a violation).
//! - [`crash`]: the process dies at every mutating storage call of the
//!   workload, then several post-crash states (the page cache survives;
//!   power loss with unsynced sectors kept or lost at random, lost ones
//!   old, zeroed or garbage), and crashes inside the recovery.
//! - [`faults`]: a failed write, sync, directory sync or allocation at
//!   every k-th call, short writes, a disk that fills up.
//! - [`hooks`]: the pass-through storage the fault wrappers build on.
//! - [`kill`]: the harness of the SIGKILL tests on the real file system
//!   (a child process killed at a chosen moment of what it reports).
//! - [`rng`]: the deterministic generator every workload draws from.
//! - [`soak`]: both over new seeds until time is up (`cargo xtask crash`),
//!   about one seed in four on the streams workload.
//! - [`readfaults`]: reads that fail with `EIO` or return flipped bits
//!   while a log is recovered or read, at every read call
//!   (`cargo xtask crash --read-faults`).
//!
//! Every violation names its [`Case`]; [`replay`] runs exactly that case
//! again (`cargo xtask crash --replay CASE`).

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![forbid(unsafe_code)]

pub mod bitrot;
mod case;
pub mod crash;
pub mod faults;
pub mod hooks;
#[cfg(unix)]
pub mod kill;
mod layout;
pub mod model;
pub mod readfaults;
pub mod rng;
pub mod verify;
pub mod workload;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bitrot::Ending;
pub use case::{BadCase, Case, Counts, Findings, MAX_KEPT, Outcome, Tally, Violation};
pub use crash::CrashConfig;
pub use faults::{ALL_FAULTS, FaultKind};
pub use workload::{Op, Plan, Workload};

/// Runs one case again, exactly (a fault case up to the timing of its
/// groups, see [`faults`]).
///
/// # Errors
///
/// The violation it finds.
pub fn replay(case: &Case) -> Result<(), Violation> {
    let result = match *case {
        Case::Crash {
            plan,
            workload,
            point,
            variant,
            recovery,
        } => crash::replay(&plan, workload, point, variant, recovery),
        Case::Fault {
            plan,
            workload,
            kind,
            k,
        } => faults::replay(&plan, workload, kind, k),
    };
    result.map_err(|what| Violation { case: *case, what })
}

/// What a soak runs.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// The first seed; seed `first_seed + i` is the i-th workload.
    pub first_seed: u64,
    /// Stop after this many seeds (`None`: only the deadline stops it).
    pub seeds: Option<u64>,
    /// Start no new seed after this.
    pub deadline: Option<Instant>,
    /// Operations of each crash-exploration workload.
    pub crash_ops: usize,
    /// Operations of each fault workload.
    pub fault_ops: usize,
    /// Post-crash states per crash point, and crashes inside recovery.
    pub crash: CrashConfig,
    /// Worker threads.
    pub jobs: usize,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            first_seed: 1,
            seeds: None,
            deadline: None,
            crash_ops: 120,
            fault_ops: 300,
            crash: CrashConfig::default(),
            jobs: 1,
        }
    }
}

/// Explores seed after seed (crash points, then every fault kind) on
/// `config.jobs` threads until the seeds or the time run out; calls
/// `progress` after each seed with the seed and the totals so far. About
/// one seed in four runs the streams workload instead of the records one
/// ([`Workload::for_seed`]).
pub fn soak(config: &SoakConfig, progress: impl Fn(u64, &Outcome) + Sync) -> Outcome {
    let total = Mutex::new(Outcome::default());
    in_parallel(config.jobs, config.seeds, config.deadline, |i| {
        let seed = config.first_seed.wrapping_add(i);
        let workload = Workload::for_seed(seed);
        let mut out = crash::explore(
            &Plan::from_seed(seed, config.crash_ops),
            workload,
            &config.crash,
        );
        out.merge(faults::explore(
            &Plan::from_seed(seed, config.fault_ops).with_concurrent(true),
            workload,
            ALL_FAULTS,
        ));
        out.counts.workloads = 1;
        out.counts.stream_workloads = u64::from(workload == Workload::Streams);
        let mut total = total.lock().unwrap_or_else(|e| e.into_inner());
        total.merge(out);
        progress(seed, &total);
    });
    total.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Runs `run(i)` for `i = 0, 1, 2, ...` on `jobs` threads (at least one),
/// `count` runs at most, starting none after `deadline`.
fn in_parallel(
    jobs: usize,
    count: Option<u64>,
    deadline: Option<Instant>,
    run: impl Fn(u64) + Sync,
) {
    let next = AtomicU64::new(0);
    let worker = || {
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            if count.is_some_and(|n| i >= n) {
                return;
            }
            run(i);
        }
    };
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(worker);
        }
    });
}

/// Explores the plans (`plan(seed, ending)`) of seeds
/// `first..first + seeds`, each with both endings (clean first), on
/// `jobs` threads, starting no new plan after `deadline`; calls
/// `progress` with each plan's own findings as it finishes; returns the
/// totals. What the bit-rot and read-fault soaks run.
pub(crate) fn sweep_endings<P, C: Tally + Send, V: Send>(
    first: u64,
    seeds: u64,
    jobs: usize,
    deadline: Option<Instant>,
    plan: impl Fn(u64, Ending) -> P + Sync,
    explore: impl Fn(&P) -> Findings<C, V> + Sync,
    progress: impl Fn(&P, &Findings<C, V>) + Sync,
) -> Findings<C, V> {
    let total = Mutex::new(Findings::default());
    in_parallel(jobs, Some(seeds.saturating_mul(2)), deadline, |i| {
        let ending = if i.is_multiple_of(2) {
            Ending::Clean
        } else {
            Ending::Crash
        };
        let plan = plan(first.wrapping_add(i / 2), ending);
        let out = explore(&plan);
        progress(&plan, &out);
        total.lock().unwrap_or_else(|e| e.into_inner()).merge(out);
    });
    total.into_inner().unwrap_or_else(|e| e.into_inner())
}
