//! Recovery as `compare` measures it, repeated on the same files: writes
//! `MiB` of 1 KiB records with the buffered workload of `compare` into
//! `dir` (unless it already holds a log), then runs groupwal's recovery
//! (`engines::groupwal::recover`: one pass, every record handed to the
//! verifier) `rounds` times with the page cache warm and prints each time
//! and the median. For profiling recovery without the rest of `compare`:
//!
//! ```text
//! cargo build --release -p groupwal-benches --example recover_loop
//! perf record -g target/release/examples/recover_loop DIR [MiB] [rounds]
//! ```

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use groupwal_benches::engines::groupwal::{DIR_NAME, GroupwalLog, Variant, recover};
use groupwal_benches::harness::{DurableLog, RecordSource, Verifier};

const PAYLOAD: usize = 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: recover_loop DIR [MiB] [rounds]")?,
    );
    let mib: u64 = args.next().map_or(Ok(1024), |s| s.parse())?;
    let rounds: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let records = (mib << 20) / PAYLOAD as u64;
    if !dir.join(DIR_NAME).exists() {
        std::fs::create_dir_all(&dir)?;
        let log = Box::new(GroupwalLog::open(&dir, Variant::DEFAULT)?);
        let started = Instant::now();
        log.write_buffered(&mut RecordSource::new(records, PAYLOAD))?;
        log.close()?;
        println!("wrote {records} records in {:.2?}", started.elapsed());
    }
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut verifier = Verifier::new(PAYLOAD);
        let started = Instant::now();
        recover(&dir, &mut verifier)?;
        let elapsed = started.elapsed();
        verifier.finish(records)?;
        println!("round {round}: {:.1} ms", elapsed.as_secs_f64() * 1e3);
        times.push(elapsed);
    }
    times.sort_unstable();
    if let Some(median) = times.get(times.len() / 2) {
        println!("median of {rounds}: {:.1} ms", median.as_secs_f64() * 1e3);
    }
    Ok(())
}
