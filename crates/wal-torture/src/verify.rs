//! Reopening a crashed log and holding it to the [`Model`].

use std::collections::BTreeMap;
use std::sync::Arc;

use groupwal::io::sim::SimStorage;
use groupwal::{Lsn, OwnedRecord, Wal};

use crate::model::{Model, StreamContent, StreamSet};
use crate::workload::{DIR, PROBE_STREAM, Plan, Workload};

/// What a successful verification found.
#[derive(Clone, Copy, Debug)]
pub struct Verified {
    /// The last LSN recovered.
    pub last: u64,
    /// The LSN of the probe appended after recovery (a plain record, or in
    /// a streams workload an entry of [`PROBE_STREAM`]).
    pub probe: u64,
    /// The stream units the recovered streams hold
    /// ([`Model::check_streams`]).
    pub stream_units: usize,
}

/// Opens the log on `sim` (default recovery mode), checks what it holds
/// against `model` (its records, and every stream read through the
/// facade), closes it, recovers it a second time (the same result is
/// required), appends a probe (a record, or in a streams workload an entry
/// of [`PROBE_STREAM`]), reads it back and closes.
///
/// # Errors
///
/// A description of the violation.
pub fn verify(
    plan: &Plan,
    sim: &SimStorage,
    model: &Model,
    probe: &[u8],
) -> Result<Verified, String> {
    let options = plan.options(Arc::new(sim.clone()));
    let (wal, report) =
        Wal::open(DIR, &options).map_err(|e| format!("recovery failed: {e} ({e:?})"))?;
    let last = report.last_lsn.get();
    let records = read(&wal, report.first_lsn, "recovered")?;
    model.check(last, &records)?;
    let streams = read_streams(&wal).map_err(|e| format!("the recovered log: {e}"))?;
    let stream_units = model.check_streams(&streams)?;
    wal.close()
        .map_err(|e| format!("closing the recovered log failed: {e}"))?;

    let (wal, again) =
        Wal::open(DIR, &options).map_err(|e| format!("second recovery failed: {e} ({e:?})"))?;
    if again.last_lsn != report.last_lsn {
        return Err(format!(
            "recovery not idempotent: last lsn {} then {}",
            report.last_lsn, again.last_lsn
        ));
    }
    let records_again = read(&wal, again.first_lsn, "recovered twice")?;
    if records_again != records {
        return Err(format!(
            "recovery not idempotent: {} records then {} (first lsn {} then {})",
            records.len(),
            records_again.len(),
            report.first_lsn,
            again.first_lsn
        ));
    }
    // The same records make the same streams: what each holds need not
    // be read again.
    let listed = |s: &StreamSet| -> Vec<(u64, Option<u64>, Option<u64>, u64)> {
        s.0.iter()
            .map(|(&id, c)| (id, c.first(), c.last(), c.next))
            .collect()
    };
    let mut again: Vec<_> = wal
        .streams()
        .iter()
        .map(|i| (i.id, i.first_index, i.last_index, i.next_index))
        .collect();
    again.sort_unstable();
    if again != listed(&streams) {
        return Err(format!(
            "recovery not idempotent for streams: (id, first, last, next) {:?}, then {again:?}",
            listed(&streams)
        ));
    }
    let lsn = match model.workload() {
        Workload::Records => append_probe(&wal, probe)?,
        Workload::Streams => append_stream_probe(&wal, &streams, probe)?,
    };
    if lsn.get() != last + 1 {
        return Err(format!(
            "the first append after recovery got lsn {lsn}, expected {}",
            last + 1
        ));
    }
    wal.close()
        .map_err(|e| format!("closing after the append after recovery failed: {e}"))?;
    Ok(Verified {
        last,
        probe: lsn.get(),
        stream_units,
    })
}

/// Appends `probe` as a record and reads it back.
fn append_probe(wal: &Wal, probe: &[u8]) -> Result<Lsn, String> {
    let lsn = wal
        .append(probe)
        .map_err(|e| format!("appending after recovery failed: {e} ({e:?})"))?;
    let back = read(wal, lsn, "the append after recovery")?;
    if back.len() != 1 || back.first().is_none_or(|r| r.payload != probe) {
        return Err(format!(
            "the append after recovery does not read back ({} records from lsn {lsn})",
            back.len()
        ));
    }
    Ok(lsn)
}

/// Appends `probe` to [`PROBE_STREAM`] (whose state in the recovered log
/// is in `streams`), checks the index it takes, and reads it back.
fn append_stream_probe(wal: &Wal, streams: &StreamSet, probe: &[u8]) -> Result<Lsn, String> {
    let want = streams.next_index(PROBE_STREAM);
    let fail =
        |e: groupwal::Error| format!("appending to a stream after recovery failed: {e} ({e:?})");
    let pending = wal.stream(PROBE_STREAM).submit(probe).map_err(fail)?;
    let lsn = pending.lsn();
    let index = pending.wait().map_err(fail)?;
    if index != want {
        return Err(format!(
            "the first stream append after recovery got index {index}, expected {want}"
        ));
    }
    let back: Vec<(u64, Vec<u8>)> = wal
        .stream(PROBE_STREAM)
        .read(index..=index)
        .and_then(|r| r.collect())
        .map_err(|e| format!("reading back the stream append after recovery: {e} ({e:?})"))?;
    if back != [(index, probe.to_vec())] {
        return Err(format!(
            "the stream append after recovery does not read back ({} entries at index {index})",
            back.len()
        ));
    }
    Ok(lsn)
}

/// Every stream of `wal`, read through the facade: [`Wal::streams`], then
/// `Stream::read(..)` of each. Checks on the way that each stream's
/// entries are dense, from its first live index to the one before its
/// next, and agree with what [`Wal::streams`] says of it.
///
/// # Errors
///
/// A read that fails, or a stream that disagrees with itself.
pub fn read_streams(wal: &Wal) -> Result<StreamSet, String> {
    let mut out = BTreeMap::new();
    for info in wal.streams() {
        let id = info.id;
        // A gap (an entry lost to damage the skipping recovery skipped) is
        // read past, and must be one the stream says it has.
        let mut entries: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut gaps = Vec::new();
        let mut from = None;
        loop {
            let range = from.map_or(
                (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
                |f| (std::ops::Bound::Included(f), std::ops::Bound::Unbounded),
            );
            let mut gap = None;
            for e in wal
                .stream(id)
                .read(range)
                .map_err(|e| format!("reading stream {id} failed: {e} ({e:?})"))?
            {
                match e {
                    Ok(e) => entries.push(e),
                    Err(groupwal::Error::StreamGap { index, .. }) => {
                        gap = Some(index);
                        break;
                    }
                    Err(e) => return Err(format!("reading stream {id} failed: {e} ({e:?})")),
                }
            }
            match gap {
                Some(index) => {
                    gaps.push(index);
                    from = Some(index + 1);
                }
                None => break,
            }
        }
        let indexes: Vec<u64> = entries.iter().map(|e| e.0).collect();
        let dense = indexes
            .iter()
            .zip(indexes.iter().skip(1))
            .all(|(a, b)| a + 1 == *b || (a + 1..*b).all(|i| gaps.contains(&i)));
        let listed = (info.first_index, info.last_index, info.entries);
        // The last index may be a gap (the entries after the damage were
        // truncated away later).
        let read = (
            indexes.first().copied(),
            indexes.last().copied().max(gaps.last().copied()),
            indexes.len() as u64,
        );
        let ends_before_next = info.last_index.is_none_or(|l| l + 1 == info.next_index);
        if !dense || listed != read || !ends_before_next {
            return Err(format!(
                "stream {id}: read back indexes {}, the stream says first {:?}, last {:?}, {} entries, next {}",
                describe(&indexes),
                info.first_index,
                info.last_index,
                info.entries,
                info.next_index
            ));
        }
        out.insert(
            id,
            StreamContent {
                next: info.next_index,
                entries: entries.into_iter().collect(),
            },
        );
    }
    Ok(StreamSet(out))
}

/// Indexes as runs (`1..=4, 7`).
fn describe(indexes: &[u64]) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &i in indexes {
        match runs.last_mut() {
            Some((_, b)) if *b + 1 == i => *b = i,
            _ => runs.push((i, i)),
        }
    }
    let runs: Vec<String> = runs
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}..={b}")
            }
        })
        .collect();
    format!("[{}]", runs.join(", "))
}

/// Every durable record from `from` (or the log's first) on.
fn read(wal: &Wal, from: Lsn, what: &str) -> Result<Vec<OwnedRecord>, String> {
    let from = from.max(Lsn::FIRST);
    wal.read_from(from)
        .map_err(|e| format!("reading {what} log from lsn {from} failed: {e} ({e:?})"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {what} log from lsn {from} failed: {e} ({e:?})"))
}
