//! The bit-rot campaign's workloads: several sessions (`Wal::open` ...
//! close) on one simulated disk, each a few operations (appends, atomic
//! batches, pipelined appends) of records tiny, of about 1 KiB, or larger
//! than a fragment; one batch of 40–64 KiB, larger than a 16 KiB segment
//! (it gets a segment of its own); encryption and compression from the
//! seed's low bits; in one plan in four, stream records among them
//! ([`BitrotPlan::streams`]: entries of two streams, batches across
//! them, purges and truncations). Every record is acknowledged before the
//! image is taken.
//! The layout of the image is the same on every run (pipelined appends
//! are grouped deterministically, see [`Op::Pipelined`]); with encryption,
//! the ciphertext differs (segment key seeds come from the OS).

use std::fmt;
use std::sync::Arc;

use groupwal::io::Storage;
use groupwal::io::sim::{HaltingStorage, SimStorage};
use groupwal::{RecoveryMode, Wal, WalOptions};

use super::image::Image;
use super::oracle::Acked;
use crate::model::{Model, StreamSet};
use crate::rng::{self, Rng, mix};
use crate::workload::{self, DIR, FRAGMENT_SIZE, Plan, Workload};

/// How the last session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ending {
    /// Closed cleanly: the `CLEAN` marker is there, and is evidence that
    /// every record was acknowledged.
    Clean,
    /// The process died right after the last acknowledgement: the last
    /// session runs on a `HaltingStorage`, which refuses every mutating
    /// call from the first one after the last acknowledgement on (so the
    /// close writes nothing, no `CLEAN` marker), and the `Wal` is dropped.
    /// Everything written was synced (acknowledged), so the page cache
    /// and the disk agree: this is what a process crash, or a power loss,
    /// at that moment leaves. (Removing `CLEAN` from a cleanly closed
    /// image would model a crash inside the close instead, after its
    /// final sync, which may have written more than the workload did.)
    Crash,
}

impl Ending {
    /// The ending's name in a case.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Ending::Clean => "clean",
            Ending::Crash => "crash",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Ending> {
        match s {
            "clean" => Some(Ending::Clean),
            "crash" => Some(Ending::Crash),
            _ => None,
        }
    }
}

/// One bit-rot workload: everything follows from the seed (bit 0:
/// encryption, bit 1: compression, bits 2 and 3 `01`: stream records) and
/// the ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BitrotPlan {
    /// The seed.
    pub seed: u64,
    /// How the last session ended.
    pub ending: Ending,
}

impl fmt::Display for BitrotPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bit rot seed {:#x}, {} ending, {}encryption, {}compression{}",
            self.seed,
            self.ending.name(),
            if self.encryption() { "" } else { "no " },
            if self.compression() { "" } else { "no " },
            if self.streams() { ", streams" } else { "" },
        )
    }
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `Wal::append` (a group of its own).
    Append(Vec<u8>),
    /// `Wal::append_batch`.
    Batch(Vec<Vec<u8>>),
    /// `Wal::submit` of each, then `Pending::wait` of each; grouped
    /// `[first]`, `[the rest]` on every run.
    ///
    /// The committer takes every queued request as one group once the
    /// previous group's sync returns, so how many of several pipelined
    /// submits make the first group would depend on when it wakes up.
    /// Instead the disk holds the next file sync
    /// ([`SimStorage::hold_syncs`]): the first record is submitted, the
    /// committer is parked inside its group's sync (a handshake on a
    /// condition variable, not a sleep), the rest are submitted, and the
    /// sync is released.
    Pipelined(Vec<Vec<u8>>),
    /// An operation on streams ([`workload::Op`]'s `Stream*` variants:
    /// appends, batches across streams, purges and truncations that leave
    /// every stream an entry).
    Streams(workload::Op),
}

impl BitrotPlan {
    /// The plan of `seed` with `ending`.
    #[must_use]
    pub fn new(seed: u64, ending: Ending) -> Self {
        BitrotPlan { seed, ending }
    }

    /// Payloads encrypted.
    #[must_use]
    pub fn encryption(&self) -> bool {
        self.seed & 1 == 1
    }

    /// Payloads compressed.
    #[must_use]
    pub fn compression(&self) -> bool {
        self.seed & 2 == 2
    }

    /// Stream records among the plain ones: seeds whose bits 2 and 3 are
    /// `01`, one in four.
    #[must_use]
    pub fn streams(&self) -> bool {
        (self.seed >> 2) & 3 == 1
    }

    /// The log options (those of the crash campaign's [`Plan::options`]:
    /// 16 KiB segments, 1536-byte fragments, 64 KiB groups and records,
    /// keys; no recycling, spares prepared inline) on `storage`, recovering
    /// in `mode`.
    #[must_use]
    pub fn options(&self, storage: Arc<dyn Storage>, mode: RecoveryMode) -> WalOptions {
        let plan = Plan {
            seed: self.seed,
            ops: 0,
            encryption: self.encryption(),
            compression: self.compression(),
            recycling: false,
            concurrent: false,
        };
        let mut o = plan.options(storage);
        // Groups are synced by the thread that wrote them: with the sync
        // on a thread of its own, the records submitted while the disk
        // holds the first group's sync would be written as groups of
        // their own, as they arrive, and the layout of an image would
        // change from run to run.
        o.recovery_mode(mode).pipelined_sync(false);
        o
    }

    /// The sessions, each a list of operations.
    pub(crate) fn sessions(&self) -> Vec<Vec<Op>> {
        let mut rng = Rng::new(mix(&[self.seed, 0x6269_7472_6f74]));
        let sessions = rng.range(2, 4);
        let big = (rng.range(0, sessions - 1), rng.range(0, 4));
        // The streams as the operations so far leave them.
        let mut streams = StreamSet::default();
        (0..sessions)
            .map(|s| {
                let n = rng.range(5, 10);
                (0..n)
                    .map(|i| {
                        let tag = [self.seed, s, i];
                        if (s, i.min(n - 1)) == big {
                            return Op::Batch(big_batch(&mut rng, tag));
                        }
                        // A plain record first: then no purge of a stream
                        // removes a segment (plain records keep them all)
                        // and the image holds every record written.
                        if self.streams() && (s, i) != (0, 0) && rng.percent(55) {
                            let op = stream_op(&mut rng, &streams, tag);
                            for unit in op.stream_units(&streams) {
                                for r in &unit {
                                    let _ = streams.apply(r);
                                }
                            }
                            return Op::Streams(op);
                        }
                        match rng.range(0, 99) {
                            0..=44 => Op::Append(payload(&mut rng, tag, 0)),
                            45..=69 => Op::Batch(
                                (0..rng.range(2, 4))
                                    .map(|j| payload(&mut rng, tag, j))
                                    .collect(),
                            ),
                            _ => Op::Pipelined(
                                (0..rng.range(2, 5))
                                    .map(|j| payload(&mut rng, tag, j))
                                    .collect(),
                            ),
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// The streams a bit-rot workload writes to.
const STREAMS: [u64; 2] = [1, 1 << 40];

/// An operation on streams in state `streams`: an append, a batch across
/// streams, or a purge or truncation that leaves the stream an entry.
fn stream_op(rng: &mut Rng, streams: &StreamSet, tag: [u64; 3]) -> workload::Op {
    let pick = |rng: &mut Rng| {
        STREAMS
            .get(rng.range(0, STREAMS.len() as u64 - 1) as usize)
            .copied()
            .unwrap_or(1)
    };
    // A stream with two entries or more, with its first and last index.
    let spans: Vec<(u64, u64, u64)> = streams
        .0
        .iter()
        .filter_map(|(&id, s)| Some((id, s.first()?, s.last()?)))
        .filter(|&(_, first, last)| first < last)
        .collect();
    let span = match spans.len() as u64 {
        0 => None,
        n => spans.get(rng.range(0, n - 1) as usize).copied(),
    };
    match (rng.range(0, 99), span) {
        (0..=29, _) | (55.., None) => workload::Op::StreamAppend {
            stream: pick(rng),
            entry: payload(rng, tag, 0),
        },
        (30..=54, _) => workload::Op::StreamBatch(
            (0..rng.range(2, 4))
                .map(|j| (pick(rng), payload(rng, tag, j)))
                .collect(),
        ),
        (55..=79, Some((stream, first, last))) => workload::Op::StreamTruncate {
            stream,
            from: rng.range(first + 1, last),
        },
        (_, Some((stream, first, last))) => workload::Op::StreamPurge {
            stream,
            below: rng.range(first + 1, last),
        },
    }
}

/// A payload naming its seed, session, operation and index: tiny, about
/// 1 KiB, or larger than a fragment; compressible or not.
fn payload(rng: &mut Rng, [seed, s, i]: [u64; 3], j: u64) -> Vec<u8> {
    let len = match rng.range(0, 99) {
        0..=34 => rng.range(0, 24),
        35..=74 => rng.range(700, 1300),
        _ => rng.range(FRAGMENT_SIZE as u64 + 1, 3 * FRAGMENT_SIZE as u64),
    } as usize;
    let compressible = rng.percent(50);
    fill(rng, format!("{seed:x}/{s}/{i}/{j}:"), len, compressible)
}

/// A batch of 4 to 6 records of 40 to 64 KiB in all (incompressible, so
/// that it stays larger than a segment when compressed).
fn big_batch(rng: &mut Rng, [seed, s, i]: [u64; 3]) -> Vec<Vec<u8>> {
    let n = rng.range(4, 6);
    let total = rng.range(40 * 1024, 64 * 1024);
    (0..n)
        .map(|j| {
            fill(
                rng,
                format!("{seed:x}/{s}/{i}/{j}:"),
                (total / n) as usize,
                false,
            )
        })
        .collect()
}

fn fill(rng: &mut Rng, prefix: String, len: usize, compressible: bool) -> Vec<u8> {
    rng::fill(
        rng,
        prefix.into_bytes(),
        len,
        compressible.then_some(b'a' + (len % 16) as u8),
    )
}

/// The image a workload left, and the records it acknowledged (that of
/// LSN `i + 1` at index `i`: every record submitted was acknowledged).
pub(crate) struct Built {
    pub(crate) image: Image,
    pub(crate) acked: Vec<Acked>,
}

fn expect_lsn(
    what: &str,
    got: groupwal::Lsn,
    acked: &[Acked],
    offset: usize,
) -> Result<(), String> {
    let want = (acked.len() + offset + 1) as u64;
    if got.get() == want {
        Ok(())
    } else {
        Err(format!("{what} got lsn {got}, expected {want}"))
    }
}

/// Runs one operation on a log on `disk`; every record of it is
/// acknowledged when it returns. `streams` follows the stream units.
fn step(
    wal: &Wal,
    disk: &SimStorage,
    op: &Op,
    streams: &mut Model,
    acked: &mut Vec<Acked>,
) -> Result<(), String> {
    let failed = |what: &str, e: &dyn fmt::Debug| format!("{what} failed: {e:?}");
    let data = |ps: &[Vec<u8>]| ps.iter().cloned().map(Acked::data).collect::<Vec<_>>();
    match op {
        Op::Append(p) => {
            let lsn = wal.append(p).map_err(|e| failed("append", &e))?;
            expect_lsn("append", lsn, acked, 0)?;
            acked.push(Acked::data(p.clone()));
        }
        Op::Streams(op) => {
            let units = op.stream_units(streams.streams());
            let mut waits = Vec::new();
            workload::stream_step(wal, op, streams, &mut waits)?
                .map_err(|e| failed(&format!("{op:?}"), &e))?;
            acked.extend(units.iter().flatten().map(Acked::stream));
            // The operation wrote its records and nothing else.
            expect_lsn("the next append", wal.next_lsn(), acked, 0)?;
        }
        Op::Batch(ps) => {
            let (first, last) = wal
                .append_batch(ps)
                .map_err(|e| failed("append_batch", &e))?;
            expect_lsn("append_batch (first)", first, acked, 0)?;
            expect_lsn(
                "append_batch (last)",
                last,
                acked,
                ps.len().saturating_sub(1),
            )?;
            acked.extend(data(ps));
        }
        Op::Pipelined(ps) => {
            // The first record alone, the committer held in its sync while
            // the rest queue up: groups [first] and [rest] (see `Op`).
            let mut pending = Vec::new();
            let held = disk.hold_syncs();
            for (k, p) in ps.iter().enumerate() {
                let h = wal.submit(p).map_err(|e| failed("submit", &e))?;
                expect_lsn("submit", h.lsn(), acked, k)?;
                pending.push(h);
                if k == 0 {
                    held.wait_parked();
                }
            }
            drop(held);
            for (k, h) in pending.into_iter().enumerate() {
                let lsn = h.wait().map_err(|e| failed("wait", &e))?;
                expect_lsn("wait", lsn, acked, k)?;
            }
            acked.extend(data(ps));
        }
    }
    Ok(())
}

/// Runs the workload's sessions on a fresh disk and takes the image.
pub(crate) fn build(plan: &BitrotPlan) -> Result<Built, String> {
    let sim = SimStorage::new(plan.seed);
    let sessions = plan.sessions();
    let mut acked = Vec::new();
    let mut streams = Model::new(Workload::Streams);
    for (i, ops) in sessions.iter().enumerate() {
        let crash = plan.ending == Ending::Crash && i + 1 == sessions.len();
        let halting = HaltingStorage::new(Arc::new(sim.clone()));
        let storage: Arc<dyn Storage> = if crash {
            Arc::new(halting.clone())
        } else {
            Arc::new(sim.clone())
        };
        let options = plan.options(storage, RecoveryMode::default());
        let (wal, report) =
            Wal::open(DIR, &options).map_err(|e| format!("opening session {i}: {e} ({e:?})"))?;
        if report.next_lsn.get() != acked.len() as u64 + 1 || report.dropped_anything() {
            return Err(format!(
                "session {i} opened at lsn {} after {} acknowledged records, or dropped something: {:?}",
                report.next_lsn,
                acked.len(),
                report.losses()
            ));
        }
        for (k, op) in ops.iter().enumerate() {
            step(&wal, &sim, op, &mut streams, &mut acked)
                .map_err(|e| format!("session {i}, operation {k}: {e}"))?;
        }
        if crash {
            // The process dies here: no mutating call after the last
            // acknowledgement reaches the disk.
            halting.halt_at(halting.calls_made());
            drop(wal);
            sim.crash_process();
        } else {
            wal.close()
                .map_err(|e| format!("closing session {i}: {e} ({e:?})"))?;
        }
    }
    Ok(Built {
        image: Image::take(&sim)?,
        acked,
    })
}

#[cfg(test)]
mod tests {
    use groupwal::format::RecordType;

    use super::*;
    use crate::bitrot::image;

    /// The LSNs of each commit group of `plan`'s image, in order, each
    /// with whether it is the last of its segment.
    fn groups(plan: &BitrotPlan) -> Vec<(Vec<u64>, bool)> {
        let built = build(plan).unwrap();
        let listing = image::list(&built.image, built.acked.len() as u64).unwrap();
        let mut out: Vec<(Vec<u64>, bool)> = Vec::new();
        for seg in &listing.segments {
            let first = out.len();
            for r in &seg.records {
                match r.ty {
                    RecordType::Commit => out.push((Vec::new(), false)),
                    RecordType::Full | RecordType::First => {
                        out.last_mut().unwrap().0.push(r.lsn);
                    }
                    _ => {}
                }
            }
            if out.len() > first
                && let Some(last) = out.last_mut()
            {
                last.1 = true;
            }
        }
        out
    }

    /// `groups`, with each group the end of a segment cut short joined to
    /// the next where `planned` has them as one: the committer fills what
    /// is left of a segment and writes the rest of the requests in the
    /// next one.
    fn joined(groups: Vec<(Vec<u64>, bool)>, planned: &[Vec<u64>]) -> Vec<Vec<u64>> {
        let mut out: Vec<Vec<u64>> = Vec::new();
        let mut cut = false;
        for (group, ends_segment) in groups {
            let i = out.len();
            match out.last_mut() {
                Some(last) if cut && planned.get(i - 1).is_some_and(|p| p.len() > last.len()) => {
                    last.extend(group);
                }
                _ => out.push(group),
            }
            cut = ends_segment;
        }
        out
    }

    /// The groups the operations of `plan` must make: one per append and
    /// per batch, `[first]` and `[the rest]` per pipelined operation.
    fn planned(plan: &BitrotPlan) -> Vec<Vec<u64>> {
        let mut next = 1u64;
        let mut take = |n: usize| {
            let lsns: Vec<u64> = (next..next + n as u64).collect();
            next += n as u64;
            lsns
        };
        let mut out = Vec::new();
        for op in plan.sessions().iter().flatten() {
            match op {
                Op::Append(_) => out.push(take(1)),
                Op::Batch(ps) => out.push(take(ps.len())),
                Op::Pipelined(ps) => {
                    out.push(take(1));
                    out.push(take(ps.len() - 1));
                }
                Op::Streams(op) => {
                    let n = match op {
                        crate::workload::Op::StreamBatch(es) => es.len(),
                        _ => 1,
                    };
                    out.push(take(n));
                }
            }
        }
        out
    }

    #[test]
    fn pipelined_appends_are_grouped_first_then_the_rest() {
        for seed in 0x7000..0x7004 {
            for ending in [Ending::Clean, Ending::Crash] {
                let plan = BitrotPlan::new(seed, ending);
                assert!(
                    plan.sessions()
                        .iter()
                        .flatten()
                        .any(|op| matches!(op, Op::Pipelined(_))),
                    "{plan}"
                );
                let planned = planned(&plan);
                assert_eq!(joined(groups(&plan), &planned), planned, "{plan}");
            }
        }
    }
}
