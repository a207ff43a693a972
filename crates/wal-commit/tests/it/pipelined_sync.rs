//! With the sync on a thread of its own (`CommitOptions::pipelined_sync`,
//! the default), the next group is written while the last one's sync runs,
//! and it is acknowledged only by a sync that began after its write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_io::sim::SimStorage;

use crate::support::{DIR, open, read_all};

/// How long the test waits for the committer to write a group before it
/// reports that it never did (a guard against a hang, not a timing
/// assumption: the write comes within microseconds).
const GUARD: Duration = Duration::from_secs(20);

#[test]
fn the_next_group_is_written_while_a_sync_runs_and_waits_for_its_own() {
    let disk = SimStorage::new(0x5eed);
    let log = Arc::new(open(&disk));
    log.append(b"before").unwrap();

    let hold = disk.hold_syncs();
    let first = log.submit(b"first").unwrap();
    hold.wait_parked();
    let groups = log.stats().groups;
    let syncs = disk.stats().syncs;
    let second = log.submit(b"second").unwrap();
    let second_lsn = second.lsn();

    // The second record's group is written while the first's sync is
    // still parked...
    let deadline = Instant::now() + GUARD;
    while log.stats().groups == groups {
        assert!(
            Instant::now() < deadline,
            "the second group was not written while the first one's sync ran"
        );
        std::thread::yield_now();
    }
    assert!(hold.is_parked());
    // ... and not acknowledged by it.
    assert!(log.durability().durable_lsn() < first.lsn());
    assert_eq!(log.stats().syncs, 1, "only the record before was synced");
    drop(hold);
    let first_lsn = first.lsn();
    assert_eq!(first.wait().unwrap(), first_lsn);
    assert_eq!(second.wait().unwrap(), second_lsn);
    // Two syncs: the parked one, then one that began after the second
    // group was written. One sync for both would have acknowledged a
    // record its sync did not cover.
    assert!(
        disk.stats().syncs >= syncs + 2,
        "{} syncs for two groups",
        disk.stats().syncs - syncs
    );
    Arc::try_unwrap(log).unwrap().close().unwrap();
    let records = read_all(Arc::new(disk.clone()), DIR.as_ref());
    let payloads: Vec<&[u8]> = records.iter().map(|(_, _, p)| p.as_slice()).collect();
    assert_eq!(payloads, [&b"before"[..], b"first", b"second"]);
}

/// A blocking appender that finds the log idle writes its record and
/// syncs it on its own thread: handing a lone group to the sync thread
/// would only add two thread wake-ups to every append of a lone writer.
/// With other requests waiting, the sync goes to the sync thread (above).
#[test]
fn a_lone_blocking_appender_syncs_its_own_group() {
    let disk = SimStorage::new(0x10e);
    let log = Arc::new(open(&disk));
    log.append(b"before").unwrap();

    let hold = disk.hold_syncs();
    let appender = {
        let log = Arc::clone(&log);
        std::thread::Builder::new()
            .name("lone-appender".into())
            .spawn(move || log.append(b"lone"))
            .unwrap()
    };
    hold.wait_parked();
    assert_eq!(hold.parked_thread().as_deref(), Some("lone-appender"));
    drop(hold);
    let lsn = appender.join().unwrap().unwrap();
    assert_eq!(log.durability().durable_lsn(), lsn);
    Arc::try_unwrap(log).unwrap().close().unwrap();
    let records = read_all(Arc::new(disk.clone()), DIR.as_ref());
    let payloads: Vec<&[u8]> = records.iter().map(|(_, _, p)| p.as_slice()).collect();
    assert_eq!(payloads, [&b"before"[..], b"lone"]);
}
