//! The workload: a list of operations generated from a seed, and the
//! runner that applies it to a log while the [`Model`] follows what was
//! submitted and acknowledged. A plan runs one of two workloads
//! ([`Workload`]): plain records ([`Plan::operations`]), or streams
//! ([`Plan::stream_operations`]).
//!
//! The operations are issued from one thread, one at a time (the log's own
//! I/O thread does the writing). That is a choice: with one caller the
//! sequence of storage calls is the same on every run, so a crash point
//! (the index of a storage call) names the same moment on every run and a
//! failure replays exactly. Concurrency inside a group is still exercised:
//! a batch is several records in one group, and plans with
//! [`Plan::concurrent`] (used by the fault explorer, where a failed group
//! must fail every waiter) submit several records before waiting for any.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use groupwal::crypto::{Key, Keyring};
use groupwal::format::KeyId;
use groupwal::io::Storage;
use groupwal::{Lsn, Wal, WalOptions};

use crate::model::{Model, StreamRecord, StreamSet};
use crate::rng::{self, Rng, mix};

/// The directory of the log on the simulated disk.
pub const DIR: &str = "/torture/wal";

/// Segment size: small, so a workload rotates several times.
pub const SEGMENT_SIZE: u64 = 16 * 1024;

/// Fragment size: records larger than this are split.
pub const FRAGMENT_SIZE: usize = 1536;

/// The streams a streams workload starts with (more start along the way,
/// at an index of their own).
pub const STREAMS: [u64; 4] = [1, 2, 3, 1 << 40];

/// The stream the verification appends its probe entry to, in a streams
/// workload.
pub const PROBE_STREAM: u64 = u64::MAX;

/// What a workload writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Plain records: appends, batches, checkpoints, purges, suffix
    /// truncations ([`Plan::operations`]).
    #[default]
    Records,
    /// Streams only: appends to several streams (some at a chosen start
    /// index), batches across streams, purges and truncations of each, and
    /// the appends that take the truncated indexes again
    /// ([`Plan::stream_operations`]).
    Streams,
}

impl Workload {
    /// Both workloads.
    pub const ALL: [Workload; 2] = [Workload::Records, Workload::Streams];

    /// The operations of `plan` in this workload.
    #[must_use]
    pub fn operations(self, plan: &Plan) -> Vec<Op> {
        match self {
            Workload::Records => plan.operations(),
            Workload::Streams => plan.stream_operations(),
        }
    }

    /// Its name, as in a case (`crash-streams:...`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Workload::Records => "records",
            Workload::Streams => "streams",
        }
    }

    /// The workload a soak gives `seed`: streams for about one seed in
    /// four (by a hash of the seed, so every combination of the options
    /// the seed's low bits choose gets its share), records for the rest.
    #[must_use]
    pub fn for_seed(seed: u64) -> Workload {
        if mix(&[seed, 0x7374_7265_616d]).is_multiple_of(4) {
            Workload::Streams
        } else {
            Workload::Records
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One workload: its seed, length and the log options it runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Plan {
    /// Everything else follows from it.
    pub seed: u64,
    /// How many operations.
    pub ops: usize,
    /// Payloads encrypted (AES-256-GCM).
    pub encryption: bool,
    /// Payloads compressed (zstd).
    pub compression: bool,
    /// Purged segment files kept for reuse.
    pub recycling: bool,
    /// Some operations submit several records before waiting, and spare
    /// segments are prepared in the background (the groups and the order of
    /// storage calls then depend on timing, so they are not the same on
    /// every run).
    pub concurrent: bool,
}

impl Plan {
    /// A sequential plan whose options follow from the seed's low bits:
    /// bit 0 encryption, bit 1 compression, bit 2 clear: recycling.
    #[must_use]
    pub fn from_seed(seed: u64, ops: usize) -> Plan {
        Plan {
            seed,
            ops,
            encryption: seed & 1 == 1,
            compression: seed & 2 == 2,
            recycling: seed & 4 == 0,
            concurrent: false,
        }
    }

    /// The same plan with concurrent submits on or off.
    #[must_use]
    pub fn with_concurrent(mut self, on: bool) -> Plan {
        self.concurrent = on;
        self
    }

    /// The log options of this plan, on `storage`.
    #[must_use]
    pub fn options(&self, storage: Arc<dyn Storage>) -> WalOptions {
        let mut o = WalOptions::new();
        o.storage(storage)
            .segment_size(SEGMENT_SIZE)
            .fragment_size(FRAGMENT_SIZE)
            .max_record_len(64 * 1024)
            .max_group_bytes(64 * 1024)
            // A window of 4 KiB, not 1 MiB: records straddle window
            // boundaries, and a debug build does not spend its time
            // zeroing megabytes per segment read.
            .read_buffer_size(4096)
            .max_spares(if self.recycling { 2 } else { 0 })
            // Spare segments prepared on a thread of their own (the
            // default) make the order of storage calls depend on timing;
            // crash exploration needs it fixed, so only concurrent plans
            // (the fault explorer's) prepare in the background.
            .prepare_in_background(self.concurrent)
            // Live stream entries of the segments beyond the newest four
            // are copied forward, so that streams that stop purging do not
            // keep old segments. The copies go in one by one, grouped as
            // they come, so again only concurrent plans have them (with 16
            // KiB segments, often); sequential ones never copy.
            .stream_rewrite_segments(self.concurrent.then_some(4));
        if self.compression {
            o.compression_level(Some(3));
        }
        if self.encryption {
            // Keyring::new only refuses KeyId::NONE.
            if let Ok(keys) = Keyring::new(KeyId::new(7), Key::from_bytes([0x5a; 32])) {
                o.encryption(Arc::new(keys));
            }
        }
        o
    }

    /// The operations, in order.
    #[must_use]
    pub fn operations(&self) -> Vec<Op> {
        let mut rng = Rng::new(self.seed ^ 0x6f70_735f_6f70_7321);
        (0..self.ops)
            .map(|i| {
                let i = i as u64;
                match rng.range(0, 99) {
                    0..=49 => Op::Append(payload(&mut rng, self.seed, i, 0, None)),
                    50..=67 => {
                        let n = rng.range(2, 4);
                        Op::Batch(
                            (0..n)
                                .map(|j| payload(&mut rng, self.seed, i, j, Some(j == 0)))
                                .collect(),
                        )
                    }
                    68..=73 => Op::Checkpoint(format!("checkpoint {:x}/{i}", self.seed).into()),
                    74..=79 => Op::Purge,
                    80..=85 => Op::TruncateBack(rng.range(1, 3) as usize),
                    _ if self.concurrent => {
                        let n = rng.range(2, 5);
                        Op::Submit(
                            (0..n)
                                .map(|j| payload(&mut rng, self.seed, i, j, Some(false)))
                                .collect(),
                        )
                    }
                    _ => Op::Append(payload(&mut rng, self.seed, i, 0, None)),
                }
            })
            .collect()
    }
}

impl Plan {
    /// The operations of the streams workload, in order. Every index is
    /// valid when the operations run in order (the generator follows the
    /// streams with the model's [`StreamSet`]); at most one stream is
    /// empty at a time (the log writes the state of each empty stream
    /// forward before removing the segment holding it, one record each,
    /// in an order of its own: one at a time keeps the storage calls the
    /// same on every run).
    #[must_use]
    pub fn stream_operations(&self) -> Vec<Op> {
        let mut rng = Rng::new(self.seed ^ 0x7374_7265_616d_7321);
        let mut streams = StreamSet::default();
        // The operation that wrote each entry.
        let mut written: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        let mut out = Vec::with_capacity(self.ops);
        while out.len() < self.ops {
            let i = out.len() as u64;
            // The stream whose first live entry is the oldest: it keeps
            // the oldest segment.
            let oldest = streams
                .0
                .iter()
                .filter_map(|(&id, s)| Some((*written.get(&(id, s.first()?))?, id)))
                .min()
                .map(|(_, id)| id);
            let op = self.stream_op(&mut rng, &streams, oldest, i);
            // A truncation is mostly followed by appends that take its
            // indexes again.
            let again = match &op {
                Op::StreamTruncate { stream, from } => match rng.range(0, 3) {
                    0 | 1 => Some(Op::StreamAppendAt {
                        stream: *stream,
                        first: *from,
                        entries: (0..rng.range(1, 3))
                            .map(|j| payload(&mut rng, self.seed, i, j, Some(false)))
                            .collect(),
                    }),
                    2 => Some(Op::StreamAppend {
                        stream: *stream,
                        entry: payload(&mut rng, self.seed, i, 9, None),
                    }),
                    _ => None,
                },
                _ => None,
            };
            for op in std::iter::once(op).chain(again) {
                for unit in op.stream_units(&streams) {
                    for r in &unit {
                        // Valid by construction (the runner checks again).
                        let _ = streams.apply(r);
                        if let StreamRecord::Append { stream, index, .. } = r {
                            written.insert((*stream, *index), out.len() as u64);
                        }
                    }
                }
                out.push(op);
            }
        }
        out.truncate(self.ops);
        out
    }

    /// One operation of the streams workload, on streams in state
    /// `streams`; most purges purge stream `oldest`.
    fn stream_op(&self, rng: &mut Rng, streams: &StreamSet, oldest: Option<u64>, i: u64) -> Op {
        let seed = self.seed;
        // The streams appended to: the first ones and those started since,
        // but not an empty one (it stays empty a while, so that the
        // segment holding its state can go: the log must write that state
        // forward first).
        let empty = streams
            .0
            .iter()
            .find(|(_, s)| s.entries.is_empty())
            .map(|(&id, _)| id);
        let pool: Vec<u64> = STREAMS
            .iter()
            .copied()
            .chain(streams.0.keys().copied().filter(|id| !STREAMS.contains(id)))
            .filter(|&id| Some(id) != empty)
            .collect();
        let pick = |rng: &mut Rng| {
            let at = rng.range(0, pool.len() as u64 - 1) as usize;
            pool.get(at).copied().unwrap_or(1)
        };
        let stream = pick(rng);
        // The streams holding entries, with their first and last index.
        let live: Vec<(u64, u64, u64)> = streams
            .0
            .iter()
            .filter_map(|(&id, s)| Some((id, s.first()?, s.last()?)))
            .collect();
        let oldest = live.iter().find(|l| Some(l.0) == oldest).copied();
        let live = match live.len() as u64 {
            0 => None,
            n => live.get(rng.range(0, n - 1) as usize).copied(),
        };
        let may_empty = streams.empty_streams() == 0;
        match rng.range(0, 99) {
            0..=29 => {}
            30..=44 => {
                return Op::StreamBatch(
                    (0..rng.range(2, 4))
                        .map(|j| (pick(rng), payload(rng, seed, i, j, Some(j == 0))))
                        .collect(),
                );
            }
            45..=54 => {
                // A new stream, starting where a snapshot left it (a Raft
                // log), the empty one taking appends again, or one going on
                // at its next index.
                let (stream, first) = match (rng.range(0, 99), empty) {
                    (0..=24, _) => (0x5000 + i, rng.range(2, 5000)),
                    (25..=34, Some(e)) => (e, streams.next_index(e)),
                    _ => (stream, streams.next_index(stream)),
                };
                return Op::StreamAppendAt {
                    stream,
                    first,
                    entries: (0..rng.range(1, 3))
                        .map(|j| payload(rng, seed, i, j, Some(false)))
                        .collect(),
                };
            }
            55..=74 => {
                let target = if rng.percent(70) { oldest } else { live };
                if let Some((stream, first, last)) = target
                    && let Some(below) = purge_bound(rng, first, last, may_empty)
                {
                    return Op::StreamPurge { stream, below };
                }
            }
            75..=84 => {
                if let Some((stream, first, last)) = live {
                    let from = if may_empty && rng.percent(20) {
                        first
                    } else {
                        rng.range(first + 1, last + 1)
                    };
                    return Op::StreamTruncate { stream, from };
                }
            }
            85..=94 if self.concurrent => {
                return Op::StreamSubmit(
                    (0..rng.range(2, 5))
                        .map(|j| (pick(rng), payload(rng, seed, i, j, Some(false))))
                        .collect(),
                );
            }
            _ => {}
        }
        Op::StreamAppend {
            stream,
            entry: payload(rng, seed, i, 0, None),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {:#x}, {} ops (", self.seed, self.ops)?;
        let flag = |on: bool, name: &str| {
            if on {
                name.to_owned()
            } else {
                format!("no {name}")
            }
        };
        write!(
            f,
            "{}, {}, {}{})",
            flag(self.encryption, "encryption"),
            flag(self.compression, "compression"),
            flag(self.recycling, "recycling"),
            if self.concurrent { ", concurrent" } else { "" }
        )
    }
}

/// Where to purge a stream whose live entries are `first..=last`: below
/// some of them, most often all but the last few (so old segments can
/// go); all of them, and maybe the next index moved on, only if
/// `may_empty`. `None`: no purge leaves it an entry, and it may not be
/// emptied.
fn purge_bound(rng: &mut Rng, first: u64, last: u64, may_empty: bool) -> Option<u64> {
    if may_empty && rng.percent(15) {
        Some(last + 1 + rng.range(0, 2))
    } else if first < last && rng.percent(60) {
        Some(last + 1 - rng.range(1, (last - first).min(3)))
    } else {
        (first < last).then(|| rng.range(first + 1, last))
    }
}

/// One operation of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Wal::append`.
    Append(Vec<u8>),
    /// `Wal::append_batch`.
    Batch(Vec<Vec<u8>>),
    /// `Wal::checkpoint`.
    Checkpoint(Vec<u8>),
    /// `Wal::purge_below` the last checkpoint (skipped without one).
    Purge,
    /// `Wal::truncate_from` the first LSN of the n-th last unit (record or
    /// batch), if it lies above every purge point (else skipped).
    TruncateBack(usize),
    /// `Wal::submit` of each record, then a wait for each.
    Submit(Vec<Vec<u8>>),
    /// `Stream::append`.
    StreamAppend {
        /// The stream.
        stream: u64,
        /// The entry.
        entry: Vec<u8>,
    },
    /// `Stream::append_at`: one atomic batch from index `first` (the
    /// stream's next, or any for a stream the log holds nothing of).
    StreamAppendAt {
        /// The stream.
        stream: u64,
        /// The first entry's index.
        first: u64,
        /// The entries.
        entries: Vec<Vec<u8>>,
    },
    /// `Wal::append_streams`: one atomic batch across streams.
    StreamBatch(Vec<(u64, Vec<u8>)>),
    /// `Stream::purge_below`.
    StreamPurge {
        /// The stream.
        stream: u64,
        /// The bound.
        below: u64,
    },
    /// `Stream::truncate_from`.
    StreamTruncate {
        /// The stream.
        stream: u64,
        /// The bound.
        from: u64,
    },
    /// `Stream::submit` of each entry, then a wait for each.
    StreamSubmit(Vec<(u64, Vec<u8>)>),
}

impl Op {
    /// The stream units the operation submits when the streams are in
    /// state `streams`: one per call (its records, an atomic batch if
    /// several), in order; none for an operation on plain records.
    #[must_use]
    pub fn stream_units(&self, streams: &StreamSet) -> Vec<Vec<StreamRecord>> {
        let mut next: BTreeMap<u64, u64> = BTreeMap::new();
        let mut append = |stream: u64, entry: &Vec<u8>| {
            let slot = next
                .entry(stream)
                .or_insert_with(|| streams.next_index(stream));
            *slot += 1;
            StreamRecord::Append {
                stream,
                index: *slot - 1,
                entry: entry.clone(),
            }
        };
        match self {
            Op::StreamAppend { stream, entry } => vec![vec![append(*stream, entry)]],
            Op::StreamAppendAt {
                stream,
                first,
                entries,
            } => vec![
                entries
                    .iter()
                    .zip(*first..)
                    .map(|(entry, index)| StreamRecord::Append {
                        stream: *stream,
                        index,
                        entry: entry.clone(),
                    })
                    .collect(),
            ],
            Op::StreamBatch(es) => vec![es.iter().map(|(s, e)| append(*s, e)).collect()],
            Op::StreamSubmit(es) => es.iter().map(|(s, e)| vec![append(*s, e)]).collect(),
            Op::StreamPurge { stream, below } => vec![vec![StreamRecord::Purge {
                stream: *stream,
                below: *below,
            }]],
            Op::StreamTruncate { stream, from } => vec![vec![StreamRecord::Truncate {
                stream: *stream,
                from: *from,
            }]],
            Op::Append(_)
            | Op::Batch(_)
            | Op::Checkpoint(_)
            | Op::Purge
            | Op::TruncateBack(_)
            | Op::Submit(_) => Vec::new(),
        }
    }
}

/// A payload naming its seed, operation and index, of a size class drawn
/// from `rng`: tiny, about 1 KiB, or larger than a fragment (`large`:
/// `None` draws it, `Some` forces it or forbids it). Some are compressible,
/// some are not.
fn payload(rng: &mut Rng, seed: u64, op: u64, index: u64, large: Option<bool>) -> Vec<u8> {
    let p = format!("{seed:x}/{op}/{index}:").into_bytes();
    let class = rng.range(0, 99);
    let large = large.unwrap_or(class >= 80);
    let len = if large {
        rng.range(FRAGMENT_SIZE as u64 + 1, 3 * FRAGMENT_SIZE as u64)
    } else if class < 35 {
        rng.range(0, 24)
    } else {
        rng.range(700, 1300)
    } as usize;
    let compressible = rng.percent(50);
    rng::fill(rng, p, len, compressible.then_some(b'a' + (op % 8) as u8))
}

/// How a run of the workload ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// Every operation ran, and the log was closed.
    Completed,
    /// Operation `op` (or the close, `op == ops`) failed.
    Failed {
        /// Its index.
        op: usize,
        /// The error.
        error: groupwal::Error,
    },
}

/// The outcome of each wait of the last operation, if an [`Op::Submit`]:
/// LSN and whether it was acknowledged.
pub(crate) type Waits = Vec<(u64, bool)>;

/// Runs `ops` on `wal`, one at a time, until one fails; the model follows.
/// Returns a violation for a log that hands out unexpected LSNs. On a
/// failure the log is handed back (poisoned, the caller checks it).
pub(crate) fn run(
    wal: Wal,
    ops: &[Op],
    model: &mut Model,
) -> Result<(Ended, Option<Wal>, Waits), String> {
    let mut waits = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        // Only the waits of the operation that failed matter.
        waits.clear();
        match step(&wal, op, model, &mut waits)? {
            Ok(()) => {}
            Err(error) => return Ok((Ended::Failed { op: i, error }, Some(wal), waits)),
        }
    }
    match wal.close() {
        Ok(()) => Ok((Ended::Completed, None, waits)),
        Err(error) => Ok((
            Ended::Failed {
                op: ops.len(),
                error,
            },
            None,
            waits,
        )),
    }
}

fn expect_lsn(what: &str, got: Lsn, want: u64) -> Result<(), String> {
    if got.get() == want {
        Ok(())
    } else {
        Err(format!("{what} got lsn {got}, the model expected {want}"))
    }
}

type Step = Result<Result<(), groupwal::Error>, String>;

fn step(wal: &Wal, op: &Op, model: &mut Model, waits: &mut Waits) -> Step {
    match op {
        Op::Append(p) => {
            let (first, _) = model.push(std::slice::from_ref(p), false);
            match wal.append(p) {
                Ok(lsn) => {
                    expect_lsn("append", lsn, first)?;
                    model.ack(first);
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Op::Batch(ps) => {
            let (first, last) = model.push(ps, false);
            match wal.append_batch(ps) {
                Ok((a, b)) => {
                    expect_lsn("append_batch (first)", a, first)?;
                    expect_lsn("append_batch (last)", b, last)?;
                    model.ack(last);
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Op::Checkpoint(p) => {
            let (first, _) = model.push(std::slice::from_ref(p), true);
            match wal.checkpoint(p) {
                Ok(lsn) => {
                    expect_lsn("checkpoint", lsn, first)?;
                    model.ack(first);
                    model.checkpointed(first);
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Op::Purge => {
            if let Some(p) = model.last_checkpoint() {
                model.purging(p);
                if let Err(e) = wal.purge_below(Lsn::new(p)) {
                    return Ok(Err(e));
                }
            }
        }
        Op::TruncateBack(n) => {
            if let Some(t) = model.truncation_point(*n) {
                model.truncating(t);
                match wal.truncate_from(Lsn::new(t)) {
                    Ok(next) => {
                        expect_lsn("truncate_from (next)", next, t)?;
                        model.truncated(t);
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
        }
        Op::Submit(ps) => {
            let mut pending = Vec::new();
            let mut failure = None;
            for p in ps {
                let (first, _) = model.push(std::slice::from_ref(p), false);
                match wal.submit(p) {
                    Ok(h) => {
                        expect_lsn("submit", h.lsn(), first)?;
                        pending.push(h);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            for h in pending {
                let lsn = h.lsn().get();
                match h.wait() {
                    Ok(got) => {
                        expect_lsn("wait", got, lsn)?;
                        model.ack(lsn);
                        waits.push((lsn, true));
                    }
                    Err(e) => {
                        waits.push((lsn, false));
                        failure.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failure {
                return Ok(Err(e));
            }
        }
        Op::StreamAppend { .. }
        | Op::StreamAppendAt { .. }
        | Op::StreamBatch(_)
        | Op::StreamPurge { .. }
        | Op::StreamTruncate { .. }
        | Op::StreamSubmit(_) => return stream_step(wal, op, model, waits),
    }
    Ok(Ok(()))
}

/// The indexes of the entries a stream unit appends.
fn indexes(unit: &[StreamRecord]) -> Vec<u64> {
    unit.iter()
        .filter_map(|r| match r {
            StreamRecord::Append { index, .. } => Some(*index),
            _ => None,
        })
        .collect()
}

fn expect_indexes(what: &str, got: &[u64], unit: &[StreamRecord]) -> Result<(), String> {
    let want = indexes(unit);
    if got == want.as_slice() {
        Ok(())
    } else {
        Err(format!(
            "{what} got indexes {got:?}, the model expected {want:?}"
        ))
    }
}

/// One operation on streams: the model notes each unit before its call,
/// and its acknowledgement after.
pub(crate) fn stream_step(wal: &Wal, op: &Op, model: &mut Model, waits: &mut Waits) -> Step {
    let units = op.stream_units(model.streams());
    if let Op::StreamSubmit(es) = op {
        return stream_submit(wal, es, units, model, waits);
    }
    let [unit] = units.as_slice() else {
        return Err(format!("{op:?} makes {} units, not one", units.len()));
    };
    let n = model.push_streams(unit.clone())?;
    let result = match op {
        Op::StreamAppend { stream, entry } => wal
            .stream(*stream)
            .append(entry)
            .map(|i| expect_indexes("Stream::append", &[i], unit)),
        Op::StreamAppendAt {
            stream,
            first,
            entries,
        } => wal.stream(*stream).append_at(*first, entries).map(|i| {
            let last = unit.last().map(std::slice::from_ref).unwrap_or_default();
            expect_indexes("Stream::append_at (last)", &[i], last)
        }),
        Op::StreamBatch(es) => wal
            .append_streams(es)
            .map(|got| expect_indexes("Wal::append_streams", &got, unit)),
        Op::StreamPurge { stream, below } => wal.stream(*stream).purge_below(*below).map(Ok),
        Op::StreamTruncate { stream, from } => wal.stream(*stream).truncate_from(*from).map(Ok),
        _ => return Err(format!("not an operation on streams: {op:?}")),
    };
    match result {
        Ok(checked) => {
            checked?;
            model.ack_streams(n);
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// [`Op::StreamSubmit`]: each entry submitted (one unit each), then each
/// waited for.
fn stream_submit(
    wal: &Wal,
    entries: &[(u64, Vec<u8>)],
    units: Vec<Vec<StreamRecord>>,
    model: &mut Model,
    waits: &mut Waits,
) -> Step {
    let mut pending = Vec::new();
    let mut failure = None;
    for ((stream, entry), unit) in entries.iter().zip(units) {
        let n = model.push_streams(unit.clone())?;
        match wal.stream(*stream).submit(entry) {
            Ok(h) => {
                expect_indexes("Stream::submit", &[h.index()], &unit)?;
                pending.push((n, h));
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    for (n, h) in pending {
        let lsn = h.lsn().get();
        match h.wait() {
            Ok(_) => {
                model.ack_streams(n);
                waits.push((lsn, true));
            }
            Err(e) => {
                waits.push((lsn, false));
                failure.get_or_insert(e);
            }
        }
    }
    match failure {
        Some(e) => Ok(Err(e)),
        None => Ok(Ok(())),
    }
}
