//! Measures a full scan of a log beside a bare sequential read of the same
//! files, and recovery, on the real file system (warm cache).
//!
//! ```text
//! cargo run --release -p groupwal-benches --example scan_throughput -- [MiB] [record bytes] [dir] [rounds]
//! ```
//!
//! Defaults: 512 MiB of 1 KiB records in a temporary directory, 5 rounds.
//! A `dir` that already holds a log is scanned as it is (nothing written),
//! so runs can be repeated on the same files. Each round runs the bare read,
//! the reader's scan and recovery one after the other; the last line gives
//! the medians (the machines are shared and noisy: compare figures taken in
//! the same round). Not a benchmark harness (that is `benches/`).
//! `BUFFER_KIB=N` sets the reader's buffer, `NO_READ_AHEAD=1` turns its
//! read-ahead thread off.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use groupwal_benches::write_log;
use wal_io::{FileStorage, LogOptions, Storage, SyncMode};
use wal_reader::{LogReader, ReadOptions, recover};

/// The log's segment size.
const SEGMENT_SIZE: u64 = 64 << 20;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).map_or(Ok(512), |s| s.parse())?;
    let record: usize = args.get(2).map_or(Ok(1024), |s| s.parse())?;
    let tmp = tempfile::tempdir()?;
    let dir = args
        .get(3)
        .map_or_else(|| tmp.path().join("wal"), Into::into);
    let rounds: usize = args.get(4).map_or(Ok(5), |s| s.parse())?;
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let mut options = LogOptions::new();
    options.segment_size(SEGMENT_SIZE).sync_mode(SyncMode::None);
    let mut ro = ReadOptions::new();
    if let Some(kib) = std::env::var("BUFFER_KIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        ro.buffer_size(kib << 10);
    }
    if std::env::var_os("NO_READ_AHEAD").is_some() {
        ro.read_ahead(false);
    }

    let (files, records, payload_bytes) = if dir.join("00000000000000000001.wal").exists() {
        existing(&storage, &dir, &options, &ro)?
    } else {
        write(&storage, &dir, mib, record)?
    };
    let data = payload_bytes + records * 32;

    let mbs = |b: u64, d: Duration| b as f64 / 1e6 / d.as_secs_f64();
    let mut bare_mbs = Vec::new();
    let mut scan_mbs = Vec::new();
    let mut ratios = Vec::new();
    let mut recovery_mbs = Vec::new();
    let mut high_water = 0;
    for round in 0..rounds {
        // Bare sequential read of the same files.
        let t = Instant::now();
        let mut bytes = 0u64;
        let mut chunk = vec![0u8; 1 << 20];
        for f in &files {
            let mut file = std::fs::File::open(f)?;
            loop {
                let n = file.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                bytes += n as u64;
            }
        }
        let bare = t.elapsed();

        // Full scan with the reader.
        let t = Instant::now();
        let mut reader = LogReader::open(storage.clone(), &dir, &ro)?;
        let mut n = 0u64;
        let mut seen = 0u64;
        while let Some(r) = reader.next_record()? {
            n += 1;
            seen += r.payload.len() as u64;
        }
        let scan = t.elapsed();
        assert_eq!((n, seen), (records, payload_bytes));
        high_water = high_water.max(reader.buffer_high_water());

        // Recovery (checks every segment).
        let t = Instant::now();
        let (log, report) = recover(storage.clone(), &dir, &options, &ro)?;
        let rec = t.elapsed();
        assert_eq!(report.last_lsn.get(), records);
        drop(log);

        // Per byte of file: the reader reads the same bytes as the bare
        // read (segment headers and any zero-filled tail included).
        let ratio = bare.as_secs_f64() / scan.as_secs_f64();
        println!(
            "round {round}: bare read {:.0} MB/s ({} MB of files); reader scan {:.0} MB/s of records, {:.0}% of the bare read per byte of file; recovery {:.2?} ({:.0} MB/s)",
            mbs(bytes, bare),
            bytes / 1_000_000,
            mbs(data, scan),
            100.0 * ratio,
            rec,
            mbs(data, rec),
        );
        bare_mbs.push(mbs(bytes, bare));
        scan_mbs.push(mbs(data, scan));
        ratios.push(ratio);
        recovery_mbs.push(mbs(data, rec));
    }
    println!(
        "median of {rounds}: bare read {:.0} MB/s; reader scan {:.0} MB/s ({:.0}% of the bare read, median of the per-round ratios); recovery {:.0} MB/s; reader buffers high water {} KiB; the process's peak resident memory {}",
        median(&mut bare_mbs),
        median(&mut scan_mbs),
        100.0 * median(&mut ratios),
        median(&mut recovery_mbs),
        high_water / 1024,
        peak_rss(),
    );
    Ok(())
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`, Linux),
/// as that file gives it.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Writes `mib` MiB of `record`-byte records in batches of 1 MiB, synced
/// at the close; returns the files, the record count and the payload
/// bytes.
fn write(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    mib: u64,
    record: usize,
) -> Res<(Vec<PathBuf>, u64, u64)> {
    let started = Instant::now();
    let (files, written) = write_log(storage, dir, SEGMENT_SIZE, (mib << 20) as usize, record)?;
    println!(
        "wrote {written} records of {record} B in {} segments in {:.2?}",
        files.len(),
        started.elapsed()
    );
    Ok((files, written, written * record as u64))
}

/// The segment files of the log in `dir`, its record count and payload
/// bytes (one scan, which also warms the cache).
fn existing(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    options: &LogOptions,
    ro: &ReadOptions,
) -> Res<(Vec<PathBuf>, u64, u64)> {
    let (log, _) = recover(storage.clone(), dir, options, ro)?;
    let files = log
        .segments()
        .iter()
        .map(|s| s.path().to_path_buf())
        .collect::<Vec<_>>();
    drop(log);
    let mut reader = LogReader::open(storage.clone(), dir, ro)?;
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(r) = reader.next_record()? {
        n += 1;
        bytes += r.payload.len() as u64;
    }
    println!(
        "scanning the existing log in {}: {n} records in {} segments",
        dir.display(),
        files.len()
    );
    Ok((files, n, bytes))
}
