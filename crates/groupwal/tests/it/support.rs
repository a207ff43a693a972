//! Opening logs on the simulated disk.

use std::sync::Arc;

use groupwal::io::sim::{HaltingStorage, SimStorage};
use groupwal::{Wal, WalOptions};

pub(crate) const DIR: &str = "/logs/wal";

/// Small segments and fragments, so tests rotate and fragment.
pub(crate) fn options(storage: &SimStorage) -> WalOptions {
    let mut o = WalOptions::new();
    o.storage(Arc::new(storage.clone()))
        .segment_size(32 * 1024)
        .fragment_size(2000)
        .max_record_len(100_000);
    o
}

pub(crate) fn open(storage: &SimStorage) -> Wal {
    Wal::open(DIR, &options(storage))
        .unwrap_or_else(|e| panic!("open: {e} ({e:?})"))
        .0
}

/// A payload naming its writer and sequence number, of varying length
/// (some longer than the fragment size).
pub(crate) fn payload(writer: u64, seq: u64) -> Vec<u8> {
    let mut p = format!("w{writer}s{seq}:").into_bytes();
    p.resize(
        ((writer * 31 + seq * 977) % 5000) as usize + 16,
        b'a' + (seq % 26) as u8,
    );
    p
}

/// Every payload of the log from LSN 1, through the facade.
pub(crate) fn read_all(wal: &Wal) -> Vec<(u64, Vec<u8>)> {
    wal.read_from(groupwal::Lsn::FIRST)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.lsn.get(), r.payload)
        })
        .collect()
}

/// Runs `run` on `count` seeds from `GROUPWAL_SEED` (by default
/// `default`) on, printing each first (as `name: seed N`).
pub(crate) fn for_seeds(name: &str, default: u64, count: u64, run: impl Fn(u64)) {
    let base: u64 = std::env::var("GROUPWAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    for seed in base..base + count {
        eprintln!("{name}: seed {seed}");
        run(seed);
    }
}

/// A log on a new simulated disk of `seed`, whose process dies at its
/// mutating storage call `after` (counted from 0 after the open's: that
/// call fails, and every one after it); the disk, to crash and reopen.
pub(crate) fn open_halting(seed: u64, after: u64) -> (SimStorage, Wal) {
    let sim = SimStorage::new(seed);
    let halting = HaltingStorage::new(Arc::new(sim.clone()));
    let mut o = options(&sim);
    o.storage(Arc::new(halting.clone()));
    let (wal, _) = Wal::open(DIR, &o).unwrap();
    halting.halt_at(halting.calls_made() + after);
    (sim, wal)
}
