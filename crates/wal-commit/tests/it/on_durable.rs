//! `Pending::on_durable`: the callback runs only after the sync that
//! covers its record returned, in LSN order, exactly once; with the error
//! when a write or sync fails; and every callback still queued is run by
//! the time the log is closed or dropped.

use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wal_commit::{Error, Result};
use wal_format::Lsn;
use wal_io::sim::{Fault, SimStorage};

use crate::support::{commit_options, open, open_with, payload};

/// How long a test waits for a callback before it reports that it never
/// came (a guard against a hang, not a timing assumption: it comes within
/// microseconds of the sync).
const GUARD: Duration = Duration::from_secs(20);

type Outcomes = Arc<Mutex<Vec<(Lsn, Result<Lsn>)>>>;

/// A callback that records its outcome with the LSN it was registered for.
fn record_into(outcomes: &Outcomes, lsn: Lsn) -> impl FnOnce(Result<Lsn>) + Send + 'static {
    let outcomes = outcomes.clone();
    move |r| outcomes.lock().unwrap().push((lsn, r))
}

fn runs_after_the_sync(pipelined: bool) {
    let disk = SimStorage::new(0xd0_4ab1e);
    let mut o = commit_options();
    o.pipelined_sync(pipelined);
    let log = open_with(Arc::new(disk.clone()), &o);
    log.append(b"before").unwrap();

    let hold = disk.hold_syncs();
    let pending = log.submit(b"covered by the parked sync").unwrap();
    let lsn = pending.lsn();
    let (tx, rx) = mpsc::channel();
    let seen = log.durability();
    pending.on_durable(move |r| {
        // Runs after the publish: the watermark covers the record.
        let _ = tx.send((r, seen.durable_lsn()));
    });
    hold.wait_parked();
    // Written, its sync under way and not returned: no callback yet.
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert!(log.durable_lsn() < lsn);
    drop(hold);
    let (r, durable_then) = rx.recv_timeout(GUARD).expect("the callback never ran");
    assert_eq!(r.unwrap(), lsn);
    assert!(durable_then >= lsn);
    // Exactly once.
    assert!(rx.recv_timeout(Duration::ZERO).is_err());
    log.close().unwrap();
}

#[test]
fn a_callback_runs_only_after_the_sync_covering_its_record_returned() {
    runs_after_the_sync(true);
}

#[test]
fn a_callback_runs_after_an_inline_sync_too() {
    runs_after_the_sync(false);
}

#[test]
fn callbacks_run_in_lsn_order_each_exactly_once() {
    let disk = SimStorage::new(7);
    let log = Arc::new(open(&disk));
    let outcomes: Outcomes = Arc::default();
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (log, outcomes) = (log.clone(), outcomes.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for s in 0..150 {
                    let p = log.submit(&payload(w, s)).unwrap();
                    let lsn = p.lsn();
                    mine.push(lsn);
                    p.on_durable(record_into(&outcomes, lsn));
                    if s % 50 == 49 {
                        // Now and then a wait, so that some callbacks are
                        // registered for records already durable.
                        log.sync().unwrap();
                    }
                }
                mine
            })
        })
        .collect();
    let mut submitted: Vec<Lsn> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    Arc::try_unwrap(log).unwrap().close().unwrap();
    // Every callback ran by the time close returned, with its LSN.
    let outcomes = outcomes.lock().unwrap();
    for (lsn, r) in outcomes.iter() {
        assert_eq!(r.as_ref().unwrap(), lsn);
    }
    let mut called: Vec<Lsn> = outcomes.iter().map(|o| o.0).collect();
    // In LSN order: each writer registers before the next submit, so its
    // callbacks run in the order of its LSNs, and overall they run in
    // LSN order except where a callback was registered only after its
    // record was durable (it runs at once). Single-writer order:
    let mut by_writer = std::collections::HashMap::<u64, Vec<Lsn>>::new();
    for lsn in &called {
        let w = submitted.iter().position(|l| l == lsn).unwrap() / 150;
        by_writer.entry(w as u64).or_default().push(*lsn);
    }
    for (w, lsns) in by_writer {
        assert!(
            lsns.windows(2).all(|p| p[0] < p[1]),
            "writer {w}'s callbacks ran out of order: {lsns:?}"
        );
    }
    submitted.sort();
    called.sort();
    assert_eq!(called, submitted, "each callback exactly once");
}

#[test]
fn one_writers_callbacks_run_in_lsn_order() {
    let disk = SimStorage::new(8);
    let log = open(&disk);
    let outcomes: Outcomes = Arc::default();
    let mut lsns = Vec::new();
    for s in 0..500 {
        let p = log.submit(&payload(1, s)).unwrap();
        let lsn = p.lsn();
        lsns.push(lsn);
        p.on_durable(record_into(&outcomes, lsn));
    }
    log.close().unwrap();
    let called: Vec<Lsn> = outcomes.lock().unwrap().iter().map(|o| o.0).collect();
    assert_eq!(called, lsns);
}

fn a_failure_reaches_the_callbacks(fault: Fault) {
    let disk = SimStorage::new(0xfa11);
    let log = open(&disk);
    for s in 0..5 {
        log.append(&payload(0, s)).unwrap();
    }
    let outcomes: Outcomes = Arc::default();
    let (tx, rx) = mpsc::channel();
    let register = |p: wal_commit::Pending| {
        let lsn = p.lsn();
        let (outcomes, tx) = (outcomes.clone(), tx.clone());
        p.on_durable(move |r| {
            outcomes.lock().unwrap().push((lsn, r));
            let _ = tx.send(());
        });
    };
    // Every callback is registered while the first record's sync is
    // parked, before anything fails: the failure itself must run them
    // (the I/O thread may be idle; nobody waits, nobody closes).
    let hold = disk.hold_syncs();
    register(log.submit(&payload(1, 0)).unwrap());
    hold.wait_parked();
    disk.inject(fault);
    let mut registered = 1;
    for s in 1..20 {
        // Once the log is poisoned (a failed write), submitting fails.
        let Ok(p) = log.submit(&payload(1, s)) else {
            break;
        };
        register(p);
        registered += 1;
    }
    drop(hold);
    for _ in 0..registered {
        rx.recv_timeout(GUARD).expect("a callback never ran");
    }
    let outcomes = outcomes.lock().unwrap();
    assert_eq!(outcomes.len(), registered);
    // Each is told: durable (only before the failure), or the error naming
    // the cause (from the failure on).
    let mut failed = false;
    for (lsn, r) in outcomes.iter() {
        match r {
            Ok(l) => {
                assert!(!failed, "{fault:?}: lsn {lsn} acknowledged after a failure");
                assert_eq!(l, lsn);
            }
            Err(e @ Error::Poisoned(_)) => {
                assert!(matches!(e.root(), Error::Io(_)), "{fault:?}: {e:?}");
                failed = true;
            }
            Err(e) => panic!("{fault:?}: lsn {lsn} got {e:?}"),
        }
    }
    assert!(failed, "{fault:?}: no callback was told of the failure");
    assert!(log.close().is_err());
}

#[test]
fn a_failed_sync_reaches_every_callback_as_an_error() {
    a_failure_reaches_the_callbacks(Fault::SyncEio);
}

#[test]
fn a_failed_write_reaches_every_callback_as_an_error() {
    a_failure_reaches_the_callbacks(Fault::WriteEio);
}

#[test]
fn a_callback_for_a_durable_record_runs_at_once_on_the_callers_thread() {
    let disk = SimStorage::new(9);
    let log = open(&disk);
    let p = log.submit(b"made durable by the sync").unwrap();
    let lsn = p.lsn();
    log.sync().unwrap();
    let ran_on = Arc::new(Mutex::new(None));
    let r = ran_on.clone();
    p.on_durable(move |res| {
        *r.lock().unwrap() = Some((std::thread::current().id(), res));
    });
    let (thread, res) = ran_on.lock().unwrap().take().expect("not run at once");
    assert_eq!(thread, std::thread::current().id());
    assert_eq!(res.unwrap(), lsn);
    log.close().unwrap();
}

#[test]
fn callbacks_queued_at_close_or_drop_are_all_run() {
    for close in [true, false] {
        let disk = SimStorage::new(10);
        let log = open(&disk);
        let outcomes: Outcomes = Arc::default();
        for s in 0..100 {
            let p = log.submit(&payload(2, s)).unwrap();
            let lsn = p.lsn();
            p.on_durable(record_into(&outcomes, lsn));
        }
        if close {
            log.close().unwrap();
        } else {
            drop(log);
        }
        // Closing drains and syncs what was queued: each was durable.
        let outcomes = outcomes.lock().unwrap();
        assert_eq!(outcomes.len(), 100, "close: {close}");
        assert!(outcomes.iter().all(|(lsn, r)| r.as_ref().ok() == Some(lsn)));
    }
}

#[test]
fn a_callback_of_a_record_a_truncation_cut_was_told_it_was_durable() {
    let disk = SimStorage::new(11);
    let log = open(&disk);
    log.append(b"kept").unwrap();
    let p = log.submit(b"cut").unwrap();
    let lsn = p.lsn();
    let outcomes: Outcomes = Arc::default();
    p.on_durable(record_into(&outcomes, lsn));
    assert_eq!(log.truncate_from(lsn).unwrap(), lsn);
    // The truncation made it durable before it cut it.
    assert_eq!(outcomes.lock().unwrap().len(), 1);
    // A record at the same LSN in the new generation gets a callback of
    // its own, which waits for its own sync.
    let hold = disk.hold_syncs();
    let again = log.submit(b"again").unwrap();
    assert_eq!(again.lsn(), lsn);
    again.on_durable(record_into(&outcomes, lsn));
    hold.wait_parked();
    assert_eq!(outcomes.lock().unwrap().len(), 1);
    drop(hold);
    log.close().unwrap();
    let outcomes = outcomes.lock().unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|(l, r)| r.as_ref().ok() == Some(l)));
}
