//! Power losses at random points of a committer's life: recovery keeps
//! every acknowledged record, invents nothing, gives the same answer twice,
//! and the log takes appends after it.

use std::collections::BTreeMap;
use std::sync::Arc;

use wal_commit::Committer;
use wal_format::Lsn;
use wal_io::Storage;
use wal_io::sim::{HaltingStorage, SimStorage};
use wal_reader::{TailKind, recover};

use crate::support::*;

#[test]
fn crash_at_random_points() {
    let base = seed("crash_at_random_points", 0x5eed_c4a5);
    for i in 0..64u64 {
        let seed = base.wrapping_add(i);
        let mut rng = Rng::new(seed);
        let sim = SimStorage::new(seed);
        let halting = HaltingStorage::new(Arc::new(sim.clone()));
        let log = committer(Arc::new(halting.clone()), &dir());
        halting.halt_at(halting.calls_made() + 1 + rng.below(150));
        let mut submitted: BTreeMap<Lsn, Vec<u8>> = BTreeMap::new();
        let mut acked = Lsn::ZERO;
        let mut next = 1u64;
        for _ in 0..200 {
            let result = if rng.below(4) == 0 {
                let n = 2 + rng.below(3);
                let ps: Vec<Vec<u8>> = (0..n)
                    .map(|k| payload(next + k, rng.below(5000) as usize))
                    .collect();
                for (k, p) in ps.iter().enumerate() {
                    submitted.insert(Lsn::new(next + k as u64), p.clone());
                }
                next += n;
                log.append_batch(&ps).map(|(_, last)| last)
            } else {
                let p = payload(next, rng.below(5000) as usize);
                submitted.insert(Lsn::new(next), p.clone());
                next += 1;
                log.append(&p)
            };
            match result {
                Ok(lsn) => acked = lsn,
                Err(_) => break,
            }
        }
        drop(log);
        sim.crash();

        let storage: Arc<dyn Storage> = Arc::new(sim.clone());
        // No window: the commit markers tell a torn write from damage.
        let ro = read_options();
        let (log, first) = recover(storage.clone(), DIR, &log_options(), &ro)
            .unwrap_or_else(|e| panic!("seed {seed}: recovery failed: {e} ({e:?})"));
        drop(log);
        let got = read_all(storage.clone(), &dir(), &read_options())
            .unwrap_or_else(|e| panic!("seed {seed}: read after recovery: {e:?}"));
        for (k, r) in got.iter().enumerate() {
            assert_eq!(r.lsn.get(), k as u64 + 1, "seed {seed}: gap");
            assert_eq!(
                Some(&r.payload),
                submitted.get(&r.lsn),
                "seed {seed}: lsn {}",
                r.lsn
            );
        }
        let last = got.last().map_or(Lsn::ZERO, |r| r.lsn);
        assert!(
            last >= acked,
            "seed {seed}: acknowledged {acked} lost, recovered to {last}"
        );
        assert_eq!(first.last_lsn, last, "seed {seed}");

        // Again: the same end, nothing more to cut.
        let (log, second) = recover(storage.clone(), DIR, &log_options(), &ro).unwrap();
        assert_eq!(second.next_lsn, first.next_lsn, "seed {seed}");
        assert_eq!(second.durable_end, first.durable_end, "seed {seed}");
        assert_eq!(second.truncated_bytes, 0, "seed {seed}");
        assert_ne!(second.tail, TailKind::Torn, "seed {seed}");

        // And the log takes appends.
        let c = Committer::from_log(log, &commit_options()).unwrap();
        assert_eq!(
            c.append(b"after the crash").unwrap(),
            first.next_lsn,
            "seed {seed}"
        );
        c.close().unwrap();
        let got = read_all(storage, &dir(), &read_options()).unwrap();
        assert_eq!(
            got.last().unwrap().payload,
            b"after the crash",
            "seed {seed}"
        );
    }
}
