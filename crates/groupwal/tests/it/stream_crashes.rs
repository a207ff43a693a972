//! The power fails at a random storage call while one thread works on
//! streams (appends to several streams, some starting at an index of
//! their own; batches across streams; purges; truncations followed by
//! appends that take the truncated indexes again). Reopening through the
//! facade rebuilds every stream exactly as the acknowledged calls left it,
//! or as the call in flight left it (all of it: a batch is atomic across
//! streams), never anything else: no acknowledged entry lost, no
//! truncated entry back, no gap; twice the same; appends go on at each
//! stream's next index.
//!
//! The oracle is this file's own (a map of streams replayed from the
//! calls): `wal-torture`'s model is the campaign's, in a crate that
//! depends on this one.

use std::collections::BTreeMap;

use groupwal::io::sim::SplitMix64;
use groupwal::{Result, Wal};

use crate::support::{DIR, for_seeds, open_halting, options, payload};

/// What one stream holds: its next index and its live entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Held {
    next: u64,
    entries: BTreeMap<u64, Vec<u8>>,
}

/// Every stream, by id.
type Streams = BTreeMap<u64, Held>;

/// One stream record a call writes.
#[derive(Clone, Debug)]
enum Change {
    Append(u64, u64, Vec<u8>),
    Purge(u64, u64),
    Truncate(u64, u64),
}

/// Applies a change as `docs/FORMAT.md` ("Streams") says a reader does.
fn apply(streams: &mut Streams, change: &Change) {
    match change {
        Change::Append(id, index, entry) => {
            let s = streams.entry(*id).or_default();
            assert!(s.entries.is_empty() || s.next == *index, "{change:?}");
            s.entries.insert(*index, entry.clone());
            s.next = index + 1;
        }
        Change::Purge(id, below) => {
            let s = streams.entry(*id).or_default();
            s.entries.retain(|&i, _| i >= *below);
            s.next = s.next.max(*below);
        }
        Change::Truncate(id, from) => {
            // (Never past the next index here: that changes nothing.)
            let s = streams.entry(*id).or_default();
            s.entries.retain(|&i, _| i < *from);
            s.next = *from;
        }
    }
}

/// One call on streams, chosen from what they hold; the changes it makes
/// (the indexes each append must take), and the call.
type Call<'a> = (Vec<Change>, Box<dyn FnOnce(&Wal) -> Result<Vec<u64>> + 'a>);

fn next_call<'a>(rng: &mut SplitMix64, streams: &Streams, step: u64) -> Call<'a> {
    let next = |id: u64| streams.get(&id).map_or(1, |s| s.next);
    let id = rng.range(1, 3);
    let entry = payload(id, step);
    let live: Vec<(u64, u64, u64)> = streams
        .iter()
        .filter_map(|(&id, s)| {
            Some((
                id,
                *s.entries.keys().next()?,
                *s.entries.keys().next_back()?,
            ))
        })
        .collect();
    let target = match live.len() as u64 {
        0 => None,
        n => live.get(rng.below(n) as usize).copied(),
    };
    match (rng.below(100), target) {
        (40..=54, _) => {
            // A batch across streams; a stream may come twice.
            let ids: Vec<u64> = (0..rng.range(2, 3)).map(|_| rng.range(1, 3)).collect();
            let mut taken: BTreeMap<u64, u64> = BTreeMap::new();
            let batch: Vec<(u64, Vec<u8>)> = ids
                .iter()
                .enumerate()
                .map(|(k, &id)| (id, payload(id + 10 * k as u64, step)))
                .collect();
            let changes = batch
                .iter()
                .map(|(id, e)| {
                    let slot = taken.entry(*id).or_insert_with(|| next(*id));
                    *slot += 1;
                    Change::Append(*id, *slot - 1, e.clone())
                })
                .collect();
            (changes, Box::new(move |wal| wal.append_streams(&batch)))
        }
        (55..=64, _) => {
            // A stream of its own, starting after a snapshot at an index
            // of its own; or one going on at its next index.
            let (id, first) = if rng.below(2) == 0 {
                (100 + step, rng.range(2, 1000))
            } else {
                (id, next(id))
            };
            let entries: Vec<Vec<u8>> = (0..rng.range(1, 3))
                .map(|k| payload(id + k, step))
                .collect();
            let changes = entries
                .iter()
                .zip(first..)
                .map(|(e, i)| Change::Append(id, i, e.clone()))
                .collect();
            (
                changes,
                Box::new(move |wal| Ok(vec![wal.stream(id).append_at(first, &entries)?])),
            )
        }
        (65..=79, Some((id, first, last))) => {
            let below = rng.range(first + 1, last + 1);
            (
                vec![Change::Purge(id, below)],
                Box::new(move |wal| wal.stream(id).purge_below(below).map(|()| Vec::new())),
            )
        }
        (80.., Some((id, first, last))) => {
            let from = rng.range(first, last);
            (
                vec![Change::Truncate(id, from)],
                Box::new(move |wal| wal.stream(id).truncate_from(from).map(|()| Vec::new())),
            )
        }
        _ => {
            let index = next(id);
            (
                vec![Change::Append(id, index, entry.clone())],
                Box::new(move |wal| Ok(vec![wal.stream(id).append(&entry)?])),
            )
        }
    }
}

/// Every stream of `wal`, read through the facade; each must be dense
/// and agree with what `Wal::streams` says of it.
fn read_streams(wal: &Wal, seed: u64) -> Streams {
    let mut out = Streams::new();
    for info in wal.streams() {
        let entries: Vec<(u64, Vec<u8>)> = wal
            .stream(info.id)
            .read(..)
            .unwrap()
            .map(|e| e.unwrap_or_else(|e| panic!("seed {seed}: stream {}: {e}", info.id)))
            .collect();
        let indexes: Vec<u64> = entries.iter().map(|e| e.0).collect();
        let dense: Vec<u64> = info
            .first_index
            .map_or(Vec::new(), |f| (f..info.next_index).collect());
        assert_eq!(indexes, dense, "seed {seed}: stream {} {info:?}", info.id);
        assert_eq!(info.last_index, indexes.last().copied(), "seed {seed}");
        out.insert(
            info.id,
            Held {
                next: info.next_index,
                entries: entries.into_iter().collect(),
            },
        );
    }
    out
}

fn run(seed: u64) {
    let (sim, wal) = open_halting(seed, 3 + seed % 400);

    // Every call to `below` here has `n > 0` and every `range` has
    // `lo <= hi`, so the draws are the ones the seeds were recorded with.
    let mut rng = SplitMix64::new(seed);
    let mut acked = Streams::new();
    let mut in_flight = None;
    for step in 0..5000 {
        let (changes, call) = next_call(&mut rng, &acked, step);
        // After a truncation, the appends that take its indexes again.
        let truncated = match changes.as_slice() {
            [Change::Truncate(id, from)] => Some((*id, *from)),
            _ => None,
        };
        let mut after = acked.clone();
        for c in &changes {
            apply(&mut after, c);
        }
        match call(&wal) {
            Ok(indexes) => {
                let want: Vec<u64> = changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::Append(_, i, _) => Some(*i),
                        _ => None,
                    })
                    .collect();
                // `append_at` answers with the last index only.
                assert!(
                    indexes == want || indexes.last() == want.last() && indexes.len() == 1,
                    "seed {seed}: {changes:?} got indexes {indexes:?}"
                );
                acked = after;
            }
            Err(e) => {
                // Only the halt fails a call here (a write, or a read of
                // entries a reclamation copies forward).
                let halted = format!("{e:?}").contains("HaltingStorage");
                assert!(halted, "seed {seed}: {e}");
                in_flight = Some(after);
                break;
            }
        }
        if let Some((id, from)) = truncated {
            let entries = [payload(id, step + 7000), payload(id, step + 8000)];
            let more: Vec<Change> = entries
                .iter()
                .zip(from..)
                .map(|(e, i)| Change::Append(id, i, e.clone()))
                .collect();
            let mut after = acked.clone();
            for c in &more {
                apply(&mut after, c);
            }
            match wal.stream(id).append_at(from, &entries) {
                Ok(last) => {
                    assert_eq!(last, from + 1, "seed {seed}");
                    acked = after;
                }
                Err(_) => {
                    in_flight = Some(after);
                    break;
                }
            }
        }
    }
    let in_flight = in_flight.unwrap_or_else(|| panic!("seed {seed}: the storage never halted"));
    drop(wal);
    sim.crash();

    let (wal, _) = Wal::open(DIR, &options(&sim)).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
    let got = read_streams(&wal, seed);
    assert!(
        got == acked || got == in_flight,
        "seed {seed}: the recovered streams are neither what the acknowledged calls left nor what the call in flight left:\n got {}\n acknowledged {}\n in flight {}",
        summary(&got),
        summary(&acked),
        summary(&in_flight)
    );
    wal.close().unwrap();

    let (wal, _) = Wal::open(DIR, &options(&sim)).unwrap();
    assert_eq!(
        read_streams(&wal, seed),
        got,
        "seed {seed}: recovery not idempotent"
    );
    for (id, held) in &got {
        assert_eq!(
            wal.stream(*id).append(b"after").unwrap(),
            held.next,
            "seed {seed}: stream {id}"
        );
    }
    wal.close().unwrap();
}

/// Each stream's first and last index and next index.
fn summary(streams: &Streams) -> String {
    let parts: Vec<String> = streams
        .iter()
        .map(|(id, s)| {
            format!(
                "{id}: {:?}..={:?} next {}",
                s.entries.keys().next(),
                s.entries.keys().next_back(),
                s.next
            )
        })
        .collect();
    parts.join(", ")
}

#[test]
fn every_stream_survives_a_power_loss_at_a_random_call_as_acknowledged() {
    for_seeds("groupwal stream crashes", 0x5723_4a11, 60, run);
}
