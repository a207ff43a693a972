//! Random operations on a log on the simulated disk, held to wal-torture's
//! model (`wal_torture::model::Model`) after every crash and reopen:
//!
//! 1. every acknowledged record comes back bit-exact (payload and kind), in
//!    LSN order, as a gap-free prefix of what was submitted (truncations
//!    modelled: records cut by `truncate_from` never return), starting at
//!    LSN 1 or at most at the last purge point, and no batch is half there;
//! 2. recovering twice gives the same result, and appending after recovery
//!    works and reads back (`wal_torture::verify::verify`);
//! 3. every operation succeeds (the disk injects no faults), hands out the
//!    LSNs the model expects, and after a clean close everything submitted
//!    (unsynced appends included) is recovered.
//!
//! A violation panics with what was wrong.
//!
//! The log runs with wal-torture's options (`Plan::options`): 16 KiB
//! segments, so it rotates, and 1536-byte fragments.
//!
//! Input: a flags byte (bit 0 encryption, bit 1 compression, bit 2 spare
//! segments recycled), then at most `MAX_OPS` operations, each an opcode
//! byte (taken modulo 8) and its argument bytes (missing bytes read as 0):
//!
//! - 0 `append`, 1 size byte: one record (bit 7 of the size byte set:
//!   `append_unsynced`, acknowledged only by a later sync);
//! - 1 `append_batch`, 1 count byte, then `2 + count % 3` size bytes;
//! - 2 `checkpoint`, no argument;
//! - 3 purge (`purge_below` the last checkpoint, skipped without one);
//! - 4 `truncate_from`, 1 byte `n`: the first LSN of the `1 + n % 3`-th last
//!   record or batch (skipped if at or below a purge point);
//! - 5 `sync`, no argument;
//! - 6 crash, 1 byte: `% 4` is the post-crash state (0 the process dies,
//!   the page cache survives; 1, 2, 3 a power loss, each unsynced sector kept
//!   or lost at random, lost ones old, zeroed or garbage:
//!   `wal_torture::crash::variant`), the whole byte seeds the random
//!   choices; then recover and check;
//! - 7 reopen: clean close, then recover and check.
//!
//! Crashes and reopens past `MAX_RECOVERIES` are skipped (each recovers the
//! log three times, which is what an input's time goes to).
//!
//! A size byte: bits 0-1 the class (0 tiny, 0-23 bytes; 1 about 1 KiB;
//! 2 larger than a fragment, so it is split; 3 one fragment give or take a
//! few bytes), bits 2-5 the length within the class, bit 6 compressible
//! (one repeated byte) rather than noise. Each payload names the record's
//! number in the run, so a record cut off never matches its LSN's successor.
//! Past `MAX_BYTES` of payloads every payload is tiny.
//!
//! At the end the log is closed cleanly, recovered and checked once more.
//!
//! A crash forks the disk as the process left it. With unsynced appends
//! the log's I/O thread may or may not have written them by then (timing),
//! so such an input can reach different post-crash states on different
//! runs; the model allows every one of them.

#![no_main]

use std::sync::Arc;

use groupwal::io::Storage;
use groupwal::io::sim::SimStorage;
use groupwal::{Lsn, Wal};
use libfuzzer_sys::fuzz_target;
use wal_torture::Plan;
use wal_torture::crash::variant;
use wal_torture::model::Model;
use wal_torture::verify::verify;
use wal_torture::workload::{DIR, FRAGMENT_SIZE};

/// At most this many operations per input.
const MAX_OPS: usize = 48;

/// At most this many crashes and reopens per input (each recovers the log
/// three times); later ones are skipped.
const MAX_RECOVERIES: usize = 4;

/// Payload bytes per input: past this, every payload is tiny (keeps an
/// input's run short).
const MAX_BYTES: usize = 64 * 1024;

/// The input, one byte at a time (0 past the end).
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
}

/// A payload for size byte `size`, naming record `n` of the run.
fn payload(size: u8, n: u64) -> Vec<u8> {
    let step = u64::from((size >> 2) & 0x0f);
    let fragment = FRAGMENT_SIZE as u64;
    let len = match size & 3 {
        0 => step * 23 / 15,
        1 => 700 + step * 40,
        2 => fragment + 1 + step * (2 * fragment) / 15,
        _ => fragment - 8 + step,
    } as usize;
    let mut p = format!("#{n}:").into_bytes();
    if size & 0x40 != 0 {
        p.resize(len.max(p.len()), b'a' + (n % 26) as u8);
    } else {
        // xorshift noise, seeded by the record number.
        let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        while p.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p.push(x as u8);
        }
    }
    // A tiny class may ask for fewer bytes than the name takes: the name
    // stays, it is what tells records apart.
    p
}

/// The log under test, the disk it is on, and the model.
struct Run {
    plan: Plan,
    sim: SimStorage,
    wal: Option<Wal>,
    model: Model,
    /// Records made so far (names payloads).
    made: u64,
    /// Crashes and reopens so far.
    recoveries: usize,
    /// Payload bytes submitted so far.
    bytes: usize,
}

impl Run {
    fn wal(&self) -> &Wal {
        self.wal
            .as_ref()
            .expect("the log is open between operations")
    }

    fn open(&mut self) {
        let options = self
            .plan
            .options(Arc::new(self.sim.clone()) as Arc<dyn Storage>);
        let (wal, report) = Wal::open(DIR, &options)
            .unwrap_or_else(|e| panic!("opening the log failed: {e} ({e:?})"));
        let want = self.model.next_lsn() - 1;
        assert_eq!(
            report.last_lsn.get(),
            want,
            "reopened after a check: the last lsn is {}, the model says {want}",
            report.last_lsn
        );
        self.wal = Some(wal);
    }

    fn expect(&self, what: &str, got: Lsn, want: u64) {
        assert_eq!(
            got.get(),
            want,
            "{what} got lsn {got}, the model expected {want}"
        );
    }

    fn next_payload(&mut self, size: u8) -> Vec<u8> {
        self.made += 1;
        let size = if self.bytes >= MAX_BYTES {
            size & !3
        } else {
            size
        };
        let p = payload(size, self.made);
        self.bytes += p.len();
        p
    }

    fn append(&mut self, size: u8) {
        let p = self.next_payload(size);
        let (first, _) = self.model.push(std::slice::from_ref(&p), false);
        if size & 0x80 != 0 {
            let lsn = self
                .wal()
                .append_unsynced(&p)
                .unwrap_or_else(|e| panic!("append_unsynced failed: {e} ({e:?})"));
            self.expect("append_unsynced", lsn, first);
        } else {
            let lsn = self
                .wal()
                .append(&p)
                .unwrap_or_else(|e| panic!("append failed: {e} ({e:?})"));
            self.expect("append", lsn, first);
            // A durable append makes everything before it durable too.
            self.model.ack(first);
        }
    }

    fn batch(&mut self, sizes: &[u8]) {
        let ps: Vec<Vec<u8>> = sizes.iter().map(|&s| self.next_payload(s)).collect();
        let (first, last) = self.model.push(&ps, false);
        let (a, b) = self
            .wal()
            .append_batch(&ps)
            .unwrap_or_else(|e| panic!("append_batch failed: {e} ({e:?})"));
        self.expect("append_batch (first)", a, first);
        self.expect("append_batch (last)", b, last);
        self.model.ack(last);
    }

    fn checkpoint(&mut self) {
        self.made += 1;
        let p = format!("checkpoint #{}", self.made).into_bytes();
        let (first, _) = self.model.push(std::slice::from_ref(&p), true);
        let lsn = self
            .wal()
            .checkpoint(&p)
            .unwrap_or_else(|e| panic!("checkpoint failed: {e} ({e:?})"));
        self.expect("checkpoint", lsn, first);
        self.model.ack(first);
        self.model.checkpointed(first);
    }

    fn purge(&mut self) {
        if let Some(p) = self.model.last_checkpoint() {
            self.model.purging(p);
            self.wal()
                .purge_below(Lsn::new(p))
                .unwrap_or_else(|e| panic!("purge_below({p}) failed: {e} ({e:?})"));
        }
    }

    fn truncate(&mut self, n: usize) {
        if let Some(t) = self.model.truncation_point(n) {
            self.model.truncating(t);
            let next = self
                .wal()
                .truncate_from(Lsn::new(t))
                .unwrap_or_else(|e| panic!("truncate_from({t}) failed: {e} ({e:?})"));
            self.expect("truncate_from (next)", next, t);
            self.model.truncated(t);
        }
    }

    fn sync(&mut self) {
        let durable = self
            .wal()
            .sync()
            .unwrap_or_else(|e| panic!("sync failed: {e} ({e:?})"));
        let submitted = self.model.next_lsn() - 1;
        assert!(
            durable.get() >= submitted,
            "sync returned durable lsn {durable}, {submitted} were submitted"
        );
        self.model.ack(submitted);
    }

    /// Recovers the disk as it is, checks it against the model, and builds
    /// on it: the probe record `verify` appends joins the history.
    fn check(&mut self, what: &str) {
        self.made += 1;
        let probe = format!("probe #{}", self.made).into_bytes();
        let found = verify(&self.plan, &self.sim, &self.model, &probe)
            .unwrap_or_else(|e| panic!("VIOLATION after {what}: {e}"));
        self.model.rebase(found.last);
        let (lsn, _) = self.model.push(std::slice::from_ref(&probe), false);
        assert_eq!(
            found.probe, lsn,
            "after {what}: the probe got lsn {}, the model expected {lsn}",
            found.probe
        );
        self.model.ack(lsn);
        self.open();
    }

    fn crash(&mut self, how: u8) {
        // The disk as the process left it; the old log shuts down on the
        // old disk, which is dropped.
        let disk = self.sim.fork();
        drop(self.wal.take());
        variant(&disk, &self.plan, u64::from(how), u32::from(how % 4));
        self.sim = disk;
        let what = match how % 4 {
            0 => "a process crash",
            1 => "a power loss (lost sectors old)",
            2 => "a power loss (lost sectors zeroed)",
            _ => "a power loss (lost sectors garbage)",
        };
        self.check(what);
    }

    fn reopen(&mut self, what: &str) {
        let wal = self.wal.take().expect("the log is open");
        wal.close()
            .unwrap_or_else(|e| panic!("closing the log failed: {e} ({e:?})"));
        // A clean close syncs everything, unsynced appends included.
        self.model.ack(self.model.next_lsn() - 1);
        self.check(what);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes { data };
    let flags = input.next();
    let plan = Plan {
        seed: u64::from(flags),
        ops: MAX_OPS,
        encryption: flags & 1 != 0,
        compression: flags & 2 != 0,
        recycling: flags & 4 != 0,
        concurrent: false,
    };
    let mut run = Run {
        plan,
        sim: SimStorage::new(u64::from(flags)),
        wal: None,
        model: Model::default(),
        made: 0,
        recoveries: 0,
        bytes: 0,
    };
    run.open();
    for _ in 0..MAX_OPS {
        if input.data.is_empty() {
            break;
        }
        match input.next() % 8 {
            0 => {
                let size = input.next();
                run.append(size);
            }
            1 => {
                let n = 2 + usize::from(input.next() % 3);
                let sizes: Vec<u8> = (0..n).map(|_| input.next() & 0x7f).collect();
                run.batch(&sizes);
            }
            2 => run.checkpoint(),
            3 => run.purge(),
            4 => {
                let n = 1 + usize::from(input.next() % 3);
                run.truncate(n);
            }
            5 => run.sync(),
            6 => {
                let how = input.next();
                if run.recoveries < MAX_RECOVERIES {
                    run.recoveries += 1;
                    run.crash(how);
                }
            }
            _ => {
                if run.recoveries < MAX_RECOVERIES {
                    run.recoveries += 1;
                    run.reopen("a clean close and reopen");
                }
            }
        }
    }
    run.reopen("the final clean close");
    run.wal
        .take()
        .expect("open after the final check")
        .close()
        .expect("closing after the final check");
});
