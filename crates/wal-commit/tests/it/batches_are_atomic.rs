//! Batches survive a crash whole or not at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wal_io::sim::SimStorage;

use crate::support::{DIR, open, open_dying_after, read_all, write_until_the_crash};

/// Batch member payload: "b{batch}:{index}/{count}" padded to a varying size.
fn member(batch: u64, index: usize, count: usize) -> Vec<u8> {
    let mut p = format!("b{batch}:{index}/{count};").into_bytes();
    p.resize(100 + (batch as usize * 997 + index * 31) % 4000, b'.');
    p
}

fn parse(p: &[u8]) -> (u64, usize, usize) {
    let s = std::str::from_utf8(p).unwrap();
    let head = s.split(';').next().unwrap();
    let (b, rest) = head[1..].split_once(':').unwrap();
    let (i, n) = rest.split_once('/').unwrap();
    (b.parse().unwrap(), i.parse().unwrap(), n.parse().unwrap())
}

fn run(seed: u64) {
    let storage = SimStorage::new(seed);
    let log = open_dying_after(&storage, 4 + seed % 200);
    let next_batch = AtomicU64::new(0);
    let acked = Mutex::new(Vec::new());
    write_until_the_crash(seed, &storage, log, 4, |log, w| {
        loop {
            let b = next_batch.fetch_add(1, Ordering::SeqCst);
            let count = 2 + ((b * 7 + w) % 9) as usize;
            let members: Vec<Vec<u8>> = (0..count).map(|i| member(b, i, count)).collect();
            match log.append_batch(&members) {
                Ok(range) => acked.lock().unwrap().push((b, range)),
                Err(_) => break,
            }
        }
    });
    open(&storage).close().unwrap();
    let recovered = read_all(Arc::new(storage), Path::new(DIR));
    let mut seen: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, (lsn, _, p)) in recovered.iter().enumerate() {
        assert_eq!(lsn.get(), i as u64 + 1, "seed {seed}: gap");
        let (b, idx, n) = parse(p);
        assert_eq!(
            p,
            &member(b, idx, n),
            "seed {seed}: batch {b} member {idx} damaged"
        );
        seen.entry(b).or_default().push(idx);
    }
    for (b, idxs) in &seen {
        // Every member names the batch's size.
        let count = recovered
            .iter()
            .find(|r| parse(&r.2).0 == *b)
            .map(|r| parse(&r.2).2)
            .unwrap();
        assert_eq!(
            idxs,
            &(0..count).collect::<Vec<_>>(),
            "seed {seed}: batch {b} is partial"
        );
    }
    for (b, (first, last)) in acked.lock().unwrap().iter() {
        assert!(
            seen.contains_key(b),
            "seed {seed}: acknowledged batch {b} ({first}..={last}) lost"
        );
    }
}

#[test]
fn crash_never_leaves_half_a_batch() {
    let base: u64 = std::env::var("GROUPWAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xba7c);
    for i in 0..30 {
        let seed = base + i;
        eprintln!("batches_are_atomic: seed {seed}");
        run(seed);
    }
}
