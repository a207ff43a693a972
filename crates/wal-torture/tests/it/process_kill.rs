//! Process kills on the real file system, through the facade
//! ([`wal_torture::kill`] runs the child and kills it).
//!
//! The test re-executes its own binary as the child (filtered to this
//! test, told by `GROUPWAL_KILL_CHILD` that it is the child). The child
//! opens a log in a temporary directory with small segments and fragments,
//! appends from several threads (single records of mixed sizes, some
//! longer than a fragment, atomic batches, and now and then a checkpoint
//! followed by `purge_below` at it), and writes every acknowledgement to its
//! standard output, flushed, as soon as the call returns. The parent reads
//! the pipe and after a seeded random number of acknowledgements (or as
//! soon as the child starts or has opened the log, so that the kill lands
//! in recovery, or as soon as it says it is about to purge, so that the
//! kill lands in the purge) sends SIGKILL, then reopens the directory and
//! checks the oracle:
//!
//! - every acknowledged record, and every record an earlier cycle
//!   recovered, comes back bit-exact at its LSN (unless a purge the child
//!   asked for took it), with its kind;
//! - what comes back is gap-free from the first LSN, and every record in it
//!   is one that was submitted: its payload names its cycle, writer,
//!   sequence number and place in its batch, and the whole payload must be
//!   the one derived from those; the unacknowledged operations that
//!   survive are, for each writer, those right after its last acknowledged
//!   one, at most one (up to eight for the writer that submits up to eight
//!   records before it waits);
//! - no batch is half there, no record is there twice;
//! - the purge only ever removes records below an LSN it was asked for, and
//!   a purge that reported removing segments did;
//! - opening twice gives the same records; appending after recovery works,
//!   at the next LSN.
//!
//! The next cycle's child reopens the same directory, so recovery runs on
//! recovered logs. In one cycle of four the parent does not check: the
//! next child recovers the log straight after the kill (and may be killed
//! in that recovery, which then has a torn tail to cut), and the next
//! check covers every cycle since the last one. A child's own recovery
//! report is checked too: after a check it must find exactly the log the
//! parent closed; after a kill, at least everything acknowledged; and what
//! it recovered must still be there at the next check. Sync modes and
//! preallocation vary from cycle to cycle: `Data` (the default) in half the
//! cycles, `None`, `All`, `Dsync` in one in ten each, `Direct` in one in
//! five where the file system takes `O_DIRECT` (else `Data`).
//!
//! What this does not test: power loss. A SIGKILL loses only what the
//! process had not yet handed to the kernel; the page cache survives it,
//! so even `SyncMode::None` must keep every acknowledged record here. This
//! checks that an acknowledgement is never given early and that recovery
//! copes with the process stopping at an arbitrary point (in the middle of
//! a write, a rotation, a purge, the preparation of a spare, or recovery
//! itself). Power loss is simulated on `SimStorage` elsewhere.
//!
//! `GROUPWAL_KILL_SEED` picks the seed (by default one is drawn from the
//! clock and printed); `GROUPWAL_KILL_CYCLES` the number of cycles (200 by
//! default). A failure names the seed and cycle; the seed replays the same
//! kill counts, sync modes and workloads, though where exactly in the
//! child's work the kill lands depends on timing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use groupwal::io::sim::SplitMix64;
use groupwal::{LogicalKind, Lsn, Preallocation, SyncMode, Wal, WalOptions};
use wal_torture::kill::{KillAt, KillTest, fail_child, say};

/// The child's spec (`GROUPWAL_KILL_CHILD`): its cycle, the seed, and
/// indexes of its sync mode, preallocation, log (plain or transformed) and
/// read window.
const TEST: KillTest = KillTest {
    test: "process_kill::acknowledged_records_survive_sigkill",
    env: "GROUPWAL_KILL",
    default_cycles: 200,
    opens: 1,
    // Single records and checkpoints, batches.
    acks: &["A", "B"],
};
/// Appending threads in the child.
const WRITERS: u64 = 4;
/// The writer that submits several records before it waits (the others
/// have one operation in flight), and how many at most.
const PIPELINED: u64 = WRITERS - 1;
const MAX_PIPELINE: u64 = 8;
/// The writer number of the record the parent appends after recovery.
const PARENT: u64 = 99;
/// The most acknowledgements a child gets before the kill.
const MAX_ACKS: u64 = 120;

/// `Direct` only where the file system takes `O_DIRECT` (see
/// [`direct_works`]).
const SYNC_MODES: [SyncMode; 5] = [
    SyncMode::Data,
    SyncMode::None,
    SyncMode::All,
    SyncMode::Dsync,
    SyncMode::Direct,
];
const PREALLOCATIONS: [Preallocation; 3] = [
    Preallocation::ZeroFill,
    Preallocation::None,
    Preallocation::Allocate,
];

/// What a record is: everything its payload is derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Id {
    /// `a` a single append, `b` part of a batch, `c` a checkpoint, `p` the
    /// parent's append after recovery.
    tag: u8,
    cycle: u64,
    writer: u64,
    seq: u64,
    /// Place in its batch, and the batch's length (0 of 1 outside batches).
    idx: u64,
    of: u64,
}

impl Id {
    fn one(tag: u8, cycle: u64, writer: u64, seq: u64) -> Id {
        Id {
            tag,
            cycle,
            writer,
            seq,
            idx: 0,
            of: 1,
        }
    }

    fn kind(&self) -> LogicalKind {
        if self.tag == b'c' {
            LogicalKind::Checkpoint
        } else {
            LogicalKind::Data
        }
    }

    /// The payload: a header naming the record, then bytes derived from
    /// it. Lengths are mixed: mostly short, some up to a fragment, one in
    /// ten longer than a fragment (checkpoints and the parent's records are
    /// short).
    fn payload(&self) -> Vec<u8> {
        let h = [self.cycle, self.writer, self.seq, self.idx, self.of]
            .iter()
            .fold(u64::from(self.tag), |h, &x| SplitMix64::mix(h ^ x));
        let r = (h >> 40) % 100;
        let len = match (self.tag, r) {
            (b'c' | b'p', _) | (_, 0..60) => 16 + (h % 300),
            (_, 60..90) => 300 + (h % 1700),
            _ => 2000 + (h % 7000),
        } as usize;
        let mut p = format!(
            "{}{}.{}.{}.{}/{};",
            char::from(self.tag),
            self.cycle,
            self.writer,
            self.seq,
            self.idx,
            self.of
        )
        .into_bytes();
        let header = p.len();
        // One payload in three compresses well, the others not at all.
        let repeat = h.is_multiple_of(3);
        let mut chunk = 0;
        while p.len() < len {
            chunk += 1;
            let word = if repeat {
                h
            } else {
                SplitMix64::mix(h ^ chunk)
            };
            p.extend_from_slice(&word.to_le_bytes());
        }
        p.truncate(len.max(header));
        p
    }

    /// The record a payload names, if the payload is exactly that record's.
    fn parse(payload: &[u8]) -> Option<Id> {
        let end = payload.iter().take(64).position(|&b| b == b';')?;
        let header = std::str::from_utf8(payload.get(..end)?).ok()?;
        let tag = *header.as_bytes().first()?;
        let rest = header.get(1..)?;
        let (rest, of) = rest.split_once('/')?;
        let mut n = rest.split('.').map(|s| s.parse::<u64>().ok());
        let id = Id {
            tag,
            cycle: n.next()??,
            writer: n.next()??,
            seq: n.next()??,
            idx: n.next()??,
            of: of.parse().ok()?,
        };
        (n.next().is_none() && b"abcp".contains(&tag) && id.payload() == payload).then_some(id)
    }
}

/// The log's options: small segments and fragments, so records are split
/// and segments rotate, are purged and recycled often.
/// With `transformed`, payloads are compressed (where that makes them
/// smaller) and encrypted. Readers and recovery read through a window of
/// `window` bytes (smaller than the largest records, so it grows, up to
/// larger than a segment).
fn options(
    sync: SyncMode,
    prealloc: Preallocation,
    transformed: bool,
    window: usize,
) -> WalOptions {
    let mut o = WalOptions::new();
    o.segment_size(16 * 1024)
        .read_buffer_size(window)
        .fragment_size(2000)
        .max_record_len(100_000)
        .sync_mode(sync)
        .preallocation(prealloc);
    if transformed {
        use groupwal::crypto::{Key, Keyring};
        use groupwal::format::KeyId;
        let keys = Keyring::new(KeyId::new(1), Key::from_bytes([7; 32])).unwrap();
        o.encryption(Arc::new(keys)).compression_level(Some(3));
    }
    o
}

/// Read windows, chosen per cycle.
const WINDOWS: [usize; 3] = [4096, 16 * 1024, 64 * 1024];

// ---------------------------------------------------------------- child

fn child(spec: &str) -> ! {
    let n: Vec<u64> = spec.split(' ').filter_map(|s| s.parse().ok()).collect();
    let [cycle, seed, sync, prealloc, transformed, window] = n[..] else {
        fail_child("bad spec", &spec);
    };
    let dir = TEST.child_dir();
    let o = options(
        SYNC_MODES[sync as usize],
        PREALLOCATIONS[prealloc as usize],
        transformed == 1,
        WINDOWS[window as usize],
    );
    say("S");
    let (wal, report) = Wal::open(&dir, &o).unwrap_or_else(|e| fail_child("open", &e));
    say(&format!(
        "O {} {}",
        report.first_lsn.get(),
        report.last_lsn.get()
    ));
    let wal = Arc::new(wal);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let wal = wal.clone();
            std::thread::spawn(move || child_writer(&wal, cycle, seed, w))
        })
        .collect();
    for w in writers {
        let _ = w.join();
    }
    fail_child("writers", &"stopped before the kill");
}

fn child_writer(wal: &Wal, cycle: u64, seed: u64, w: u64) {
    let mut rng = SplitMix64::new(SplitMix64::mix(
        seed ^ SplitMix64::mix(cycle ^ SplitMix64::mix(w)),
    ));
    let mut seq = 0;
    loop {
        let roll = rng.below(100);
        if w == 0 && roll < 12 {
            // A checkpoint, then the prefix it makes unnecessary goes.
            let lsn = wal
                .checkpoint(&Id::one(b'c', cycle, w, seq).payload())
                .unwrap_or_else(|e| fail_child("checkpoint", &e));
            say(&format!("A {} {w} {seq} c", lsn.get()));
            say(&format!("p {}", lsn.get()));
            let n = wal
                .purge_below(lsn)
                .unwrap_or_else(|e| fail_child("purge_below", &e));
            say(&format!("P {} {n}", lsn.get()));
        } else if roll < 20 {
            let of = 2 + rng.below(3);
            let batch: Vec<Vec<u8>> = (0..of)
                .map(|idx| {
                    Id {
                        tag: b'b',
                        cycle,
                        writer: w,
                        seq,
                        idx,
                        of,
                    }
                    .payload()
                })
                .collect();
            let (first, last) = wal
                .append_batch(&batch)
                .unwrap_or_else(|e| fail_child("append_batch", &e));
            say(&format!("B {} {} {w} {seq}", first.get(), last.get()));
        } else if w == PIPELINED && roll < 60 {
            // Several records in flight from one thread, appended without
            // a sync of their own; one `sync` then makes them durable (and
            // only then are they acknowledged).
            let n = 1 + rng.below(MAX_PIPELINE);
            let lsns: Vec<_> = (seq..seq + n)
                .map(|s| {
                    let lsn = wal.append_unsynced(&Id::one(b'a', cycle, w, s).payload());
                    (s, lsn.unwrap_or_else(|e| fail_child("append_unsynced", &e)))
                })
                .collect();
            let durable = wal.sync().unwrap_or_else(|e| fail_child("sync", &e));
            for (s, lsn) in lsns {
                if lsn > durable {
                    fail_child("sync", &format!("returned {durable} below {lsn}"));
                }
                say(&format!("A {} {w} {s} a", lsn.get()));
            }
            seq += n - 1;
        } else if w == PIPELINED {
            // Several records in flight from one thread: submit them all,
            // then wait for each in turn.
            let n = 1 + rng.below(MAX_PIPELINE);
            let pending: Vec<_> = (seq..seq + n)
                .map(|s| {
                    let p = wal.submit(&Id::one(b'a', cycle, w, s).payload());
                    (s, p.unwrap_or_else(|e| fail_child("submit", &e)))
                })
                .collect();
            for (s, p) in pending {
                let lsn = p.wait().unwrap_or_else(|e| fail_child("wait", &e));
                say(&format!("A {} {w} {s} a", lsn.get()));
            }
            seq += n - 1;
        } else {
            let lsn = wal
                .append(&Id::one(b'a', cycle, w, seq).payload())
                .unwrap_or_else(|e| fail_child("append", &e));
            say(&format!("A {} {w} {seq} a", lsn.get()));
        }
        seq += 1;
    }
}

// --------------------------------------------------------------- parent

/// What the parent knows about the log between cycles.
///
/// This oracle is not `wal-torture`'s model (`wal_torture::model::Model`,
/// the campaign's), and cannot be replaced by it. That model is addressed
/// by LSN: one thread submits, so every unit's LSN is known when it is
/// submitted (`Model::push`), and a recovered record is compared with the
/// one record submitted at its LSN. Here four threads of another process
/// submit at once, and the parent learns an LSN only from an
/// acknowledgement: an operation in flight at the kill has no known LSN,
/// and several writers' operations in flight may come back in any
/// interleaving. So this oracle goes by identity (a payload names its
/// cycle, writer, sequence number and place in its batch, and must be
/// exactly the one derived from them) and checks, where that model checks
/// that the unacknowledged records are the next units submitted, that
/// each writer's are the operations right after its last acknowledged
/// one, no more than it had in flight. Fed to that model, the LSNs of
/// those operations would have to come from the recovered log itself, so
/// it would compare the log with itself. It also checks what that model
/// has no notion of: several kills between checks (each child's own
/// recovery report against what the parent knew), a purge that reported
/// removing segments did remove some, no record twice, every batch whole
/// wherever it lies. Both check that the log is gap-free, that every
/// acknowledged record is back bit-exact with its kind, and that the log
/// starts no later than the highest purge point asked for; that model
/// alone covers truncation and streams, which this workload does not run.
#[derive(Default)]
struct Model {
    /// Records known to be in the log (acknowledged, or recovered by an
    /// earlier cycle), from `first` on.
    known: BTreeMap<u64, Id>,
    /// The first and last LSN after the last cycle (0 for an empty log).
    first: u64,
    last: u64,
    /// The highest LSN a purge was ever asked to remove below.
    purge_asked: u64,
    /// The cycles since the last check (the next child recovered the log
    /// its predecessor left when killed), with what their children said.
    unchecked: Vec<Heard>,
    /// The last LSN a child found when it opened the log since the last
    /// check: those records were recovered once and must stay.
    recovered_last: u64,
}

/// What one child reported before it died.
#[derive(Default)]
struct Heard {
    cycle: u64,
    opened: Option<(u64, u64)>,
    acked: Vec<(u64, Id)>,
    purges_asked: Vec<u64>,
    purges_done: Vec<(u64, u64)>,
}

impl Heard {
    fn hear(&mut self, line: &str) -> Result<(), String> {
        let cycle = self.cycle;
        let bad = || format!("unreadable line from the child: {line:?}");
        let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok()).ok_or_else(bad);
        let mut f = line.split(' ');
        match f.next() {
            Some("S") => {}
            Some("O") => self.opened = Some((num(f.next())?, num(f.next())?)),
            Some("A") => {
                let (lsn, w, s) = (num(f.next())?, num(f.next())?, num(f.next())?);
                let tag = match f.next() {
                    Some("c") => b'c',
                    Some("a") => b'a',
                    _ => return Err(bad()),
                };
                self.acked.push((lsn, Id::one(tag, cycle, w, s)));
            }
            Some("B") => {
                let (first, last) = (num(f.next())?, num(f.next())?);
                let (w, s) = (num(f.next())?, num(f.next())?);
                let of = (last + 1).checked_sub(first).ok_or_else(bad)?;
                for idx in 0..of {
                    let id = Id {
                        tag: b'b',
                        cycle,
                        writer: w,
                        seq: s,
                        idx,
                        of,
                    };
                    self.acked.push((first + idx, id));
                }
            }
            Some("p") => self.purges_asked.push(num(f.next())?),
            Some("P") => self.purges_done.push((num(f.next())?, num(f.next())?)),
            _ => return Err(bad()),
        }
        Ok(())
    }
}

#[derive(Default)]
struct Totals {
    cycles: u64,
    acked: u64,
    recovered: u64,
    beyond_ack: u64,
    purges: u64,
    checks: u64,
    /// Cycles on the encrypted and compressed log, and compressed records
    /// read back at checks.
    transformed: u64,
    compressed: u64,
    /// Time spent with a child running, and checking after it.
    in_child: Duration,
    checking: Duration,
    by_mode: [u64; SYNC_MODES.len()],
}

#[test]
fn acknowledged_records_survive_sigkill() {
    if let Some(spec) = TEST.child_spec() {
        child(&spec);
    }
    let (seed, cycles) = (TEST.seed(), TEST.cycles());
    // Two logs: a plain one, and an encrypted and compressed one that
    // takes every fourth cycle.
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut models = [Model::default(), Model::default()];
    let log_of = |cycle: u64| usize::from(cycle % 4 == 3);
    let last_of = |log: usize| (0..cycles).rev().find(|&c| log_of(c) == log);
    let direct = direct_works();
    let start = Instant::now();
    let mut rng = SplitMix64::new(seed);
    let mut totals = Totals::default();
    for cycle in 0..cycles {
        let log = log_of(cycle);
        let sync = match rng.below(10) {
            r @ 5..=7 => r as usize - 4,
            8 | 9 if direct => 4,
            _ => 0,
        };
        let prealloc = [0, 0, 1, 2][rng.below(4) as usize];
        let window = rng.below(WINDOWS.len() as u64) as usize;
        let kill_at = match rng.below(100) {
            0..6 => KillAt::Start,
            6..12 => KillAt::Open,
            // As soon as it says it is about to ask for the n-th purge:
            // usually in the middle of the purge.
            12..24 => KillAt::Starting('p', 1 + rng.below(3)),
            _ => KillAt::Acks(1 + rng.below(MAX_ACKS)),
        };
        // One cycle in four leaves the log to the next child's recovery
        // (killed in turn); a log's last cycle checks.
        let check_now = Some(cycle) == last_of(log) || rng.below(4) != 0;
        let spec = format!("{cycle} {seed} {sync} {prealloc} {log} {window}");
        let result = run_cycle(
            dirs[log].path(),
            cycle,
            &spec,
            kill_at,
            (
                SYNC_MODES[sync],
                PREALLOCATIONS[prealloc],
                log == 1,
                WINDOWS[window],
            ),
            check_now,
            &mut models[log],
            &mut totals,
        );
        if let Err(e) = result {
            let kept = dirs[log].path().to_owned();
            let _ = dirs.map(tempfile::TempDir::keep);
            panic!(
                "process kill: seed {seed}, cycle {cycle} ({:?}, {:?}, {}, read window {}, kill at \
                 {kill_at:?}): {e}\nthe log is kept in {}\nreplay: {}={seed} {}={} cargo test \
                 -p wal-torture --all-features --test it {}",
                SYNC_MODES[sync],
                PREALLOCATIONS[prealloc],
                ["plain", "encrypted and compressed"][log],
                WINDOWS[window],
                kept.display(),
                TEST.var("SEED"),
                TEST.var("CYCLES"),
                cycle + 1,
                TEST.test
            );
        }
        totals.by_mode[sync] += 1;
        totals.transformed += u64::from(log == 1);
    }
    eprintln!(
        "process kill: seed {seed}: {} cycles ({} encrypted and compressed; sync modes {:?}: \
         {:?}), {} recoveries checked, \
         {} records acknowledged, {} records recovered ({} not acknowledged), {} purges \
         acknowledged, {} compressed records read; {:.1?} in all, {:.1?} in children, {:.1?} checking",
        totals.cycles,
        totals.transformed,
        SYNC_MODES,
        totals.by_mode,
        totals.checks,
        totals.acked,
        totals.recovered,
        totals.beyond_ack,
        totals.purges,
        totals.compressed,
        start.elapsed(),
        totals.in_child,
        totals.checking
    );
    assert_eq!(totals.cycles, cycles);
    assert!(
        cycles < 20 || totals.compressed > 0,
        "nothing was compressed"
    );
    assert!(
        cycles < 20 || totals.acked > cycles,
        "the children acknowledged almost nothing"
    );
}

/// Whether a log opens with [`SyncMode::Direct`] here (not on tmpfs, for
/// one).
fn direct_works() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let works = Wal::open(
        dir.path(),
        &options(SyncMode::Direct, Preallocation::ZeroFill, false, WINDOWS[0]),
    )
    .and_then(|(wal, _)| {
        wal.append(b"probe")?;
        wal.close()
    })
    .is_ok();
    if !works {
        eprintln!("process kill: O_DIRECT refused here, so no cycles with SyncMode::Direct");
    }
    works
}

/// Runs one child to its kill, then (if `check_now`) checks what recovery
/// gives back; else the next child recovers the log as the kill left it.
#[allow(clippy::too_many_arguments, reason = "one cycle's settings")]
fn run_cycle(
    dir: &Path,
    cycle: u64,
    spec: &str,
    kill_at: KillAt,
    (sync, prealloc, transformed, window): (SyncMode, Preallocation, bool, usize),
    check_now: bool,
    model: &mut Model,
    totals: &mut Totals,
) -> Result<(), String> {
    let started = Instant::now();
    let heard = kill_child(dir, cycle, spec, kill_at)?;
    totals.in_child += started.elapsed();
    let started = Instant::now();
    if let Some(opened) = heard.opened {
        if model.unchecked.is_empty() {
            ensure(opened == (model.first, model.last), || {
                format!(
                    "the child recovered {opened:?} from a log closed cleanly at ({}, {})",
                    model.first, model.last
                )
            })?;
        } else {
            // Recovery after a kill: everything acknowledged before is
            // there (the rest is checked when the log is next checked).
            let acked = model.unchecked.iter().flat_map(|h| &h.acked);
            let top = acked.map(|a| a.0).fold(model.last, u64::max);
            ensure(opened.1 >= top && opened.0 >= model.first, || {
                format!(
                    "the child recovered {opened:?} after a kill, but {top} was acknowledged \
                     and the log started at {}",
                    model.first
                )
            })?;
        }
        model.recovered_last = model.recovered_last.max(opened.1);
    }
    let before = model
        .unchecked
        .iter()
        .flat_map(|h| &h.acked)
        .map(|a| a.0)
        .fold(model.last, u64::max);
    for &(lsn, id) in &heard.acked {
        ensure(lsn > before, || {
            format!("{id:?} acknowledged at {lsn}, at or below the earlier end {before}")
        })?;
    }
    model.purge_asked = heard
        .purges_asked
        .iter()
        .copied()
        .fold(model.purge_asked, u64::max);
    totals.cycles += 1;
    totals.acked += heard.acked.len() as u64;
    totals.purges += heard.purges_done.len() as u64;
    model.unchecked.push(heard);
    if !check_now {
        return Ok(());
    }

    let o = options(sync, prealloc, transformed, window);
    let (wal, report) = Wal::open(dir, &o).map_err(|e| format!("recovery: {e} ({e:?})"))?;
    let (first, last) = (report.first_lsn.get(), report.last_lsn.get());
    let (records, compressed) = read_verified(&wal, first, last, transformed)?;
    wal.close().map_err(|e| format!("close: {e}"))?;
    let (wal, again) = Wal::open(dir, &o).map_err(|e| format!("second recovery: {e}"))?;
    // The records both found. (A log that holds none may differ in its
    // first LSN: the first open of a new log makes its first, empty,
    // segment, whose first LSN the second one reports.)
    let span = |r: &groupwal::RecoveryReport| {
        (r.last_lsn != Lsn::ZERO).then_some((r.first_lsn, r.last_lsn))
    };
    ensure(span(&again) == span(&report), || {
        format!("the second recovery found {again:?}, the first {report:?}")
    })?;
    ensure(
        read_verified(&wal, first, last, transformed)?.0 == records,
        || "the second recovery gives other records".to_owned(),
    )?;

    check(model, first, last, &records)?;
    totals.checks += 1;
    totals.compressed += compressed;
    let acked: HashSet<u64> = model
        .unchecked
        .iter()
        .flat_map(|h| &h.acked)
        .map(|a| a.0)
        .collect();
    for (lsn, id) in &records {
        if !model.known.contains_key(lsn) && id.tag != b'p' {
            totals.recovered += 1;
            totals.beyond_ack += u64::from(!acked.contains(lsn));
        }
    }

    // Appending after recovery works, at the next LSN.
    let id = Id::one(b'p', cycle, PARENT, 0);
    let lsn = wal
        .append(&id.payload())
        .map_err(|e| format!("append after recovery: {e}"))?;
    ensure(lsn == Lsn::new(last + 1), || {
        format!("the append after recovery got {lsn}, not {}", last + 1)
    })?;
    wal.close().map_err(|e| format!("close: {e}"))?;

    totals.checking += started.elapsed();
    model.known = records.into_iter().collect();
    model.known.insert(lsn.get(), id);
    model.first = first.max(1);
    model.last = lsn.get();
    model.unchecked.clear();
    model.recovered_last = 0;
    Ok(())
}

/// Starts the child, reads its reports until the kill moment, kills it,
/// reads what it had written before it died.
fn kill_child(dir: &Path, cycle: u64, spec: &str, kill_at: KillAt) -> Result<Heard, String> {
    let mut heard = Heard {
        cycle,
        ..Heard::default()
    };
    TEST.run_child(dir, spec, kill_at, |report| heard.hear(report))?;
    Ok(heard)
}

/// Every record from `first` to `last`, each checked to be exactly the
/// record its header names, with its kind.
fn read_verified(
    wal: &Wal,
    first: u64,
    last: u64,
    transformed: bool,
) -> Result<(Vec<(u64, Id)>, u64), String> {
    let mut compressed = 0;
    if last == 0 {
        return Ok((Vec::new(), 0));
    }
    let mut records = Vec::new();
    let iter = wal
        .read_from(Lsn::new(first))
        .map_err(|e| format!("read_from({first}): {e}"))?;
    for (i, r) in iter.enumerate() {
        let r = r.map_err(|e| format!("reading after lsn {}: {e}", first + i as u64))?;
        let lsn = r.lsn.get();
        ensure(lsn == first + i as u64, || {
            format!("lsn {lsn} where {} was due: a gap", first + i as u64)
        })?;
        let id = Id::parse(&r.payload).ok_or_else(|| {
            format!(
                "lsn {lsn}: a payload no one submitted ({} bytes, starting {:?})",
                r.payload.len(),
                String::from_utf8_lossy(r.payload.get(..40).unwrap_or(&r.payload))
            )
        })?;
        ensure(
            r.flags.contains(groupwal::format::Flags::ENCRYPTED) == transformed,
            || {
                format!(
                    "lsn {lsn}: flags {:?} in a log encrypted: {transformed}",
                    r.flags
                )
            },
        )?;
        compressed += u64::from(r.flags.contains(groupwal::format::Flags::COMPRESSED));
        ensure(r.kind == id.kind(), || {
            format!("lsn {lsn}: {id:?} read as {:?}", r.kind)
        })?;
        records.push((lsn, id));
    }
    ensure(records.len() as u64 == last + 1 - first, || {
        format!(
            "recovery said {first}..={last} but {} records were read",
            records.len()
        )
    })?;
    Ok((records, compressed))
}

/// The oracle, on what one recovery gave back (already checked gap-free,
/// each payload exactly its record's), against what the children of the
/// cycles since the last check said.
fn check(model: &Model, first: u64, last: u64, records: &[(u64, Id)]) -> Result<(), String> {
    let got: HashMap<u64, Id> = records.iter().copied().collect();
    let heard = &model.unchecked;
    let acked = || heard.iter().flat_map(|h| &h.acked);
    if last == 0 {
        ensure(model.known.is_empty() && acked().next().is_none(), || {
            "the log came back empty".to_owned()
        })?;
        return Ok(());
    }
    // What a child recovered stays.
    ensure(last >= model.recovered_last, || {
        format!(
            "the log ends at {last}, but a child had recovered it up to {}",
            model.recovered_last
        )
    })?;
    // Purges remove only what they were asked to, and what they said.
    ensure(first >= model.first.max(1), || {
        format!("the log now starts at {first}, before {}", model.first)
    })?;
    ensure(first <= model.first.max(model.purge_asked).max(1), || {
        format!(
            "the log now starts at {first}, but no purge was asked above {}",
            model.purge_asked
        )
    })?;
    let done = heard.iter().flat_map(|h| &h.purges_done);
    if let Some(&(at, n)) = done.clone().find(|p| p.1 > 0) {
        ensure(first > model.first, || {
            format!("a purge below {at} removed {n} segments, but the log still starts at {first}")
        })?;
    }
    // Everything acknowledged, or recovered before, is there unchanged.
    for (&lsn, &id) in model
        .known
        .range(first..)
        .chain(acked().filter(|a| a.0 >= first).map(|(l, i)| (l, i)))
    {
        ensure(got.get(&lsn) == Some(&id), || match got.get(&lsn) {
            Some(other) => format!("lsn {lsn}: {id:?} was acknowledged, {other:?} came back"),
            None => format!("lsn {lsn}: {id:?} was acknowledged and is lost (log ends at {last})"),
        })?;
    }
    // Beyond that, only records of the children since the last check, at
    // most the one operation each writer had in flight when it died.
    let known: HashSet<u64> = model
        .known
        .keys()
        .copied()
        .chain(acked().map(|a| a.0))
        .collect();
    let cycles: HashSet<u64> = heard.iter().map(|h| h.cycle).collect();
    let mut next_op: HashMap<(u64, u64), u64> = HashMap::new();
    for (_, id) in acked() {
        let s = next_op.entry((id.cycle, id.writer)).or_default();
        *s = (*s).max(id.seq + 1);
    }
    let mut unacked: HashMap<(u64, u64), BTreeSet<u64>> = HashMap::new();
    let mut seen = HashSet::new();
    for &(lsn, id) in records {
        ensure(seen.insert(id), || {
            format!("lsn {lsn}: {id:?} is there twice")
        })?;
        if id.of > 1 {
            // The whole batch, in order, around it.
            for j in 0..id.of {
                let at = (lsn + j).checked_sub(id.idx);
                let want = Id { idx: j, ..id };
                ensure(at.and_then(|at| got.get(&at)) == Some(&want), || {
                    format!("lsn {lsn}: {id:?} is there, but not {want:?} at {at:?}: half a batch")
                })?;
            }
        }
        if known.contains(&lsn) {
            continue;
        }
        ensure(cycles.contains(&id.cycle) && id.writer < WRITERS, || {
            format!("lsn {lsn}: {id:?} was not submitted by a child since the last check")
        })?;
        unacked
            .entry((id.cycle, id.writer))
            .or_default()
            .insert(id.seq);
    }
    // Those are the operations after the writer's last acknowledged one
    // (LSN order is submission order, and what survives is a prefix), no
    // more than it had in flight.
    for (writer, seqs) in unacked {
        let next = next_op.get(&writer).copied().unwrap_or(0);
        let most = if writer.1 == PIPELINED {
            MAX_PIPELINE
        } else {
            1
        };
        let want: BTreeSet<u64> = (next..next + seqs.len() as u64).collect();
        ensure(seqs == want && seqs.len() as u64 <= most, || {
            format!(
                "writer {writer:?}: operations {seqs:?} are there unacknowledged, but its next \
                 operation was {next} and it had at most {most} in flight"
            )
        })?;
    }
    Ok(())
}

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}
