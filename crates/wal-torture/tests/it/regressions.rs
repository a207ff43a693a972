//! The bugs the campaign found, each replayed as the case that found it.

use wal_torture::Case;

fn replay(case: &str) {
    let case: Case = case.parse().unwrap();
    if let Err(v) = wal_torture::replay(&case) {
        panic!("{v}");
    }
}

/// A directory sync fails during a rotation (the new segment's name is not
/// durable), the log is reopened on the same machine and appended to, then
/// the power fails: the appends must survive. Fixed in wal-reader: recovery
/// syncs the directory before the log is built on.
#[test]
fn reopen_after_a_failed_directory_sync_then_power_loss_keeps_the_appends() {
    replay("fault:0x5002:300:dir-sync-eio:13");
    replay("fault:0x5002:300:dir-sync-eio:27");
}

/// A crash between renaming a purged segment to a spare (recycling) and
/// the directory sync leaves both names on one file; reusing that spare for
/// the next segment overwrote the segment it still was (its header then
/// names the wrong first LSN, and the log cannot be read). Not fixed yet:
/// the fix belongs in wal-io's `SegmentLog::open` (log.rs).
#[test]
fn a_spare_that_is_still_a_segment_after_a_crash_is_not_reused() {
    replay("crash:0x4003:150:104:1");
    replay("crash:0x4003:150:375:7");
}

/// An fsync fails once and forgets its pages (Linux); the log is reopened
/// on the same machine, whose page cache still shows the records that never
/// reached the disk, and appended to; then the power fails: the records
/// under the new appends are gone, and recovery finds a gap. Not fixed yet.
#[test]
fn reopen_after_an_fsync_that_forgot_its_pages_then_power_loss_keeps_the_appends() {
    replay("fault:0x5003:300:sync-eio-forgets:5");
    replay("fault:0x500a:300:sync-eio-forgets:5");
}
