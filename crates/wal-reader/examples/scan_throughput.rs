//! Measures a full scan of a log beside a bare sequential read of the same
//! files, and recovery, on the real file system (warm cache).
//!
//! ```text
//! cargo run --release -p wal-reader --example scan_throughput -- [MiB] [record bytes] [dir]
//! ```
//!
//! Defaults: 512 MiB of 1 KiB records in a temporary directory. Not a
//! benchmark harness (that is `benches/`): a quick look at the ratio.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use wal_format::{Flags, Lsn, RecordHeader, RecordType, encode_record};
use wal_io::{FileStorage, LogOptions, SegmentLog, Storage, SyncMode};
use wal_reader::{LogReader, ReadOptions, recover};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).map_or(Ok(512), |s| s.parse())?;
    let record: usize = args.get(2).map_or(Ok(1024), |s| s.parse())?;
    let tmp = tempfile::tempdir()?;
    let dir = args
        .get(3)
        .map_or_else(|| tmp.path().join("wal"), Into::into);
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let mut options = LogOptions::new();
    options.segment_size(64 << 20).sync_mode(SyncMode::None);

    // Write: batches of 1 MiB of records, one sync at the end.
    let started = Instant::now();
    let mut log = SegmentLog::open(storage.clone(), &dir, &options)?;
    let payload = vec![0x5au8; record];
    let per_batch = ((1usize << 20) / (record + 32)).max(1);
    let total = (mib << 20) / (record as u64 + 32);
    let mut lsn = Lsn::FIRST;
    let mut buf = Vec::new();
    let mut written = 0u64;
    while written < total {
        let n = per_batch.min((total - written) as usize);
        let salt = log.begin_batch(lsn, (n * (record + 32)) as u64)?;
        buf.clear();
        for i in 0..n as u64 {
            let h = RecordHeader {
                lsn: Lsn::new(lsn.get() + i),
                salt,
                record_type: RecordType::Full,
                flags: Flags::EMPTY,
            };
            encode_record(&mut buf, &h, &payload)?;
        }
        lsn = Lsn::new(lsn.get() + n as u64);
        log.write(&buf, lsn)?;
        written += n as u64;
    }
    log.sync()?;
    let files: Vec<_> = log
        .segments()
        .iter()
        .map(|s| s.path().to_path_buf())
        .collect();
    log.close()?;
    println!(
        "wrote {written} records of {record} B in {} segments in {:.2?}",
        files.len(),
        started.elapsed()
    );
    let data = written * (record as u64 + 32);

    for round in 0..2 {
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
        let mut ro = ReadOptions::new();
        if let Some(kib) = std::env::var("BUFFER_KIB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            ro.buffer_size(kib << 10);
        }
        let mut reader = LogReader::open(storage.clone(), &dir, &ro)?;
        let mut n = 0u64;
        while let Some(r) = reader.next_record()? {
            n += r.payload.len() as u64 / record as u64;
        }
        let scan = t.elapsed();
        assert_eq!(n, written);

        // Recovery (checks every segment).
        let t = Instant::now();
        let (log, report) = recover(storage.clone(), &dir, &options, &ro)?;
        let rec = t.elapsed();
        assert_eq!(report.last_lsn.get(), written);
        drop(log);

        let mbs = |b: u64, d: std::time::Duration| b as f64 / 1e6 / d.as_secs_f64();
        println!(
            "round {round}: bare read {:.0} MB/s ({} MB of files); reader scan {:.0} MB/s of records ({:.0}% of bare, per byte of file {:.0}%); recovery {:.2?} ({:.0} MB/s); reader buffers high water {} KiB",
            mbs(bytes, bare),
            bytes / 1_000_000,
            mbs(data, scan),
            100.0 * bare.as_secs_f64() / scan.as_secs_f64() * data as f64 / bytes as f64,
            100.0 * bare.as_secs_f64() / scan.as_secs_f64(),
            rec,
            mbs(data, rec),
            reader.buffer_high_water() / 1024,
        );
    }
    Ok(())
}
