//! One full scan of a 16 MiB log of `SIZE`-byte records (default 1 KiB)
//! held on the in-memory simulated disk, read-ahead off: the reader's
//! per-record work without the page cache. Meant for an instruction count
//! of the scan alone, which is steady where timings on a shared machine
//! are not:
//!
//! ```text
//! cargo build --release -p groupwal-benches --example scan_once
//! valgrind --tool=callgrind --toggle-collect='*LogReader*next_record*' \
//!     target/release/examples/scan_once [SIZE]
//! ```

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;

use groupwal_benches::write_log;
use wal_io::Storage;
use wal_io::sim::SimStorage;
use wal_reader::{LogReader, ReadOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size: usize = std::env::args().nth(1).map_or(Ok(1024), |s| s.parse())?;
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::new(1));
    let dir = Path::new("/scan");
    let (_, records) = write_log(&storage, dir, 16 << 20, 16 << 20, size)?;
    let mut options = ReadOptions::new();
    options.read_ahead(false);
    let started = std::time::Instant::now();
    let mut reader = LogReader::open(storage, dir, &options)?;
    let mut payload = 0u64;
    while let Some(record) = reader.next_record()? {
        payload += record.payload.len() as u64;
    }
    if payload != records * size as u64 {
        return Err(format!("read {payload} payload bytes of {}", records * size as u64).into());
    }
    println!(
        "{records} records of {size} B, {:.1} ns a record",
        started.elapsed().as_nanos() as f64 / records as f64
    );
    Ok(())
}
