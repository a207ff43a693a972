//! An encrypted and compressed log through the facade: it reads back with
//! the key, holds no plaintext, and refuses to read without the key.

use std::sync::Arc;

use groupwal::crypto::{Key, Keyring};
use groupwal::format::KeyId;
use groupwal::io::sim::SimStorage;
use groupwal::{Lsn, Wal};

use crate::support::{DIR, options};

#[test]
fn encrypted_and_compressed_records_round_trip_and_need_the_key() {
    let storage = SimStorage::new(20);
    let keys = Arc::new(Keyring::new(KeyId::new(1), Key::from_bytes([7; 32])).unwrap());
    let mut o = options(&storage);
    o.encryption(keys).compression_level(Some(3));
    let (wal, _) = Wal::open(DIR, &o).unwrap();
    let secret = b"top secret payload ".repeat(40);
    for _ in 0..20 {
        wal.append(&secret).unwrap();
    }
    wal.close().unwrap();
    let (wal, report) = Wal::open(DIR, &o).unwrap();
    assert_eq!(report.last_lsn, Lsn::new(20));
    let records: Vec<_> = wal
        .read_from(Lsn::FIRST)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records.len(), 20);
    assert!(records.iter().all(|r| r.payload == secret));
    assert!(
        records
            .iter()
            .all(|r| r.flags.contains(groupwal::format::Flags::ENCRYPTED))
    );
    wal.close().unwrap();
    for entry in groupwal::io::Storage::list_dir(&storage, std::path::Path::new(DIR)).unwrap() {
        let bytes = storage
            .contents(&std::path::Path::new(DIR).join(&entry.name))
            .unwrap();
        assert!(
            !bytes.windows(10).any(|w| w == b"top secret"),
            "plaintext in {}",
            entry.name
        );
    }
    // Without the key: recovery works (it needs none), reading fails.
    let (wal, _) = Wal::open(DIR, &options(&storage)).unwrap();
    let first = wal.read_from(Lsn::FIRST).unwrap().next().unwrap();
    assert!(first.is_err(), "read an encrypted record without a key");
    wal.close().unwrap();
}
