//! The process dies at a random storage call while many threads append,
//! then the power goes: after
//! recovery every acknowledged record is there, bit-exact, and what came
//! back is a gap-free prefix of what was submitted.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use wal_format::Lsn;
use wal_io::sim::SimStorage;

use crate::support::{
    DIR, check_oracle, open, open_dying_after, payload, read_all, write_until_the_crash,
};

fn run(seed: u64) {
    let storage = SimStorage::new(seed);
    // The process dies at this storage call; the writers run until their
    // appends fail.
    let log = open_dying_after(&storage, 4 + seed % 400);
    let submitted = Mutex::new(BTreeMap::new());
    let acked = Mutex::new(Vec::new());
    write_until_the_crash(seed, &storage, log, 6, |log, w| {
        for s in 0.. {
            let p = payload(w, s);
            let Ok(pending) = log.submit(&p) else { break };
            submitted.lock().unwrap().insert(pending.lsn(), p);
            match pending.wait() {
                Ok(lsn) => acked.lock().unwrap().push(lsn),
                Err(_) => break,
            }
        }
    });

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
