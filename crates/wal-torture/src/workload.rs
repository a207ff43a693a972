//! The workload: a list of operations generated from a seed, and the
//! runner that applies it to a log while the [`Model`] follows what was
//! submitted and acknowledged.
//!
//! The operations are issued from one thread, one at a time (the log's own
//! I/O thread does the writing). That is a choice: with one caller the
//! sequence of storage calls is the same on every run, so a crash point
//! (the index of a storage call) names the same moment on every run and a
//! failure replays exactly. Concurrency inside a group is still exercised:
//! a batch is several records in one group, and plans with
//! [`Plan::concurrent`] (used by the fault explorer, where a failed group
//! must fail every waiter) submit several records before waiting for any.

use std::fmt;
use std::sync::Arc;

use groupwal::crypto::{Key, Keyring};
use groupwal::format::KeyId;
use groupwal::io::Storage;
use groupwal::{Lsn, Wal, WalOptions};

use crate::model::Model;
use crate::rng::Rng;

/// The directory of the log on the simulated disk.
pub const DIR: &str = "/torture/wal";

/// Segment size: small, so a workload rotates several times.
pub const SEGMENT_SIZE: u64 = 16 * 1024;

/// Fragment size: records larger than this are split.
pub const FRAGMENT_SIZE: usize = 1536;

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
            .prepare_in_background(self.concurrent);
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

/// One operation of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Wal::append`.
    Append(Vec<u8>),
    /// `Wal::append_batch`.
    Batch(Vec<Vec<u8>>),
    /// `Wal::checkpoint`.
    Checkpoint(Vec<u8>),
    /// `Wal::truncate_below` the last checkpoint (skipped without one).
    Purge,
    /// `Wal::truncate_from` the first LSN of the n-th last unit (record or
    /// batch), if it lies above every purge point (else skipped).
    TruncateBack(usize),
    /// `Wal::submit` of each record, then a wait for each.
    Submit(Vec<Vec<u8>>),
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
    rng.fill(p, len, compressible.then_some(b'a' + (op % 8) as u8))
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
                if let Err(e) = wal.truncate_below(Lsn::new(p)) {
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
                        failure.get_or_insert(e.into());
                    }
                }
            }
            if let Some(e) = failure {
                return Ok(Err(e));
            }
        }
    }
    Ok(Ok(()))
}
