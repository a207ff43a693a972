//! The process dies at a random storage call while threads append, then
//! the power goes: reopening through the facade gives back every
//! acknowledged record, bit-exact, as a gap-free prefix; twice the same.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use groupwal::{Lsn, Wal};

use crate::support::{DIR, for_seeds, open_halting, options, payload, read_all};

fn run(seed: u64) {
    let (sim, wal) = open_halting(seed, 3 + seed % 300);
    let wal = Arc::new(wal);
    let submitted = Arc::new(Mutex::new(BTreeMap::new()));
    let acked = Arc::new(Mutex::new(Vec::new()));
    // Payloads of calls that failed: their records may still reach the
    // disk and survive (payloads are unique per writer and sequence).
    let attempted = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (wal, submitted, acked, attempted) = (
                wal.clone(),
                submitted.clone(),
                acked.clone(),
                attempted.clone(),
            );
            std::thread::spawn(move || {
                for s in 0.. {
                    let p = payload(w, s);
                    if w == 0 && s % 5 == 4 {
                        let batch = [p.clone(), payload(w + 10, s)];
                        let Ok((a, b)) = wal.append_batch(&batch) else {
                            attempted.lock().unwrap().extend(batch);
                            break;
                        };
                        let mut sub = submitted.lock().unwrap();
                        sub.insert(a.get(), batch[0].clone());
                        sub.insert(b.get(), batch[1].clone());
                        acked.lock().unwrap().push(b.get());
                        continue;
                    }
                    let Ok(pending) = wal.submit(&p) else { break };
                    submitted.lock().unwrap().insert(pending.lsn().get(), p);
                    match pending.wait() {
                        Ok(lsn) => acked.lock().unwrap().push(lsn.get()),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert!(wal.poisoned().is_some(), "seed {seed}");
    drop(wal);
    sim.crash();

    let (wal, report) =
        Wal::open(DIR, &options(&sim)).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
    let records = read_all(&wal);
    assert_eq!(
        records.last().map_or(0, |r| r.0),
        report.last_lsn.get(),
        "seed {seed}"
    );
    let submitted = submitted.lock().unwrap();
    let attempted = attempted.lock().unwrap();
    for (i, (lsn, p)) in records.iter().enumerate() {
        assert_eq!(*lsn, i as u64 + 1, "seed {seed}: gap");
        if submitted.get(lsn).is_none() && attempted.contains(p) {
            continue;
        }
        assert_eq!(
            submitted.get(lsn),
            Some(p),
            "seed {seed}: lsn {lsn} differs"
        );
    }
    for lsn in acked.lock().unwrap().iter() {
        assert!(
            *lsn <= report.last_lsn.get(),
            "seed {seed}: acknowledged {lsn} lost"
        );
    }
    wal.close().unwrap();
    let (wal, again) = Wal::open(DIR, &options(&sim)).unwrap();
    assert_eq!(
        again.last_lsn, report.last_lsn,
        "seed {seed}: recovery not idempotent"
    );
    assert_eq!(
        wal.append(b"after").unwrap(),
        Lsn::new(report.last_lsn.get() + 1)
    );
    wal.close().unwrap();
}

#[test]
fn acknowledged_records_survive_a_crash_at_a_random_call() {
    for_seeds("groupwal crashes", 0xfacade, 25, run);
}
