//! The memory the streams' index costs: writes `streams` streams with
//! `entries` entries each (8-byte entries, no syncs), closes the log, then
//! measures the process's resident memory before and after reopening it
//! (recovery rebuilds the index) and divides.
//!
//! `cargo run --release -p groupwal --example stream_memory -- DIR STREAMS ENTRIES`
//!
//! Run it twice, with few and with many entries per stream, to separate
//! the cost per stream from the cost per entry.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use groupwal::{SyncMode, Wal, WalOptions};

/// Resident set size now, from `/proc/self/status` (bytes).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let parent = PathBuf::from(
        args.next()
            .ok_or("usage: stream_memory DIR STREAMS ENTRIES")?,
    );
    let streams: u64 = args.next().ok_or("STREAMS")?.parse()?;
    let entries: u64 = args.next().ok_or("ENTRIES")?.parse()?;
    let dir = tempfile::tempdir_in(parent)?;
    let mut options = WalOptions::new();
    options.sync_mode(SyncMode::None);
    {
        let (wal, _) = Wal::open(dir.path(), &options)?;
        let mut batch: Vec<(u64, [u8; 8])> = Vec::with_capacity(1000);
        for round in 0..entries {
            for s in 0..streams {
                batch.push((s, round.to_le_bytes()));
                if batch.len() == 1000 {
                    wal.append_streams(&batch)?;
                    batch.clear();
                }
            }
        }
        if !batch.is_empty() {
            wal.append_streams(&batch)?;
        }
        wal.close()?;
    }
    let before = rss();
    let (wal, report) = Wal::open(dir.path(), &options)?;
    let after = rss();
    let listed = wal.streams();
    let total: u64 = listed.iter().map(|s| s.entries).sum();
    assert_eq!(listed.len() as u64, streams);
    assert_eq!(total, streams * entries);
    let grew = after.saturating_sub(before);
    println!(
        "streams {streams}, entries {total}: recovery {:.2} s, resident memory grew {:.1} MiB \
         ({:.1} bytes per stream, or {:.2} bytes per entry)",
        report.elapsed.as_secs_f64(),
        grew as f64 / (1 << 20) as f64,
        grew as f64 / streams as f64,
        grew as f64 / total as f64,
    );
    wal.close()?;
    Ok(())
}
