//! Many threads appending at once: each append waits for its own record to
//! be durable, and the log groups them into few writes and syncs.
//!
//! `cargo run --release -p groupwal --example threads`

// An example reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use groupwal::{Wal, WalOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
    let started = Instant::now();
    let writers: Vec<_> = (0..16)
        .map(|t| {
            let wal = wal.clone(); // a handle: every clone is the same log
            std::thread::spawn(move || -> groupwal::Result<()> {
                for i in 0..200 {
                    wal.append(format!("thread {t} record {i}").as_bytes())?;
                }
                Ok(())
            })
        })
        .collect();
    for w in writers {
        w.join().map_err(|_| "a writer panicked")??;
    }
    let elapsed = started.elapsed();
    let stats = wal.stats();
    println!(
        "{} durable appends in {elapsed:?}: {} syncs, {:.1} records per group, p99 {:?}",
        stats.appends, stats.syncs, stats.avg_group, stats.append.p99
    );
    wal.close()?;
    Ok(())
}
