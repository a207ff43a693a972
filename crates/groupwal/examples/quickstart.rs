//! The smallest useful program: open, append, close, reopen, replay.
//!
//! `cargo run -p groupwal --example quickstart`

// An example reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use groupwal::{Lsn, Wal, WalOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
    for i in 0..3 {
        let lsn = wal.append(format!("event {i}").as_bytes())?;
        println!("appended lsn {lsn}, durable");
    }
    wal.close()?;

    let (wal, report) = Wal::open(dir.path(), &WalOptions::new())?;
    println!(
        "recovered up to lsn {} in {:?}",
        report.last_lsn, report.elapsed
    );
    for record in wal.read_from(Lsn::FIRST)? {
        let record = record?;
        println!(
            "{}: {}",
            record.lsn,
            String::from_utf8_lossy(&record.payload)
        );
    }
    wal.close()?;
    Ok(())
}
