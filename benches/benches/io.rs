//! Durable 4 KiB appends on the real disk through `wal_io::SegmentLog`,
//! one append and one sync at a time, beside a bare `pwrite` + `fdatasync`
//! loop over a zero-filled file (the disk's own limit).
//!
//! Cases: the preallocation modes (none, sparse `set_len`, `fallocate`,
//! `fallocate` + zero-fill, a recycled segment) under `SyncMode::Data`;
//! then the sync modes against each other on zero-filled segments.
//!
//! Not a criterion bench: each case is a fixed loop of appends whose
//! latencies are kept, to report p50, p99 and appends per second.
//!
//! Run: `cargo bench -p groupwal-benches --bench io`. The number of appends
//! per case is `WAL_IO_BENCH_APPENDS` (default 2000); files go to the target
//! directory's file system (`CARGO_TARGET_TMPDIR`), or `WAL_IO_BENCH_DIR`.

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_format::{Flags, Lsn, RECORD_HEADER_LEN, RecordHeader, RecordType, encode_record};
use wal_io::{FileStorage, LogOptions, Preallocation, SegmentLog, SyncMode};

/// The size of one append, record header included.
const APPEND: usize = 4096;
/// The segment size: every measured append fits in one segment.
const SEGMENT: u64 = 32 * 1024 * 1024;

/// The latencies of one case's appends and the time they took in all.
#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    total: Duration,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.total += other.total;
    }
}

fn measure(n: usize, mut append: impl FnMut()) -> Outcome {
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        append();
        latencies.push(t.elapsed());
    }
    Outcome {
        latencies,
        total: start.elapsed(),
    }
}

/// The disk's own limit: 4 KiB `pwrite` + `fdatasync` over a file that was
/// zero-filled and synced beforehand.
fn bare(dir: &Path, n: usize) -> Outcome {
    let path = dir.join("bare");
    let file = File::create(&path).expect("create");
    let zeros = vec![0u8; 1 << 20];
    for i in 0..SEGMENT / (1 << 20) {
        file.write_all_at(&zeros, i * (1 << 20)).expect("zero-fill");
    }
    file.sync_all().expect("sync");
    let block = vec![0x5au8; APPEND];
    let mut offset = 0u64;
    let out = measure(n, || {
        file.write_all_at(&block, offset).expect("write");
        file.sync_data().expect("fdatasync");
        offset += APPEND as u64;
    });
    drop(file);
    let _ = std::fs::remove_file(path);
    out
}

/// Appends one 4 KiB record (and syncs it, as the mode says).
fn append(log: &mut SegmentLog, buf: &mut Vec<u8>, payload: &[u8], sync: bool) {
    let lsn = log.next_lsn().unwrap_or(Lsn::FIRST);
    let salt = log
        .begin_batch(lsn, (RECORD_HEADER_LEN + payload.len()) as u64)
        .expect("begin");
    buf.clear();
    let header = RecordHeader {
        lsn,
        salt,
        record_type: RecordType::Full,
        flags: Flags::EMPTY,
    };
    encode_record(buf, &header, payload).expect("encode");
    log.write(buf, lsn.checked_next().expect("lsn"))
        .expect("write");
    if sync {
        log.sync().expect("sync");
    }
}

fn log_case(
    dir: &Path,
    name: &str,
    how: Preallocation,
    mode: SyncMode,
    recycled: bool,
    n: usize,
) -> Outcome {
    let root = dir.join(name.replace([' ', '+', ','], "_"));
    let mut options = LogOptions::new();
    options
        .segment_size(SEGMENT)
        .preallocation(how)
        .sync_mode(mode)
        .prepare_ahead(false)
        .max_spares(1);
    let mut log = SegmentLog::open(Arc::new(FileStorage::new()), &root, &options).expect("open");
    let payload = vec![0xa5u8; APPEND - RECORD_HEADER_LEN];
    let mut buf = Vec::with_capacity(APPEND);
    if recycled {
        // Fill segment 1, start segment 2, purge segment 1 (it becomes a
        // spare), fill segment 2: the next rotation reuses segment 1's file.
        while log.segments().len() < 2 {
            append(&mut log, &mut buf, &payload, false);
        }
        log.sync().expect("sync");
        let second = log.segments()[1].first_lsn();
        log.purge_below(second).expect("purge");
        while log.segments().len() < 3 {
            append(&mut log, &mut buf, &payload, false);
        }
        log.sync().expect("sync");
    } else {
        // Create (and preallocate) the segment outside the measurement.
        append(&mut log, &mut buf, &payload, true);
    }
    let out = measure(n, || append(&mut log, &mut buf, &payload, true));
    log.close().expect("close");
    let _ = std::fs::remove_dir_all(root);
    out
}

/// One benchmark case.
#[derive(Clone, Copy)]
enum Case {
    Bare,
    Log(Preallocation, SyncMode, bool),
}

const CASES: [(&str, Case); 10] = [
    ("bare pwrite+fdatasync, zero-filled", Case::Bare),
    (
        "data, no preallocation",
        Case::Log(Preallocation::None, SyncMode::Data, false),
    ),
    (
        "data, sparse set_len",
        Case::Log(Preallocation::SetLen, SyncMode::Data, false),
    ),
    (
        "data, fallocate",
        Case::Log(Preallocation::Allocate, SyncMode::Data, false),
    ),
    (
        "data, fallocate+zero-fill (default)",
        Case::Log(Preallocation::ZeroFill, SyncMode::Data, false),
    ),
    (
        "data, recycled segment",
        Case::Log(Preallocation::ZeroFill, SyncMode::Data, true),
    ),
    (
        "sync none, zero-filled",
        Case::Log(Preallocation::ZeroFill, SyncMode::None, false),
    ),
    (
        "sync all (fsync), zero-filled",
        Case::Log(Preallocation::ZeroFill, SyncMode::All, false),
    ),
    (
        "sync dsync (O_DSYNC), zero-filled",
        Case::Log(Preallocation::ZeroFill, SyncMode::Dsync, false),
    ),
    (
        "sync direct (O_DIRECT+O_DSYNC), zero-filled",
        Case::Log(Preallocation::ZeroFill, SyncMode::Direct, false),
    ),
];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env_number("WAL_IO_BENCH_APPENDS", 2000);
    let rounds = env_number("WAL_IO_BENCH_ROUNDS", 3);
    let dir: PathBuf = std::env::var_os("WAL_IO_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("wal-io-bench"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    println!(
        "wal-io: {rounds} rounds of {n} durable {APPEND}-byte appends per case, cases interleaved, in {}",
        dir.display()
    );

    // Rounds interleave the cases, so a disturbance of the disk (writeback,
    // another process) spreads over all of them rather than one.
    let mut results: Vec<Outcome> = CASES.iter().map(|_| Outcome::default()).collect();
    for _ in 0..rounds {
        for ((name, case), result) in CASES.iter().zip(&mut results) {
            let out = match *case {
                Case::Bare => bare(&dir, n),
                Case::Log(how, mode, recycled) => log_case(&dir, name, how, mode, recycled, n),
            };
            result.merge(out);
        }
    }

    let rate = |o: &Outcome| o.latencies.len() as f64 / o.total.as_secs_f64();
    let bare_rate = results.first().map_or(1.0, rate);
    println!(
        "{:<46} {:>9} {:>9} {:>11} {:>10}",
        "case", "p50 µs", "p99 µs", "appends/s", "bare/this"
    );
    for ((name, _), r) in CASES.iter().zip(&mut results) {
        r.latencies.sort();
        let len = r.latencies.len();
        let at = |q: usize| r.latencies.get(len * q / 100).copied().unwrap_or_default();
        println!(
            "{:<46} {:>9.1} {:>9.1} {:>11.0} {:>9.2}x",
            name,
            at(50).as_secs_f64() * 1e6,
            at(99).as_secs_f64() * 1e6,
            rate(r),
            bare_rate / rate(r)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
