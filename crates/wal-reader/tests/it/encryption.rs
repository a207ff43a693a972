//! Encrypted segments (and compressed ones when that feature is on): read
//! back with the right key; a missing key, a wrong key and a tampered
//! record are three different errors; recovery needs no key.

use std::num::NonZeroUsize;
use std::sync::Arc;

use wal_crypto::{Key, Keyring, PayloadEncoder, SegmentEncryptor};
use wal_format::{
    KeyId, LogId, LogicalKind, Lsn, RecordType, Salt, SegmentHeader, split_fragments,
};
use wal_io::Storage;
use wal_reader::{Error, LogReader, ReadOptions, recover};

use crate::support::*;

fn keyring(byte: u8) -> Keyring {
    Keyring::new(KeyId::new(3), Key::from_bytes([byte; 32])).unwrap()
}

/// Two encrypted segments of records 1..=20 (some fragmented, one
/// checkpoint); record `tamper` gets a flipped ciphertext bit under a valid
/// checksum. Returns what was written.
fn build(storage: &Arc<dyn Storage>, keys: &Keyring, tamper: Option<u64>) -> Vec<Expected> {
    let level = if cfg!(feature = "compression") {
        Some(3)
    } else {
        None
    };
    let mut encoder = PayloadEncoder::new(level).unwrap();
    let mut out = Vec::new();
    for s in 0..2u64 {
        let mut header =
            SegmentHeader::new(Lsn::new(s * 10 + 1), Salt::new(40 + s), LogId::new(77));
        let mut cipher = SegmentEncryptor::new_segment(keys, &mut header).unwrap();
        let mut seg = RawSeg::with_header(header);
        for lsn in s * 10 + 1..=s * 10 + 10 {
            let kind = if lsn == 4 {
                LogicalKind::Checkpoint
            } else {
                LogicalKind::Data
            };
            let len = if lsn % 3 == 0 { 7000 } else { 200 };
            let p = payload(lsn, len);
            let (flags, stored) = encoder
                .encode(Lsn::new(lsn), kind, &p, Some(&mut cipher))
                .unwrap();
            let mut stored = stored.to_vec();
            if tamper == Some(lsn) {
                stored[5] ^= 0x01;
            }
            if kind == LogicalKind::Checkpoint {
                seg.rec(lsn, RecordType::Checkpoint, flags, &stored);
            } else {
                for (ty, part) in split_fragments(&stored, NonZeroUsize::new(3000).unwrap()) {
                    seg.rec(lsn, ty, flags, part);
                }
            }
            out.push((Lsn::new(lsn), kind, p));
        }
        seg.write(&**storage, 100);
    }
    out
}

fn with_keys(keys: Keyring) -> ReadOptions {
    let mut o = read_options();
    o.keys(Arc::new(keys));
    o
}

#[test]
fn right_key_reads_everything() {
    let (_sim, storage) = sim(70);
    let written = build(&storage, &keyring(1), None);
    let got = read_all(storage.clone(), &dir(), &with_keys(keyring(1))).unwrap();
    assert_eq!(as_expected(&got), written);
    assert!(
        got.iter()
            .all(|r| r.flags.contains(wal_format::Flags::ENCRYPTED))
    );
    if cfg!(feature = "compression") {
        assert!(
            got.iter()
                .any(|r| r.flags.contains(wal_format::Flags::COMPRESSED))
        );
    }
    // Seek into the second segment.
    let mut reader = LogReader::open(storage.clone(), dir(), &with_keys(keyring(1))).unwrap();
    reader.seek(Lsn::new(15)).unwrap();
    assert_eq!(
        reader.next_record().unwrap().unwrap().payload,
        &written[14].2[..]
    );
}

#[test]
fn missing_and_wrong_keys_are_key_errors() {
    let (_sim, storage) = sim(71);
    build(&storage, &keyring(1), None);
    match read_all(storage.clone(), &dir(), &read_options()) {
        Err(Error::Key {
            path,
            source: wal_crypto::Error::MissingKey { key_id },
        }) => {
            assert_eq!(key_id, KeyId::new(3));
            assert!(path.ends_with("00000000000000000001.wal"));
        }
        other => panic!("expected a missing key, got {other:?}"),
    }
    match read_all(storage.clone(), &dir(), &with_keys(keyring(2))) {
        Err(Error::Key {
            source: wal_crypto::Error::WrongKey { key_id },
            ..
        }) => {
            assert_eq!(key_id, KeyId::new(3));
        }
        other => panic!("expected a wrong key, got {other:?}"),
    }
    // Recovery checks structure and checksums, not keys.
    let (_, report) = recover(storage.clone(), dir(), &raw_log_options(), &read_options()).unwrap();
    assert_eq!(report.last_lsn, Lsn::new(20));
}

#[test]
fn tampered_record_fails_authentication() {
    let (_sim, storage) = sim(72);
    build(&storage, &keyring(1), Some(12));
    let mut reader = LogReader::open(storage.clone(), dir(), &with_keys(keyring(1))).unwrap();
    for lsn in 1..=11u64 {
        assert_eq!(reader.next_record().unwrap().unwrap().lsn, Lsn::new(lsn));
    }
    match reader.next_record() {
        Err(Error::Payload {
            lsn,
            source: wal_crypto::Error::Authentication { .. },
            path,
            ..
        }) => {
            assert_eq!(lsn, Lsn::new(12));
            assert!(path.ends_with("00000000000000000011.wal"));
        }
        other => panic!("expected an authentication failure, got {other:?}"),
    }
    // The reader stops after an error, until a seek.
    assert!(reader.next_record().unwrap().is_none());
    reader.seek(Lsn::new(13)).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().lsn, Lsn::new(13));
}
