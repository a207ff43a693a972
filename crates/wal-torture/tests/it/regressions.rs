//! The bugs the campaign found (docs/RELIABILITY.md, "Bugs found by this
//! campaign"), all fixed. Each test first builds its scenario step by step
//! on the simulated disk and asserts that every step happened (the fault
//! fired where the bug needs it, the state the bug fed on was there, the
//! reopen came before the power loss), then holds the log to the
//! campaign's oracle after the power loss, in several post-crash states.
//! Then it replays the campaign's own cases that found the bug (a range
//! around each, so that a change in the number of storage calls before it
//! does not move the scenario out of the test): those hold the log to the
//! oracle too, but cannot tell whether their fault fired or their crash
//! landed where it once did, which is what the scenario checks.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use groupwal::io::Storage;
use groupwal::io::sim::{Fault, LostSectors, SimStorage};
use groupwal::{Lsn, OwnedRecord, RecoveryReport, Wal};
use wal_torture::hooks::{Hooked, Hooks};
use wal_torture::model::Model;
use wal_torture::rng::{self, Rng, mix};
use wal_torture::verify::verify;
use wal_torture::workload::DIR;
use wal_torture::{Case, FaultKind, Plan, Workload};

fn replay(case: Case) {
    if let Err(v) = wal_torture::replay(&case) {
        panic!("{v}");
    }
}

/// `EIO` on Linux.
const EIO: i32 = 5;

/// Post-crash states tried after each scenario's power loss.
const POWER_LOSSES: u64 = 12;

/// The simulated disk, whose directory sync fails (`EIO`, nothing synced)
/// once, right after a rename to a name with the armed extension.
#[derive(Debug)]
struct FailingDirSync {
    sim: SimStorage,
    state: Mutex<DirSyncState>,
}

#[derive(Debug, Default)]
struct DirSyncState {
    /// Fail the directory sync after a rename to a name with this
    /// extension.
    armed: Option<&'static str>,
    /// Such a rename, seen since arming.
    renamed: Option<(PathBuf, PathBuf)>,
    /// The rename whose directory sync failed.
    fired: Option<(PathBuf, PathBuf)>,
}

impl FailingDirSync {
    fn new(sim: &SimStorage) -> Arc<Self> {
        Arc::new(FailingDirSync {
            sim: sim.clone(),
            state: Mutex::default(),
        })
    }

    /// The disk, with this in front.
    fn storage(self: &Arc<Self>) -> Arc<Hooked<Self>> {
        Arc::new(Hooked::new(Arc::clone(self)))
    }

    fn state(&self) -> MutexGuard<'_, DirSyncState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn arm(&self, extension: &'static str) {
        self.state().armed = Some(extension);
    }

    /// The rename (from, to) whose directory sync failed, if one did.
    fn fired(&self) -> Option<(PathBuf, PathBuf)> {
        self.state().fired.clone()
    }
}

impl Hooks for FailingDirSync {
    fn behind(&self) -> &dyn Storage {
        &self.sim
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.sim.rename(from, to)?;
        let mut state = self.state();
        if state.armed.is_some()
            && to.extension().and_then(|e| e.to_str()) == state.armed
            && state.renamed.is_none()
        {
            state.renamed = Some((from.to_path_buf(), to.to_path_buf()));
        }
        Ok(())
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        if let Some(rename) = state.renamed.take() {
            state.armed = None;
            state.fired = Some(rename);
            return Err(io::Error::from_raw_os_error(EIO));
        }
        drop(state);
        self.sim.sync_dir(path)
    }
}

/// A payload of 900 bytes naming its scenario and number, the rest
/// incompressible (some plans compress): a 16 KiB segment takes about 17.
fn payload(tag: &str, i: u64) -> Vec<u8> {
    let mut rng = Rng::new(mix(&[i, tag.len() as u64]));
    rng::fill(&mut rng, format!("{tag} {i}:").into_bytes(), 900, None)
}

/// Appends `payload(tag, i)` for `i` in `range` and acknowledges them in
/// the model; stops at the first failure, returning its LSN.
fn append(wal: &Wal, model: &mut Model, tag: &str, range: std::ops::Range<u64>) -> Option<u64> {
    for i in range {
        let p = payload(tag, i);
        let (lsn, _) = model.push(std::slice::from_ref(&p), false);
        match wal.append(&p) {
            Ok(got) => {
                assert_eq!(got.get(), lsn, "{tag} {i}");
                model.ack(lsn);
            }
            Err(_) => return Some(lsn),
        }
    }
    None
}

/// Opens the log on `sim` as `plan` says (no fault), checks what recovery
/// found against the model, and makes it the model's history.
fn reopen(plan: &Plan, sim: &SimStorage, model: &mut Model) -> (Wal, RecoveryReport) {
    let (wal, report) = Wal::open(DIR, &plan.options(Arc::new(sim.clone())))
        .unwrap_or_else(|e| panic!("reopen: {e} ({e:?})"));
    let records: Vec<OwnedRecord> = wal
        .read_from(report.first_lsn.max(Lsn::FIRST))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    model.check(report.last_lsn.get(), &records).unwrap();
    model.rebase(report.last_lsn.get());
    (wal, report)
}

/// Appends one record whose group's sync fails with `fault` (injected
/// into the disk); checks that the fault fired and poisoned the log, and
/// drops the log: the failed record's LSN.
fn append_with_a_failed_sync(
    wal: Wal,
    sim: &SimStorage,
    model: &mut Model,
    fault: Fault,
    tag: &str,
) -> u64 {
    let faults = sim.stats().faults;
    sim.inject(fault);
    let failed = append(&wal, model, tag, 0..1).expect("the failed sync went unnoticed");
    assert_eq!(
        sim.stats().faults,
        faults + 1,
        "the sync fault did not fire"
    );
    assert!(wal.poisoned().is_some());
    failed
}

/// The process dies and the log is reopened on the same machine (the
/// page cache survives; the power has not failed): recovery must end at
/// `last`, what the page cache shows.
fn reopen_on_the_same_machine(plan: &Plan, sim: &SimStorage, model: &mut Model, last: u64) -> Wal {
    sim.crash_process();
    assert_eq!(sim.stats().crashes, 0, "the power failed before the reopen");
    let (wal, report) = reopen(plan, sim, model);
    assert_eq!(
        report.last_lsn.get(),
        last,
        "the reopen did not end where the page cache does"
    );
    wal
}

/// The names in the log directory with this extension.
fn names(sim: &SimStorage, extension: &str) -> Vec<String> {
    sim.list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.ends_with(&format!(".{extension}")))
        .collect()
}

/// The power fails, after the reopen: on copies of the disk as it is now
/// (the reopened log may still be open on it), in several post-crash
/// states, each of which must hold to the model.
fn power_losses_keep_the_model(plan: &Plan, sim: &SimStorage, model: &Model, what: &str) {
    for seed in 0..POWER_LOSSES {
        let disk = sim.fork();
        let lost = [LostSectors::Old, LostSectors::Zeroed, LostSectors::Garbage][seed as usize % 3];
        disk.crash_with(seed, lost);
        assert_eq!(disk.stats().crashes, sim.stats().crashes + 1);
        if let Err(e) = verify(plan, &disk, model, b"probe after the power loss") {
            panic!("{what}: power loss {seed} ({lost:?}): {e}");
        }
    }
}

/// Bug 1. A directory sync fails during a rotation (the new segment's name
/// is not durable), the log is reopened on the same machine and appended
/// to, into that segment, then the power fails: the appends must survive.
/// Found as `fault:0x5002:300:dir-sync-eio:13` and `:27`. Fixed: opening
/// a log syncs its directory before building on it (first in wal-reader's
/// recovery; now in wal-io's `SegmentLog::open`, which every opener goes
/// through: bug 5).
#[test]
fn reopen_after_a_failed_directory_sync_then_power_loss_keeps_the_appends() {
    let plan = Plan::from_seed(0x5002, 0);
    let sim = SimStorage::new(plan.seed);
    let disk = FailingDirSync::new(&sim);
    let (wal, _) = Wal::open(DIR, &plan.options(disk.storage())).unwrap();
    let mut model = Model::default();
    assert_eq!(append(&wal, &mut model, "before", 0..5), None);
    let segments = names(&sim, "wal");
    disk.arm("wal");
    let failed = append(&wal, &mut model, "rotating", 0..100)
        .expect("no append failed: the armed directory sync never came");
    let (from, to) = disk.fired().expect("the append failed without the fault");
    // The fault hit the rotation's rename of a spare to the new segment,
    // named for the record that failed.
    assert_eq!(from.extension().and_then(|e| e.to_str()), Some("spare"));
    let segment = to.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(
        segment,
        groupwal::format::segment_file_name(Lsn::new(failed))
    );
    assert!(!segments.contains(&segment));
    assert!(wal.poisoned().is_some());
    // The name is not durable: a power loss now can take it.
    assert!(
        (0..POWER_LOSSES).any(|seed| {
            let d = sim.fork();
            d.crash_with(seed, LostSectors::Old);
            !names(&d, "wal").contains(&segment)
        }),
        "the new segment's name was durable despite the failed directory sync"
    );
    drop(wal);

    // Reopened on the same machine (the page cache and the unsynced name
    // survive) and appended to: into the segment whose name was at risk.
    let wal = reopen_on_the_same_machine(&plan, &sim, &mut model, failed - 1);
    assert_eq!(append(&wal, &mut model, "after", 0..5), None);
    let after = names(&sim, "wal");
    assert_eq!(after.last(), Some(&segment), "{after:?}");
    assert_eq!(wal.durable_lsn().get(), failed + 4);

    // Then the power fails (the log still open).
    power_losses_keep_the_model(&plan, &sim, &model, "bug 1");
    wal.close().unwrap();

    let plan = Plan::from_seed(0x5002, 300).with_concurrent(true);
    for k in 0..=32 {
        replay(Case::Fault {
            plan,
            workload: Workload::Records,
            kind: FaultKind::DirSyncEio,
            k,
        });
    }
}

/// Bug 2. A sync fails (the data stays dirty in the page cache), the log
/// is reopened on the same machine and, encrypted, appends to a new
/// segment, whose syncs never cover the old one; then the power fails: the
/// old segment's tail was torn under a later segment, and recovery refused
/// the log. Found as `fault:0x5007:100:sync-eio:3`. Fixed: the last
/// segment is made durable before the log is built on (first in
/// wal-reader's recovery; now in wal-io's `SegmentLog::resume`).
#[test]
fn reopen_after_a_failed_sync_then_appends_to_a_new_segment_then_power_loss() {
    let plan = Plan::from_seed(0x5007, 0);
    assert!(plan.encryption);
    let sim = SimStorage::new(plan.seed);
    let (wal, _) = Wal::open(DIR, &plan.options(Arc::new(sim.clone()))).unwrap();
    let mut model = Model::default();
    assert_eq!(append(&wal, &mut model, "before", 0..5), None);
    let failed = append_with_a_failed_sync(wal, &sim, &mut model, Fault::SyncEio, "unsynced");
    // The failed group is in the page cache only: a power loss now can
    // take it.
    let old = names(&sim, "wal");
    let last = Path::new(DIR).join(old.last().unwrap());
    let live = sim.contents(&last).unwrap();
    assert!(
        (0..POWER_LOSSES).any(|seed| {
            let d = sim.fork();
            d.crash_with(seed, LostSectors::Zeroed);
            d.contents(&last).unwrap() != live
        }),
        "the failed group was durable"
    );

    // Reopened on the same machine: recovery builds on the failed group
    // (the page cache shows it), and the appends go to a new segment.
    let wal = reopen_on_the_same_machine(&plan, &sim, &mut model, failed);
    assert_eq!(append(&wal, &mut model, "after", 0..3), None);
    let now = names(&sim, "wal");
    assert_eq!(now.len(), old.len() + 1, "{now:?}");
    assert_eq!(
        now.last().unwrap(),
        &groupwal::format::segment_file_name(Lsn::new(failed + 1))
    );

    // Then the power fails (the log still open).
    power_losses_keep_the_model(&plan, &sim, &model, "bug 2");
    wal.close().unwrap();

    let plan = Plan::from_seed(0x5007, 100).with_concurrent(true);
    for k in 0..=12 {
        replay(Case::Fault {
            plan,
            workload: Workload::Records,
            kind: FaultKind::SyncEio,
            k,
        });
    }
}

/// Bug 3. A crash between renaming a purged segment to a spare (recycling)
/// and the directory sync leaves both names on one file; reusing that spare
/// for a later segment overwrote the segment it still is (its header then
/// named the wrong first LSN, and the log could not be read). Found as
/// `crash:0x4003:150:105:1` and `crash:0x4003:150:376:2`. Fixed: wal-io's
/// `SegmentLog::open` drops a spare name whose file carries a segment's
/// header (and syncs the directory).
#[test]
fn a_spare_that_is_still_a_segment_after_a_crash_is_not_reused() {
    let plan = Plan::from_seed(0x4003, 0);
    assert!(plan.recycling);
    let sim = SimStorage::new(plan.seed);
    let disk = FailingDirSync::new(&sim);
    let (wal, _) = Wal::open(DIR, &plan.options(disk.storage())).unwrap();
    let mut model = Model::default();
    assert_eq!(append(&wal, &mut model, "before", 0..40), None);
    assert!(names(&sim, "wal").len() >= 3);
    let checkpoint = b"checkpoint".to_vec();
    let (cp, _) = model.push(std::slice::from_ref(&checkpoint), true);
    assert_eq!(wal.checkpoint(&checkpoint).unwrap().get(), cp);
    model.ack(cp);
    model.checkpointed(cp);
    // The purge renames the oldest segment to a spare; the directory sync
    // after it fails, and the process is gone before another.
    disk.arm("spare");
    model.purging(cp);
    assert!(
        wal.purge_below(Lsn::new(cp)).is_err(),
        "the purge did not fail"
    );
    let (segment, spare) = disk.fired().expect("the purge failed without the fault");
    assert_eq!(segment.extension().and_then(|e| e.to_str()), Some("wal"));
    drop(wal);

    // The power fails. Find a post-crash state with both names on the file.
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    let (segment_name, spare_name) = (name(&segment), name(&spare));
    let disk = (0..64)
        .map(|seed| {
            let d = sim.fork();
            d.crash_with(seed, LostSectors::Old);
            d
        })
        .find(|d| {
            names(d, "wal").contains(&segment_name) && names(d, "spare").contains(&spare_name)
        })
        .expect("no power loss left both names");
    assert_eq!(
        disk.contents(&segment).unwrap(),
        disk.contents(&spare).unwrap(),
        "the two names are not one file"
    );
    let spares = names(&disk, "spare").len();

    // Reopened (and held to the model), then appended to until every spare
    // there was has been taken by a rotation: none may overwrite a segment.
    let found = verify(&plan, &disk, &model, b"probe after the crash").unwrap();
    model.rebase(found.last);
    let (probe, _) = model.push(&[b"probe after the crash".to_vec()], false);
    assert_eq!(probe, found.probe);
    model.ack(probe);
    let (wal, _) = reopen(&plan, &disk, &mut model);
    let before = names(&disk, "wal");
    assert_eq!(
        append(&wal, &mut model, "after", 0..20 * (spares as u64 + 2)),
        None
    );
    let created = names(&disk, "wal")
        .into_iter()
        .filter(|n| !before.contains(n))
        .count();
    assert!(created > spares, "{created} rotations, {spares} spares");
    wal.close().unwrap();
    verify(&plan, &disk, &model, b"probe after the rotations")
        .unwrap_or_else(|e| panic!("after the rotations: {e}"));

    let plan = Plan::from_seed(0x4003, 150);
    for point in (100..=110).chain(370..=380) {
        for variant in 1..=3 {
            replay(Case::Crash {
                plan,
                workload: Workload::Records,
                point,
                variant,
                recovery: None,
            });
        }
    }
}

/// Bug 4. An fsync fails once and forgets its pages (Linux); the log is
/// reopened on the same machine, whose page cache still shows the records
/// that never reached the disk, and appended to; then the power fails: the
/// records under the new appends were gone, and recovery found a gap (or
/// cut acknowledged appends). Found as
/// `fault:0x500a:300:sync-eio-forgets:5`. Fixed: resuming rewrites the last
/// segment's records and syncs them before the log is built on (first in
/// wal-reader's recovery; now in wal-io's `SegmentLog::resume`).
#[test]
fn reopen_after_an_fsync_that_forgot_its_pages_then_power_loss_keeps_the_appends() {
    let plan = Plan::from_seed(0x500a, 0);
    let sim = SimStorage::new(plan.seed);
    let (wal, _) = Wal::open(DIR, &plan.options(Arc::new(sim.clone()))).unwrap();
    let mut model = Model::default();
    assert_eq!(append(&wal, &mut model, "before", 0..5), None);
    let failed =
        append_with_a_failed_sync(wal, &sim, &mut model, Fault::SyncEioForgets, "forgotten");
    // The failed group's pages read back, but are on no disk: every power
    // loss takes them (they are not even dirty any more).
    let segments = names(&sim, "wal");
    let last = Path::new(DIR).join(segments.last().unwrap());
    let live = sim.contents(&last).unwrap();
    for seed in 0..POWER_LOSSES {
        let d = sim.fork();
        d.crash_with(seed, LostSectors::Old);
        assert_ne!(
            d.contents(&last).unwrap(),
            live,
            "the forgotten pages were durable"
        );
    }

    // Reopened on the same machine: recovery builds on the forgotten group
    // (the page cache shows it), and appends after it, in the same segment.
    let wal = reopen_on_the_same_machine(&plan, &sim, &mut model, failed);
    assert_eq!(append(&wal, &mut model, "after", 0..3), None);
    assert_eq!(names(&sim, "wal"), segments);

    // Then the power fails (the log still open).
    power_losses_keep_the_model(&plan, &sim, &model, "bug 4");
    wal.close().unwrap();

    let plan = Plan::from_seed(0x500a, 300).with_concurrent(true);
    for k in 0..=10 {
        replay(Case::Fault {
            plan,
            workload: Workload::Records,
            kind: FaultKind::SyncEioForgets,
            k,
        });
    }
}
