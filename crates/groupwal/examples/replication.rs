//! Tailing for replication: a follower thread ships every record as soon
//! as it is durable on the leader, in order, across segment rotations.
//!
//! `cargo run -p groupwal --example replication`

// An example reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use groupwal::{Lsn, Wal, WalOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut options = WalOptions::new();
    options.segment_size(64 * 1024);
    let (leader, _) = Wal::open(dir.path(), &options)?;
    leader.append(b"first")?;

    let mut tail = leader.tail(Lsn::FIRST)?;
    let follower = std::thread::spawn(move || {
        let mut shipped = 0u64;
        // Ends with `Closed` once the leader closes and all is shipped.
        while let Ok(record) = tail.next_record() {
            shipped += 1;
            if record.lsn.get() % 250 == 0 {
                println!("shipped up to lsn {}", record.lsn);
            }
        }
        shipped
    });
    for i in 0..1000 {
        leader.append(format!("record {i:04} {}", "x".repeat(100)).as_bytes())?;
    }
    leader.close()?;
    let shipped = follower.join().map_err(|_| "follower panicked")?;
    println!("follower shipped {shipped} records");
    Ok(())
}
