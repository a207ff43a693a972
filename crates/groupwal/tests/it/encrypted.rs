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
    // Without the key: the log is refused for writing, naming the key id,
    // before anything is written (a writer without the key would write
    // plaintext into an encrypted log).
    let before = files(&storage);
    match Wal::open(DIR, &options(&storage)) {
        Err(groupwal::Error::MissingKey {
            key_id,
            segment: Some(_),
        }) => assert_eq!(key_id.get(), 1),
        other => panic!("expected a missing key, got {other:?}"),
    }
    assert!(before == files(&storage), "a refused open changed the log");
}

/// Every file of the log directory (the lock file aside) and its bytes.
fn files(storage: &SimStorage) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(DIR);
    groupwal::io::Storage::list_dir(storage, dir)
        .unwrap()
        .into_iter()
        .filter(|e| e.name != "LOCK")
        .map(|e| {
            let bytes = storage.contents(&dir.join(&e.name)).unwrap();
            (e.name, bytes)
        })
        .collect()
}

/// Writer and reader agree on the size limit with every transform: a
/// record of exactly the maximum size round-trips (stored with its 16-byte
/// tag, a fragment chain longer than the maximum), and one byte more is
/// refused before anything is written.
#[test]
fn a_record_of_exactly_the_maximum_size_round_trips_and_one_byte_more_is_refused() {
    const MAX: usize = 100_000;
    for (encrypt, compress) in [(true, false), (true, true), (false, true), (false, false)] {
        let storage = SimStorage::new(21);
        let mut o = options(&storage);
        if encrypt {
            let keys = Arc::new(Keyring::new(KeyId::new(1), Key::from_bytes([7; 32])).unwrap());
            o.encryption(keys);
        }
        if compress {
            o.compression_level(Some(3));
        }
        let what = format!("encrypt {encrypt}, compress {compress}");
        // Incompressible (stored as it is, plus the tag) and compressible.
        let mut noise = Vec::with_capacity(MAX);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        while noise.len() < MAX {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        noise.truncate(MAX);
        let text = b"the same words again ".repeat(MAX / 21 + 1)[..MAX].to_vec();
        let (wal, _) = Wal::open(DIR, &o).unwrap();
        assert_eq!(wal.append(&noise).unwrap(), Lsn::new(1), "{what}");
        assert_eq!(wal.append(&text).unwrap(), Lsn::new(2), "{what}");
        let mut longer = noise.clone();
        longer.push(0);
        assert!(
            matches!(wal.append(&longer), Err(groupwal::Error::TooLarge { .. })),
            "{what}"
        );
        assert!(
            wal.append_batch(&[&text[..], &longer[..]]).is_err(),
            "{what}"
        );
        assert_eq!(
            wal.append(b"after").unwrap(),
            Lsn::new(3),
            "{what}: nothing taken"
        );
        wal.close().unwrap();
        // Recovery and a reader read back exactly what was written.
        let (wal, report) = Wal::open(DIR, &o).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(report.last_lsn, Lsn::new(3), "{what}");
        let back: Vec<Vec<u8>> = wal
            .read_from(Lsn::FIRST)
            .unwrap()
            .map(|r| r.unwrap().payload)
            .collect();
        assert_eq!(back, [noise, text, b"after".to_vec()], "{what}");
        wal.close().unwrap();
    }
}

/// Stream records of an encrypted log: the stream header is encrypted with
/// the entry (no stream id or entry in plaintext on disk), read back with
/// the key, and a flipped stream flag does not authenticate.
#[test]
fn stream_records_are_encrypted_and_their_flag_is_authenticated() {
    let storage = SimStorage::new(21);
    let keys = Arc::new(Keyring::new(KeyId::new(1), Key::from_bytes([9; 32])).unwrap());
    let mut o = options(&storage);
    o.encryption(keys).compression_level(Some(3));
    let (wal, _) = Wal::open(DIR, &o).unwrap();
    let secret = b"stream secret ".repeat(20);
    for _ in 0..5 {
        wal.stream(0x5eed_5eed_5eed_5eed).append(&secret).unwrap();
    }
    wal.close().unwrap();
    let (wal, _) = Wal::open(DIR, &o).unwrap();
    let entries: Vec<(u64, Vec<u8>)> = wal
        .stream(0x5eed_5eed_5eed_5eed)
        .read(..)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|(_, e)| *e == secret));
    wal.close().unwrap();
    let segment = groupwal::io::Storage::list_dir(&storage, std::path::Path::new(DIR))
        .unwrap()
        .into_iter()
        .find(|e| e.name.ends_with(".wal"))
        .unwrap();
    let path = std::path::Path::new(DIR).join(&segment.name);
    let bytes = storage.contents(&path).unwrap();
    assert!(!bytes.windows(13).any(|w| w == b"stream secret"));
    assert!(
        !bytes
            .windows(8)
            .any(|w| w == 0x5eed_5eed_5eed_5eed_u64.to_le_bytes()),
        "the stream id is in plaintext"
    );
    // Clear the stream flag of the first stream record (its header CRC
    // and record CRC recomputed, as a forger would): the record no longer
    // authenticates, so it is damage, not a plain record.
    let header_len = groupwal::format::SEGMENT_HEADER_LEN;
    let mut at = header_len;
    let mut forged = None;
    while at + 32 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 24..at + 28].try_into().unwrap()) as usize;
        if bytes[at + 28] == 1 && bytes[at + 29] & 0x04 != 0 {
            forged = Some((at, len));
            break;
        }
        at += 32 + len;
    }
    let (at, len) = forged.expect("a stream record");
    let header = groupwal::format::SegmentHeader::decode(&bytes).unwrap();
    let decoded = groupwal::format::RecordDecoder::new(header.salt, 1 << 20)
        .decode(&bytes[at..at + 32 + len])
        .unwrap();
    let mut h = decoded.header;
    h.flags = h.flags.difference(groupwal::format::Flags::STREAM);
    let mut record = Vec::new();
    groupwal::format::encode_record(&mut record, &h, decoded.payload).unwrap();
    storage.damage(&path, at as u64, &record).unwrap();
    match Wal::open(DIR, &o) {
        Err(groupwal::Error::Corruption { .. }) => {}
        other => panic!("a forged flag opened as {:?}", other.map(|_| ())),
    }
}
