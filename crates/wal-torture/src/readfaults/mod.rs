//! The read-fault campaign: reads that fail with `EIO`, or return flipped
//! bits, while a log is recovered or read; the stored data is unharmed.
//! (The fault campaign, [`crate::faults`], fails writes, syncs and
//! allocations; the bit-rot campaign, [`crate::bitrot`], damages the data
//! itself.)
//!
//! For each workload ([`ReadFaultPlan`]: the crash campaign's sequential
//! plan, then a last session closed cleanly or crashed right after its
//! last acknowledgement):
//!
//! 1. the workload runs once on a simulated disk; the truth is what a
//!    fault-free recovery of it reads, held to the workload's model;
//! 2. each [`Operation`] (`Wal::open` in each recovery mode, then read
//!    back; `Wal::read_from` on an open log; `groupwal::read_log`) runs
//!    once on a fork of the disk, fault-free, with its read calls counted
//!    per [`Lane`] (the operation's thread, read-ahead threads, others:
//!    each lane's calls come in the same order on every run);
//! 3. then once per read call k of each lane and per [`ReadFault`] with
//!    the simulated disk's fault injected into exactly that call (`EIO`,
//!    or one bit flipped in what it returns), and a few times with faults
//!    at a rate ([`Injection::Rate`]), each on a fresh fork;
//! 4. the operation's outcome, the files before and after it, and a
//!    reopen once the fault is gone are held to the [`oracle`]: a read
//!    error is never taken for the end of the data, a flip is reported as
//!    damage (or, past the evidence, as a torn tail), a failed operation
//!    changes nothing, and afterwards the log holds every record again.
//!
//! Every violation names a [`ReadFaultCase`], which [`replay`] runs again
//! (`cargo xtask crash --replay readfault:...`).

mod case;
mod disk;
mod image;
pub mod oracle;
mod outcome;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use groupwal::io::Storage;
use groupwal::io::sim::SimStorage;
use groupwal::{Lsn, OwnedRecord, TailKind, Wal};

use crate::bitrot::oracle::RangeFacts;
use crate::case::no_panic;
use crate::hooks::Hooked;
use crate::layout::{Files, difference, files};
use crate::workload::DIR;

pub use case::{
    ALL_LANES, ALL_OPERATIONS, ALL_READ_FAULTS, BadReadFaultCase, Injection, Lane, Operation,
    ReadFault, ReadFaultCase, ReadFaultPlan,
};
pub use disk::Hit;
use disk::Trigger;
use image::{Built, Listing};
pub use oracle::{EndFacts, Failure, Got, Named, ReadExpectation, ReadVerdict, Seen};
pub use outcome::{ReadFaultCounts, ReadFaultOutcome, ReadFaultViolation};

/// What an exploration runs.
#[derive(Clone, Debug)]
pub struct ReadFaultConfig {
    /// Operations of each workload's plan (for [`sweep`]).
    pub ops: usize,
    /// The operations run with faults.
    pub operations: Vec<Operation>,
    /// The faults.
    pub faults: Vec<ReadFault>,
    /// A case per read call of each lane and fault (`false`: only the
    /// rate cases).
    pub every_read: bool,
    /// The rate of the rate cases, per million reads.
    pub rate_per_million: u32,
    /// Rate cases per operation and fault.
    pub rate_draws: u64,
}

impl Default for ReadFaultConfig {
    fn default() -> Self {
        ReadFaultConfig {
            ops: 60,
            operations: ALL_OPERATIONS.to_vec(),
            faults: ALL_READ_FAULTS.to_vec(),
            every_read: true,
            rate_per_million: 30_000,
            rate_draws: 4,
        }
    }
}

/// A plan's log, what it holds, and its evidence.
struct Prepared {
    built: Built,
    listing: Listing,
    truth: Vec<OwnedRecord>,
}

/// Every durable record of `wal` from `from` on (at most `limit`; from
/// LSN 1 if `from` is 0, the first LSN of a log without segments).
fn read_all(wal: &Wal, from: Lsn, limit: usize) -> Result<Vec<OwnedRecord>, groupwal::Error> {
    wal.read_from(from.max(Lsn::FIRST))?.take(limit).collect()
}

fn prepare(plan: &ReadFaultPlan) -> Result<Prepared, String> {
    let built = image::build(plan)?;
    let listing = Listing::new(&built.files)?;
    let disk = built.sim.fork();
    let options = plan.workload().options(Arc::new(disk));
    let (wal, report) = Wal::open(DIR, &options)
        .map_err(|e| format!("the fault-free recovery failed: {e} ({e:?})"))?;
    let truth = read_all(&wal, report.first_lsn, usize::MAX)
        .map_err(|e| format!("reading the fault-free recovery back failed: {e} ({e:?})"))?;
    wal.close()
        .map_err(|e| format!("closing the fault-free recovery failed: {e}"))?;
    let last = report.last_lsn.get();
    built
        .model
        .check(last, &truth)
        .map_err(|e| format!("the fault-free recovery: {e}"))?;
    if last + 1 != built.model.next_lsn() || report.dropped_anything() || truth.is_empty() {
        return Err(format!(
            "the fault-free recovery ends at lsn {last} ({} records; {:?}), the workload submitted up to {}",
            truth.len(),
            report.losses(),
            built.model.next_lsn() - 1
        ));
    }
    Ok(Prepared {
        built,
        listing,
        truth,
    })
}

/// An operation's outcome and how it changed the files.
struct Performed {
    result: Result<Got, Failure>,
    changed: Option<String>,
}

fn end_of(report: &groupwal::RecoveryReport) -> EndFacts {
    EndFacts {
        torn: report.tail == TailKind::Torn,
        next_lsn: report.next_lsn.get(),
        corrupt: report.corrupt.iter().map(RangeFacts::from).collect(),
    }
}

/// Runs `operation` on `disk` through `trigger`, armed only around the
/// operation itself.
fn perform(
    plan: &ReadFaultPlan,
    disk: &SimStorage,
    trigger: &Arc<Trigger>,
    operation: Operation,
    limit: usize,
) -> Result<Performed, String> {
    let storage: Arc<dyn Storage> = Arc::new(Hooked::new(Arc::clone(trigger)));
    let mut options = plan.workload().options(storage);
    options.recovery_mode(operation.mode());
    let armed = |f: &mut dyn FnMut() -> Result<Got, Failure>| -> Result<Performed, String> {
        let before: Files = files(disk, false)?;
        trigger.arm();
        let result = f();
        trigger.disarm();
        let after = files(disk, false)?;
        Ok(Performed {
            result,
            changed: difference(&before, &after),
        })
    };
    match operation {
        Operation::Open(_) => {
            let mut opened = None;
            let mut performed = armed(&mut || match Wal::open(DIR, &options) {
                Ok(wal) => {
                    opened = Some(wal);
                    Ok(Got {
                        end: EndFacts {
                            torn: false,
                            next_lsn: 0,
                            corrupt: Vec::new(),
                        },
                        records: Ok(Vec::new()),
                    })
                }
                Err(e) => Err(Failure::from(&e)),
            })?;
            if let (Some((wal, report)), Ok(got)) = (opened, performed.result.as_mut()) {
                got.end = end_of(&report);
                let records = read_all(&wal, report.first_lsn, limit)
                    .map_err(|e| format!("Wal::read_from after the open: {e} ({e:?})"));
                let closed = wal
                    .close()
                    .map_err(|e| format!("closing after the open: {e} ({e:?})"));
                got.records = match (records, closed) {
                    (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                    (Ok(r), Ok(())) => Ok(r),
                };
            }
            Ok(performed)
        }
        Operation::ReadFrom => {
            let (wal, report) = Wal::open(DIR, &options)
                .map_err(|e| format!("the open before reading failed: {e} ({e:?})"))?;
            let performed = armed(&mut || match read_all(&wal, report.first_lsn, limit) {
                Ok(records) => Ok(Got {
                    end: EndFacts {
                        torn: false,
                        next_lsn: records
                            .last()
                            .map_or(report.next_lsn.get(), |r| r.lsn.get() + 1),
                        corrupt: Vec::new(),
                    },
                    records: Ok(records),
                }),
                Err(e) => Err(Failure::from(&e)),
            })?;
            wal.close()
                .map_err(|e| format!("closing after reading: {e} ({e:?})"))?;
            Ok(performed)
        }
        Operation::ReadLog => armed(&mut || {
            let read = || -> Result<Got, groupwal::Error> {
                let mut reader = groupwal::read_log(DIR, &options)?;
                let records = reader.by_ref().take(limit).collect::<Result<Vec<_>, _>>()?;
                let end = reader.end();
                Ok(Got {
                    end: EndFacts {
                        torn: end.as_ref().is_some_and(|e| e.tail == TailKind::Torn),
                        next_lsn: end.map_or_else(
                            || records.last().map_or(0, |r| r.lsn.get() + 1),
                            |e| e.next_lsn.get(),
                        ),
                        corrupt: reader.skipped().iter().map(RangeFacts::from).collect(),
                    },
                    records: Ok(records),
                })
            };
            read().map_err(|e| Failure::from(&e))
        }),
    }
}

/// Once the fault is gone: reopens the log in the default mode, checks
/// that it holds the truth's records from its first on (up to its last
/// LSN, returned) and that it takes an append.
fn after(
    plan: &ReadFaultPlan,
    disk: &SimStorage,
    truth: &[OwnedRecord],
    abandoned: &Arc<AtomicBool>,
) -> Result<u64, String> {
    disk.crash_process();
    // Through a trigger that never fires, so that a hang here ends too.
    let trigger = Trigger::new(disk.clone(), plan.seed, None, Arc::clone(abandoned));
    let options = plan
        .workload()
        .options(Arc::new(Hooked::new(Arc::new(trigger))));
    let (wal, report) = Wal::open(DIR, &options)
        .map_err(|e| format!("recovery failed: {}", Failure::from(&e).text))?;
    let last = report.last_lsn.get();
    let records = read_all(&wal, report.first_lsn, truth.len() + 1)
        .map_err(|e| format!("reading back failed: {}", Failure::from(&e).text))?;
    let want = truth.iter().take_while(|r| r.lsn.get() <= last);
    let mut n = 0;
    for (got, want) in records.iter().zip(want.clone()) {
        if got != want {
            return Err(format!(
                "lsn {} reads back as lsn {} ({} bytes, {} held)",
                want.lsn,
                got.lsn,
                got.payload.len(),
                want.payload.len()
            ));
        }
        n += 1;
    }
    if n != records.len() || n != want.count() {
        return Err(format!(
            "{} records read back up to lsn {last} (first {:?}), the log held {} up to there",
            records.len(),
            records.first().map(|r| r.lsn.get()),
            truth.iter().take_while(|r| r.lsn.get() <= last).count()
        ));
    }
    let probe = wal
        .append(b"probe once the fault is gone")
        .map_err(|e| format!("appending failed: {}", Failure::from(&e).text))?;
    if probe.get() != last + 1 {
        return Err(format!("the append got lsn {probe}, expected {}", last + 1));
    }
    let back = read_all(&wal, probe, 2).map_err(|e| format!("reading the append: {e}"))?;
    if back.len() != 1
        || back
            .first()
            .is_none_or(|r| r.payload != b"probe once the fault is gone")
    {
        return Err("the append does not read back".into());
    }
    wal.close()
        .map_err(|e| format!("closing failed: {}", Failure::from(&e).text))?;
    Ok(last)
}

/// How long a case may take before it is reported as hung (a guard
/// against a reader that never returns, not a timing assumption: a case
/// takes milliseconds).
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// What one case gives: what the oracle knows, what was seen, and the
/// read calls per lane.
type Observed = (ReadExpectation, Seen, [u64; 3]);

/// Runs one case (`fault: None`: the fault-free run that counts the
/// reads) on a thread of its own, so that an operation that never
/// returns is reported instead of hanging the campaign: after
/// [`HANG_GUARD`] every read of the case fails, which ends a reader that
/// loops over its reads, and the case is a violation.
fn observe_prepared(
    plan: &ReadFaultPlan,
    prepared: &Arc<Prepared>,
    operation: Operation,
    fault: Option<(ReadFault, Injection)>,
) -> Result<Observed, String> {
    let (tx, rx) = mpsc::channel();
    let abandoned = Arc::new(AtomicBool::new(false));
    let (plan, prepared, flag) = (*plan, Arc::clone(prepared), Arc::clone(&abandoned));
    std::thread::Builder::new()
        .name("read-fault-case".into())
        .spawn(move || {
            let observed = no_panic(|| observe_here(&plan, &prepared, operation, fault, &flag));
            // The receiver is gone only after a hang was reported.
            let _ = tx.send(observed);
        })
        .map_err(|e| format!("harness: no thread for the case: {e}"))?;
    let gone = |e| match e {
        mpsc::RecvTimeoutError::Timeout => "did not end either",
        mpsc::RecvTimeoutError::Disconnected => "ended without a result",
    };
    match rx.recv_timeout(HANG_GUARD) {
        Ok(observed) => observed,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err("harness: the case's thread ended without a result".into())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            abandoned.store(true, Ordering::SeqCst);
            let then = match rx.recv_timeout(HANG_GUARD) {
                Ok(Ok((_, seen, _))) => format!(
                    "ended once its reads failed; {}; the files {} [{}]",
                    match &seen.result {
                        Ok(_) => "the operation had succeeded".to_owned(),
                        Err(f) => format!("the operation had failed: {}", f.text),
                    },
                    seen.changed
                        .as_deref()
                        .map_or("had not changed".to_owned(), |c| format!("had {c}")),
                    seen.hits
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Ok(Err(e)) => format!("ended once its reads failed: {e}"),
                Err(e) => gone(e).to_owned(),
            };
            Err(format!(
                "hung: the case ({}) gave no result in {HANG_GUARD:?}; every read then failed, and it {then}",
                operation.name()
            ))
        }
    }
}

fn observe_here(
    plan: &ReadFaultPlan,
    prepared: &Prepared,
    operation: Operation,
    fault: Option<(ReadFault, Injection)>,
    abandoned: &Arc<AtomicBool>,
) -> Result<Observed, String> {
    let disk = prepared.built.sim.fork();
    let trigger = Arc::new(Trigger::new(
        disk.clone(),
        plan.seed,
        fault,
        Arc::clone(abandoned),
    ));
    let limit = prepared.truth.len() + 1;
    let performed = perform(plan, &disk, &trigger, operation, limit)?;
    if let Some(stray) = trigger.stray() {
        return Err(format!("harness: {stray}"));
    }
    let hits = trigger.hits();
    if let Some((_, Injection::At { lane, k })) = fault
        && hits.is_empty()
    {
        return Err(format!(
            "harness: read {k} of lane {lane:?} never came ({:?} reads per lane): this run differs from the counting run",
            trigger.counts()
        ));
    }
    let after = after(plan, &disk, &prepared.truth, abandoned);
    let expect = ReadExpectation {
        truth: prepared.truth.clone(),
        evidence: prepared.listing.evidence(&hits),
        segments: prepared.listing.segment_names(),
    };
    let seen = Seen {
        operation,
        hits,
        result: performed.result,
        changed: performed.changed,
        after,
    };
    Ok((expect, seen, trigger.counts()))
}

/// Explores every read call of every operation of `config` on `plan`'s
/// log, with every fault, and the rate cases: see the module docs.
#[must_use]
pub fn explore(plan: &ReadFaultPlan, config: &ReadFaultConfig) -> ReadFaultOutcome {
    let mut out = ReadFaultOutcome::default();
    out.counts.workloads = 1;
    let prepared = match no_panic(|| prepare(plan)) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            out.violation(*plan, None, format!("building the log: {e}"));
            return out;
        }
    };
    for &operation in &config.operations {
        let counted = no_panic(|| {
            let (expect, seen, counts) = observe_prepared(plan, &prepared, operation, None)?;
            match oracle::judge(&expect, &seen)? {
                ReadVerdict::Intact => Ok(counts),
                v => Err(format!("verdict {v:?} without a fault")),
            }
        });
        let counts = match counted {
            Ok(c) => c,
            Err(e) => {
                out.violation(
                    *plan,
                    None,
                    format!("the fault-free {}: {e}", operation.name()),
                );
                continue;
            }
        };
        out.counts.operations += 1;
        for (total, n) in out.counts.reads.iter_mut().zip(counts) {
            *total += n;
        }
        let mut injections = Vec::new();
        if config.every_read {
            for &lane in ALL_LANES {
                let n = counts.get(lane.index()).copied().unwrap_or(0);
                for k in 0..n {
                    for &fault in &config.faults {
                        injections.push((fault, Injection::At { lane, k }));
                    }
                }
            }
        }
        for draw in 0..config.rate_draws {
            for &fault in &config.faults {
                injections.push((
                    fault,
                    Injection::Rate {
                        per_million: config.rate_per_million,
                        draw,
                    },
                ));
            }
        }
        for (fault, injection) in injections {
            let case = ReadFaultCase {
                plan: *plan,
                operation,
                fault,
                injection,
                fingerprint: prepared.listing.fingerprint,
            };
            out.counts.cases += 1;
            match (injection, fault) {
                (Injection::Rate { .. }, _) => out.counts.rate_cases += 1,
                (_, ReadFault::Flip) => out.counts.flip_cases += 1,
                (_, _) => out.counts.eio_cases += 1,
            }
            let judged = no_panic(|| {
                let (expect, seen, _) =
                    observe_prepared(plan, &prepared, operation, Some((fault, injection)))?;
                let faults = seen.hits.iter().filter(|h| h.effect).count() as u64;
                oracle::judge(&expect, &seen).map(|v| (v, faults))
            });
            match judged {
                Ok((verdict, faults)) => {
                    out.counts.verdict(verdict);
                    out.counts.faults += faults;
                }
                Err(what) => out.violation(*plan, Some(case), what),
            }
        }
    }
    out
}

/// Rebuilds the case's log and runs the case: what the oracle knew, and
/// what was seen. A rebuilt log whose fingerprint is not the case's is an
/// error (the workload or the library's layout changed since).
///
/// # Errors
///
/// The log could not be rebuilt, or the case could not run.
pub fn observe(case: &ReadFaultCase) -> Result<(ReadExpectation, Seen), String> {
    no_panic(|| {
        let prepared = Arc::new(prepare(&case.plan)?);
        if prepared.listing.fingerprint != case.fingerprint {
            return Err(format!(
                "the rebuilt log has fingerprint {:016x}, not the case's {:016x}",
                prepared.listing.fingerprint, case.fingerprint
            ));
        }
        let (expect, seen, _) = observe_prepared(
            &case.plan,
            &prepared,
            case.operation,
            Some((case.fault, case.injection)),
        )?;
        Ok((expect, seen))
    })
}

/// Runs one case again and judges it.
///
/// # Errors
///
/// The violation it finds (or why it could not run).
pub fn replay(case: &ReadFaultCase) -> Result<ReadVerdict, ReadFaultViolation> {
    observe(case)
        .and_then(|(expect, seen)| oracle::judge(&expect, &seen))
        .map_err(|what| ReadFaultViolation::of(case, what))
}

/// Explores seeds `first..first + seeds` (plans of `config.ops`
/// operations), each with both endings (clean first), on `jobs` threads,
/// starting no new plan after `deadline`; calls `progress` with each
/// plan's own outcome as it finishes; returns the totals. What a soak
/// runs.
pub fn sweep(
    first: u64,
    seeds: u64,
    config: &ReadFaultConfig,
    jobs: usize,
    deadline: Option<Instant>,
    progress: impl Fn(&ReadFaultPlan, &ReadFaultOutcome) + Sync,
) -> ReadFaultOutcome {
    crate::sweep_endings(
        first,
        seeds,
        jobs,
        deadline,
        |seed, ending| ReadFaultPlan::new(seed, config.ops, ending),
        |plan| explore(plan, config),
        progress,
    )
}
