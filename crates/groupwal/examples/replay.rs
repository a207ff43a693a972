//! Replay on restart: rebuild state from the log, resuming from the last
//! checkpoint, and see what recovery did.
//!
//! `cargo run -p groupwal --example replay`

// An example reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;

use groupwal::{LogicalKind, Lsn, Wal, WalOptions};

fn apply(state: &mut BTreeMap<String, String>, payload: &[u8]) {
    let text = String::from_utf8_lossy(payload);
    if let Some((k, v)) = text.split_once('=') {
        state.insert(k.to_owned(), v.to_owned());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
        wal.append(b"a=1")?;
        wal.append(b"b=2")?;
        // A checkpoint: the state so far lives elsewhere (a snapshot), so
        // older records can go.
        let cp = wal.checkpoint(b"snapshot:a=1,b=2")?;
        wal.purge_below(cp)?;
        wal.append(b"a=3")?;
        wal.close()?;
    }
    let (wal, report) = Wal::open(dir.path(), &WalOptions::new())?;
    println!(
        "recovery: lsns {}..={}, tail {:?}, {} bytes cut, {} corrupt ranges",
        report.first_lsn,
        report.last_lsn,
        report.tail,
        report.truncated_bytes,
        report.corrupt.len()
    );
    let mut state = BTreeMap::new();
    for record in wal.read_from(report.first_lsn.max(Lsn::FIRST))? {
        let record = record?;
        match record.kind {
            LogicalKind::Checkpoint => {
                state.clear();
                let text = String::from_utf8_lossy(&record.payload).into_owned();
                for kv in text.trim_start_matches("snapshot:").split(',') {
                    apply(&mut state, kv.as_bytes());
                }
            }
            _ => apply(&mut state, &record.payload),
        }
    }
    println!("state after replay: {state:?}");
    wal.close()?;
    Ok(())
}
