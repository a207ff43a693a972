//! An encrypted and compressed log. Needs the features:
//!
//! `cargo run -p groupwal --features encryption,compression --example encrypted`

// An example reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use groupwal::crypto::{Key, Keyring};
use groupwal::format::KeyId;
use groupwal::{Lsn, Wal, WalOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    // In production the key comes from a KMS or a key file, never the code.
    let keys = Arc::new(Keyring::new(KeyId::new(1), Key::generate()?)?);
    let mut options = WalOptions::new();
    options.encryption(keys).compression_level(Some(3));

    let (wal, _) = Wal::open(dir.path(), &options)?;
    wal.append(&b"card=4111-1111-1111-1111;".repeat(20))?;
    wal.close()?;

    let (wal, _) = Wal::open(dir.path(), &options)?;
    for record in wal.read_from(Lsn::FIRST)? {
        let record = record?;
        println!(
            "{}: {} bytes, flags {:?}",
            record.lsn,
            record.payload.len(),
            record.flags
        );
    }
    wal.close()?;
    Ok(())
}
