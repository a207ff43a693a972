//! Fault injection at every k-th call: a write, sync, directory sync or
//! allocation fails (or a write is short, or the disk fills up) at the k-th
//! call of its kind, for every k of a workload. Checked: the failure
//! reaches every waiter of the failed group and poisons the log (later
//! calls get `Poisoned`), nothing past the durable LSN was acknowledged,
//! and after reopening (and again after a power loss on top) the log holds
//! to the oracle and takes appends.
//!
//! The fault workload submits several records before waiting for any
//! ([`Plan::concurrent`]), so a failed group can have several waiters;
//! which records share a group depends on timing, so the k-th call may
//! fall in a slightly different place from one run to the next. A failure
//! prints its case all the same, and replaying it usually hits the same
//! place.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use groupwal::Wal;
use groupwal::io::sim::{Fault, LostSectors, SimStorage};
use groupwal::io::{CLEAN_FILE, OpenOptions, Storage};

use crate::case::{Case, Outcome, no_panic};
use crate::hooks::{Hooked, Hooks, Opened};
use crate::model::Model;
use crate::model::StreamRecord;
use crate::rng::mix;
use crate::verify::verify;
use crate::workload::{DIR, Ended, Op, PROBE_STREAM, Plan, Workload, run};

/// `EIO` on Linux.
const EIO: i32 = 5;
/// `ENOSPC` on Linux.
const ENOSPC: i32 = 28;

/// Bytes of free space added per step of the disk-full sweep.
pub const DISK_FULL_STEP: u64 = 1024;

/// A fault to inject at the k-th call it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// The k-th write fails with `EIO` ([`Fault::WriteEio`]).
    WriteEio,
    /// The k-th write fails with `ENOSPC` ([`Fault::WriteEnospc`]).
    WriteEnospc,
    /// The k-th write is short ([`Fault::ShortWrite`]): not an error.
    ShortWrite,
    /// The k-th sync fails with `EIO`, the data staying dirty
    /// ([`Fault::SyncEio`]).
    SyncEio,
    /// The k-th sync fails once and forgets its pages, later syncs report
    /// success ([`Fault::SyncEioForgets`], Linux's behaviour).
    SyncEioForgets,
    /// The k-th directory sync fails with `EIO`.
    DirSyncEio,
    /// The k-th allocation (`allocate`, `set_len`) fails with `ENOSPC`.
    AllocEnospc,
    /// The disk fills up: after the first open it has `k` times
    /// [`DISK_FULL_STEP`] bytes free (short writes, then `ENOSPC` on writes
    /// and allocations).
    DiskFull,
    /// The k-th write reports success but never reaches the disk
    /// ([`Fault::LostWrite`]): a disk that lies, which no log can survive.
    /// Not in [`ALL_FAULTS`]: it is there to show that the oracle catches
    /// acknowledged records that are lost.
    LostWrite,
}

/// Every fault kind.
pub const ALL_FAULTS: &[FaultKind] = &[
    FaultKind::WriteEio,
    FaultKind::WriteEnospc,
    FaultKind::ShortWrite,
    FaultKind::SyncEio,
    FaultKind::SyncEioForgets,
    FaultKind::DirSyncEio,
    FaultKind::AllocEnospc,
    FaultKind::DiskFull,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Write,
    Sync,
    DirSync,
    Alloc,
    None,
}

impl FaultKind {
    /// Its name in a case's text.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::WriteEio => "write-eio",
            FaultKind::WriteEnospc => "write-enospc",
            FaultKind::ShortWrite => "short-write",
            FaultKind::SyncEio => "sync-eio",
            FaultKind::SyncEioForgets => "sync-eio-forgets",
            FaultKind::DirSyncEio => "dir-sync-eio",
            FaultKind::AllocEnospc => "alloc-enospc",
            FaultKind::DiskFull => "disk-full",
            FaultKind::LostWrite => "lost-write",
        }
    }

    /// The kind named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<FaultKind> {
        ALL_FAULTS
            .iter()
            .copied()
            .chain([FaultKind::LostWrite])
            .find(|k| k.name() == name)
    }

    fn class(self) -> Class {
        match self {
            FaultKind::WriteEio
            | FaultKind::WriteEnospc
            | FaultKind::ShortWrite
            | FaultKind::LostWrite => Class::Write,
            FaultKind::SyncEio | FaultKind::SyncEioForgets => Class::Sync,
            FaultKind::DirSyncEio => Class::DirSync,
            FaultKind::AllocEnospc => Class::Alloc,
            FaultKind::DiskFull => Class::None,
        }
    }

    /// Whether the fault must make some operation fail.
    fn must_fail(self) -> bool {
        !matches!(self, FaultKind::ShortWrite | FaultKind::LostWrite)
    }
}

/// Counts the calls of the fault's class and fires the fault at the k-th.
#[derive(Debug)]
struct Trigger {
    sim: SimStorage,
    kind: FaultKind,
    at: u64,
    seen: AtomicU64,
    fired: AtomicBool,
    /// The fault hit a call the log is allowed to fail quietly: the
    /// preparation of a spare segment (on the preparing thread, or a file
    /// not in the log yet; the next rotation creates its file inline), or
    /// the write of the clean-close marker (the next open rewrites the
    /// last segment instead).
    quiet: AtomicBool,
    /// The call the fault hit: its path and thread, for the report.
    hit: std::sync::Mutex<String>,
    /// Held from the trigger's decision through the file call it applies
    /// to: a fault is queued in the simulated disk for its next call of a
    /// class, and without this another thread (the segment preparer) could
    /// make that call first and take the fault meant for this one.
    serial: std::sync::Mutex<()>,
}

impl Trigger {
    fn call(&self, class: Class, path: &Path) -> io::Result<()> {
        if class != self.kind.class() || self.seen.fetch_add(1, Ordering::SeqCst) != self.at {
            return Ok(());
        }
        self.fired.store(true, Ordering::SeqCst);
        let preparing = std::thread::current().name() == Some("groupwal-prepare");
        let name = path.file_name().and_then(|n| n.to_str());
        let spare = name.is_some_and(|n| n.ends_with(".spare"));
        let clean_marker = name == Some(CLEAN_FILE);
        self.quiet
            .store(preparing || spare || clean_marker, Ordering::SeqCst);
        *self.hit.lock().unwrap_or_else(|e| e.into_inner()) = format!(
            "{:?} on {} in thread {:?}",
            class,
            path.display(),
            std::thread::current().name().unwrap_or("?")
        );
        // A fault queued in the simulated disk applies to its next call of
        // that class, which is this one.
        match self.kind {
            FaultKind::WriteEio => self.sim.inject(Fault::WriteEio),
            FaultKind::WriteEnospc => self.sim.inject(Fault::WriteEnospc),
            FaultKind::ShortWrite => self.sim.inject(Fault::ShortWrite),
            FaultKind::LostWrite => self.sim.inject(Fault::LostWrite),
            FaultKind::SyncEio => self.sim.inject(Fault::SyncEio),
            FaultKind::SyncEioForgets => self.sim.inject(Fault::SyncEioForgets),
            FaultKind::DirSyncEio => return Err(io::Error::from_raw_os_error(EIO)),
            FaultKind::AllocEnospc => return Err(io::Error::from_raw_os_error(ENOSPC)),
            FaultKind::DiskFull => {}
        }
        Ok(())
    }
}

impl Trigger {
    /// Runs `op` right after the trigger has seen a call of `class` on
    /// `path`, with no other file call in between.
    fn guarded<T>(
        &self,
        class: Class,
        path: &Path,
        op: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        let _serial = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        self.call(class, path)?;
        op()
    }
}

/// The trigger in front of the simulated disk. Reads, sizes and
/// writeback hints (whose errors the log ignores) pass through, no fault
/// there.
impl Hooks for Trigger {
    fn behind(&self) -> &dyn Storage {
        &self.sim
    }
    fn write_at(&self, at: Opened<'_>, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.guarded(Class::Write, at.path, || at.file.write_at(buf, offset))
    }
    fn sync_data(&self, at: Opened<'_>) -> io::Result<()> {
        self.guarded(Class::Sync, at.path, || at.file.sync_data())
    }
    fn sync_all(&self, at: Opened<'_>) -> io::Result<()> {
        self.guarded(Class::Sync, at.path, || at.file.sync_all())
    }
    fn allocate(&self, at: Opened<'_>, offset: u64, len: u64) -> io::Result<()> {
        self.guarded(Class::Alloc, at.path, || at.file.allocate(offset, len))
    }
    fn set_len(&self, at: Opened<'_>, len: u64) -> io::Result<()> {
        self.guarded(Class::Alloc, at.path, || at.file.set_len(len))
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.call(Class::DirSync, path)?;
        self.sim.sync_dir(path)
    }
}

/// The bytes the log's files hold.
fn used(sim: &SimStorage) -> u64 {
    let Ok(entries) = sim.list_dir(Path::new(DIR)) else {
        return 0;
    };
    entries
        .iter()
        .filter(|e| e.is_file)
        .filter_map(|e| {
            sim.open(&Path::new(DIR).join(&e.name), OpenOptions::read())
                .and_then(|f| f.size())
                .ok()
        })
        .sum()
}

/// Checks a log just failed by a fault: poisoned, later calls refused with
/// `Poisoned`, nothing acknowledged past the durable LSN (so every waiter
/// of the failed group got an error).
fn check_failed_log(wal: &Wal, model: &Model, waits: &[(u64, bool)]) -> Result<(), String> {
    if wal.poisoned().is_none() {
        return Err("the log is not poisoned after a failed operation".into());
    }
    match wal.append(b"after the failure") {
        Ok(lsn) => {
            return Err(format!(
                "an append after the failure was acknowledged (lsn {lsn})"
            ));
        }
        Err(e) if !e.is_poisoned() => {
            return Err(format!(
                "an append after the failure failed with {e}, not Poisoned"
            ));
        }
        Err(_) => {}
    }
    let durable = wal.durable_lsn().get();
    if model.acked() > durable {
        return Err(format!(
            "lsn {} was acknowledged, the durable lsn is {durable}",
            model.acked()
        ));
    }
    if let Some((lsn, _)) = waits.iter().find(|&&(lsn, ok)| ok && lsn > durable) {
        return Err(format!(
            "a waiter for lsn {lsn} got Ok past the durable lsn {durable}"
        ));
    }
    Ok(())
}

/// Runs one fault case. `Ok(false)`: the fault never fired (`k` is past the
/// workload's calls of its kind).
fn run_fault(
    plan: &Plan,
    workload: Workload,
    ops: &[Op],
    kind: FaultKind,
    k: u64,
) -> Result<bool, String> {
    let sim = SimStorage::new(plan.seed);
    let trigger = Arc::new(Trigger {
        sim: sim.clone(),
        kind,
        at: k,
        seen: AtomicU64::new(0),
        fired: AtomicBool::new(false),
        quiet: AtomicBool::new(false),
        hit: std::sync::Mutex::new(String::new()),
        serial: std::sync::Mutex::new(()),
    });
    let storage = Arc::new(Hooked::new(Arc::clone(&trigger)));
    let mut model = Model::new(workload);
    match Wal::open(DIR, &plan.options(storage)) {
        Err(e) => {
            if !trigger.fired.load(Ordering::SeqCst) {
                return Err(format!("the first open failed without a fault: {e}"));
            }
        }
        Ok((wal, _)) => {
            if kind == FaultKind::DiskFull {
                sim.set_capacity(Some(used(&sim) + k * DISK_FULL_STEP));
            }
            let (ended, wal, waits) = run(wal, ops, &mut model)?;
            let fired = match kind {
                FaultKind::DiskFull => matches!(ended, Ended::Failed { .. }),
                _ => trigger.fired.load(Ordering::SeqCst),
            };
            match ended {
                Ended::Completed if !fired => return Ok(false),
                Ended::Completed if kind.must_fail() && !trigger.quiet.load(Ordering::SeqCst) => {
                    return Err(format!(
                        "the fault fired ({}) but no operation failed",
                        trigger.hit.lock().unwrap_or_else(|e| e.into_inner())
                    ));
                }
                Ended::Completed => {}
                Ended::Failed { op, error } if !fired => {
                    return Err(format!(
                        "operation {op} failed without a fault: {error} ({error:?})"
                    ));
                }
                Ended::Failed { .. } => {
                    if let Some(wal) = wal {
                        check_failed_log(&wal, &model, &waits)?;
                    }
                }
            }
        }
    }
    // Reopened by the same machine (the page cache survives), with room on
    // the disk again.
    sim.set_capacity(None);
    sim.crash_process();
    let probe = format!("probe {:x}/{}/{k}", plan.seed, kind.name()).into_bytes();
    let found = verify(plan, &sim, &model, &probe).map_err(|e| format!("after reopening: {e}"))?;
    model.rebase(found.last);
    model.rebase_streams(found.stream_units);
    match workload {
        Workload::Records => {
            let (lsn, _) = model.push(std::slice::from_ref(&probe), false);
            if lsn != found.probe {
                return Err(format!(
                    "the probe got lsn {}, the model expected {lsn}",
                    found.probe
                ));
            }
            model.ack(lsn);
        }
        Workload::Streams => {
            let unit = model.push_streams(vec![StreamRecord::Append {
                stream: PROBE_STREAM,
                index: model.streams().next_index(PROBE_STREAM),
                entry: probe,
            }])?;
            model.ack_streams(unit);
        }
    }
    // Then the power fails, and it must all still be there.
    sim.crash_with(mix(&[plan.seed, k, kind as u64]), LostSectors::Old);
    verify(plan, &sim, &model, b"probe after the power loss")
        .map_err(|e| format!("after a power loss on top: {e}"))?;
    Ok(true)
}

/// The most cases per fault kind (a guard against a workload that never
/// runs out of calls).
const MAX_K: u64 = 100_000;

/// Injects each of `kinds` at every k-th call of `plan`'s `workload`
/// (`plan` should have [`Plan::concurrent`] on).
#[must_use]
pub fn explore(plan: &Plan, workload: Workload, kinds: &[FaultKind]) -> Outcome {
    let mut out = Outcome::default();
    out.counts.workloads = 1;
    let streams = u64::from(workload == Workload::Streams);
    out.counts.stream_workloads = streams;
    let ops = workload.operations(plan);
    for &kind in kinds {
        for k in 0..MAX_K {
            match no_panic(|| run_fault(plan, workload, &ops, kind, k)) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => out.violation(
                    Case::Fault {
                        plan: *plan,
                        workload,
                        kind,
                        k,
                    },
                    e,
                ),
            }
            out.counts.fault_cases += 1;
            out.counts.stream_fault_cases += streams;
            if kind == FaultKind::DiskFull {
                out.counts.disk_full_cases += 1;
            }
        }
    }
    out
}

/// Replays one fault case.
pub(crate) fn replay(
    plan: &Plan,
    workload: Workload,
    kind: FaultKind,
    k: u64,
) -> Result<(), String> {
    let ops = workload.operations(plan);
    no_panic(|| run_fault(plan, workload, &ops, kind, k).map(|_| ()))
}
