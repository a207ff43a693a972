//! A tiny message broker on streams: each partition is a stream of one
//! log, so every producer's message shares the same group commits;
//! consumers read a partition from the offset they committed; retention
//! purges each partition on its own, and the log removes a segment once
//! no partition needs it.
//!
//! `cargo run -p groupwal --release --example broker`

// An example reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use groupwal::{Wal, WalOptions};

const PARTITIONS: u64 = 8;
const PRODUCERS: u64 = 4;
const MESSAGES: u64 = 2_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut options = WalOptions::new();
    options.segment_size(256 << 10);
    let (wal, _) = Wal::open(dir.path(), &options)?;
    let wal = Arc::new(wal);

    // Producers: each message goes to the partition its key hashes to.
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || -> groupwal::Result<()> {
                for m in 0..MESSAGES {
                    let key = p * MESSAGES + m;
                    let partition = key % PARTITIONS;
                    let message = format!("producer {p} message {m}: {}", "x".repeat(200));
                    wal.stream(partition).append(message.as_bytes())?;
                }
                Ok(())
            })
        })
        .collect();
    for p in producers {
        p.join().map_err(|_| "a producer panicked")??;
    }
    let stats = wal.stats();
    println!(
        "{} messages in {} syncs ({:.0} per sync)",
        stats.appends,
        stats.syncs,
        stats.appends as f64 / stats.syncs.max(1) as f64
    );

    // A consumer of partition 3 that had committed offset 100 resumes
    // there.
    let from = 100;
    let batch: Vec<(u64, Vec<u8>)> = wal
        .stream(3)
        .read(from..from + 5)?
        .collect::<Result<_, _>>()?;
    for (offset, message) in &batch {
        println!(
            "partition 3 offset {offset}: {}",
            String::from_utf8_lossy(&message[..22])
        );
    }

    // Retention: keep the last 100 messages of every partition but 0,
    // whose consumer lags and holds everything.
    for partition in 1..PARTITIONS {
        let s = wal.stream(partition);
        if let Some(last) = s.last_index() {
            s.purge_below(last.saturating_sub(99).max(1))?;
        }
    }
    let segments = |dir: &std::path::Path| {
        std::fs::read_dir(dir).map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".wal"))
                .count()
        })
    };
    println!("segments while partition 0 lags: {}", segments(dir.path())?);
    let lagging = wal.stream(0);
    if let Some(last) = lagging.last_index() {
        lagging.purge_below(last.saturating_sub(99).max(1))?;
    }
    println!("segments once it caught up:      {}", segments(dir.path())?);

    let wal = Arc::try_unwrap(wal).map_err(|_| "the log is still shared")?;
    wal.close()?;

    // Reopen: recovery rebuilds every partition in one pass.
    let (wal, _) = Wal::open(dir.path(), &options)?;
    let mut partitions = wal.streams();
    partitions.sort_by_key(|p| p.id);
    for p in &partitions {
        println!(
            "partition {}: offsets {:?}..={:?}, {} live",
            p.id, p.first_index, p.last_index, p.entries
        );
    }
    wal.close()?;
    Ok(())
}
