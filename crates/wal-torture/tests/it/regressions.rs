//! The bugs the campaign found, each replayed as the cases around the one
//! that found it (a range, so that a change in the number of storage calls
//! before it does not move the scenario out of the test).

use wal_torture::{Case, FaultKind, Plan};

fn replay(case: Case) {
    if let Err(v) = wal_torture::replay(&case) {
        panic!("{v}");
    }
}

/// A directory sync fails during a rotation (the new segment's name is not
/// durable), the log is reopened on the same machine and appended to, then
/// the power fails: the appends must survive. Found as
/// `fault:0x5002:300:dir-sync-eio:13` and `:27` (before the fix). Fixed in
/// wal-reader: recovery syncs the directory before the log is built on.
#[test]
fn reopen_after_a_failed_directory_sync_then_power_loss_keeps_the_appends() {
    let plan = Plan::from_seed(0x5002, 300).with_concurrent(true);
    for k in 0..=32 {
        replay(Case::Fault {
            plan,
            kind: FaultKind::DirSyncEio,
            k,
        });
    }
}

/// A sync fails (the data stays dirty in the page cache), the log is
/// reopened on the same machine and, encrypted, appends to a new segment,
/// whose syncs never cover the old one; then the power fails: the old
/// segment's tail is torn under a later segment, and recovery refuses the
/// log. Found as `fault:0x5007:100:sync-eio:3`. Fixed in wal-reader:
/// recovery syncs the last segment before the log is built on.
#[test]
fn reopen_after_a_failed_sync_then_appends_to_a_new_segment_then_power_loss() {
    let plan = Plan::from_seed(0x5007, 100).with_concurrent(true);
    for k in 0..=12 {
        replay(Case::Fault {
            plan,
            kind: FaultKind::SyncEio,
            k,
        });
    }
}

/// A crash between renaming a purged segment to a spare (recycling) and
/// the directory sync leaves both names on one file; reusing that spare for
/// the next segment overwrites the segment it still is (its header then
/// names the wrong first LSN, and the log cannot be read). Found as
/// `crash:0x4003:150:105:1` and `crash:0x4003:150:376:2`. Not fixed yet:
/// the fix belongs in wal-io's `SegmentLog::open` (log.rs): drop a spare
/// whose header is a segment's.
#[test]
fn a_spare_that_is_still_a_segment_after_a_crash_is_not_reused() {
    let plan = Plan::from_seed(0x4003, 150);
    for point in (100..=110).chain(370..=380) {
        for variant in 1..=3 {
            replay(Case::Crash {
                plan,
                point,
                variant,
                recovery: None,
            });
        }
    }
}

/// An fsync fails once and forgets its pages (Linux); the log is reopened
/// on the same machine, whose page cache still shows the records that never
/// reached the disk, and appended to; then the power fails: the records
/// under the new appends are gone, and recovery finds a gap (or cuts
/// acknowledged appends). Found as `fault:0x500a:300:sync-eio-forgets:5`.
/// Not fixed yet.
#[test]
fn reopen_after_an_fsync_that_forgot_its_pages_then_power_loss_keeps_the_appends() {
    let plan = Plan::from_seed(0x500a, 300).with_concurrent(true);
    for k in 0..=10 {
        replay(Case::Fault {
            plan,
            kind: FaultKind::SyncEioForgets,
            k,
        });
    }
}
