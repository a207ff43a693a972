//! The process dies at a random storage call while many threads append,
//! then the power goes: after
//! recovery every acknowledged record is there, bit-exact, and what came
//! back is a gap-free prefix of what was submitted.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use wal_format::Lsn;
use wal_io::sim::SimStorage;

use crate::support::{DIR, check_oracle, open, open_dying_after, payload, read_all};

fn run(seed: u64) {
    let storage = SimStorage::new(seed);
    // The process dies at this storage call; the writers run until their
    // appends fail.
    let log = Arc::new(open_dying_after(&storage, 4 + seed % 400));
    let submitted = Arc::new(Mutex::new(BTreeMap::new()));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..6u64)
        .map(|w| {
            let (log, submitted, acked) = (log.clone(), submitted.clone(), acked.clone());
            std::thread::spawn(move || {
                for s in 0.. {
                    let p = payload(w, s);
                    let Ok(pending) = log.submit(&p) else { break };
                    submitted.lock().unwrap().insert(pending.lsn(), p);
                    match pending.wait() {
                        Ok(lsn) => acked.lock().unwrap().push(lsn),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    // The failed call poisoned the log: it did not carry on.
    assert!(
        log.poisoned().is_some(),
        "seed {seed}: log not poisoned by the failed call"
    );
    drop(log);
    storage.crash();

    let reopened = open(&storage);
    let recovered_last = crate::support::last_lsn(&reopened);
    reopened.close().unwrap();
    let recovered = read_all(Arc::new(storage.clone()), Path::new(DIR));
    assert_eq!(
        recovered.last().map_or(Lsn::ZERO, |r| r.0),
        recovered_last,
        "seed {seed}"
    );
    check_oracle(
        seed,
        &recovered,
        &submitted.lock().unwrap(),
        acked.lock().unwrap().iter().copied(),
    );

    // Recovering twice gives the same result, and appending works after.
    let again = open(&storage);
    assert_eq!(
        crate::support::last_lsn(&again),
        recovered_last,
        "seed {seed}: recovery not idempotent"
    );
    assert_eq!(
        again.append(b"after").unwrap(),
        recovered_last.checked_next().unwrap()
    );
    again.close().unwrap();
}

#[test]
fn crash_at_random_points_loses_nothing_acknowledged() {
    let base: u64 = std::env::var("GROUPWAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    for i in 0..40 {
        let seed = base + i;
        eprintln!("crash_keeps_acknowledged: seed {seed}");
        run(seed);
    }
}
