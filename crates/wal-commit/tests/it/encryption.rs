//! Encrypted logs: nothing reaches the disk in plaintext, everything reads
//! back with the key, each session writes to segments with fresh key seeds
//! (so no nonce meets the same subkey twice), and a missing key fails the
//! append with its own error instead of writing anything.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use wal_commit::{CommitOptions, Committer, Error};
use wal_crypto::{Key, KeyProvider, Keyring, PayloadDecoder, SegmentDecryptor};
use wal_format::{KeyId, Lsn, Reassembler, Record};
use wal_io::sim::SimStorage;
use wal_io::{SegmentLog, Storage};

use crate::support::{DIR, log_options};

const MARKER: &[u8] = b"PLAINTEXT-MARKER";

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::new(KeyId::new(3), Key::from_bytes([0x42; 32])).unwrap())
}

fn options(keys: Arc<dyn KeyProvider>, compress: bool) -> CommitOptions {
    let mut o = crate::support::commit_options();
    o.encryption(Some(keys));
    if compress && cfg!(feature = "compression") {
        o.compression_level(Some(3));
    }
    o
}

/// Opens the log on `storage` with `o`; recovery has the test key (an
/// encrypted log is refused without it).
fn open(storage: &SimStorage, o: &CommitOptions) -> Committer {
    let mut read = wal_reader::ReadOptions::new();
    read.keys(keyring());
    crate::support::open_reading_with(Arc::new(storage.clone()), o, &read)
}

/// A payload with the marker in it, compressible, sometimes longer than
/// the fragment size (3000).
fn secret(i: u64) -> Vec<u8> {
    let mut p = format!("record {i} ").into_bytes();
    while p.len() < 40 + (i as usize * 211) % 7000 {
        p.extend_from_slice(MARKER);
    }
    p
}

/// What an encrypted log holds: (LSN, plaintext) records and each
/// segment's key seed.
type Decrypted = (Vec<(Lsn, Vec<u8>)>, Vec<[u8; 16]>);

/// Reads every logical record back, decrypting with `keys`; also returns
/// the key seed of each segment.
fn read_decrypted(storage: &SimStorage, keys: &dyn KeyProvider) -> Decrypted {
    let log = SegmentLog::open(Arc::new(storage.clone()), DIR, &log_options()).unwrap();
    let mut out = Vec::new();
    let mut seeds = Vec::new();
    let mut decoder = PayloadDecoder::new(1 << 20);
    for seg in log.segments() {
        let header = seg.header();
        assert_eq!(header.key_id, KeyId::new(3), "every segment is encrypted");
        seeds.push(header.key_seed);
        let cipher = SegmentDecryptor::open(keys, header).unwrap();
        let mut reassembler = Reassembler::new(1 << 20);
        for rec in log.open_segment(seg.first_lsn()).unwrap().records(1 << 20) {
            let rec = rec.unwrap();
            if rec.header.record_type.is_marker() {
                continue;
            }
            let record = Record {
                header: rec.header,
                payload: &rec.payload,
            };
            if let Some(l) = reassembler.push(record).unwrap() {
                let plain = decoder
                    .decode(l.lsn, l.kind, l.flags, l.payload, Some(&cipher))
                    .unwrap();
                out.push((l.lsn, plain.to_vec()));
            }
        }
    }
    (out, seeds)
}

fn raw_bytes(storage: &SimStorage) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in storage.list_dir(Path::new(DIR)).unwrap() {
        all.extend(storage.contents(&Path::new(DIR).join(&entry.name)).unwrap());
    }
    all
}

#[test]
fn nothing_is_written_in_plaintext_and_everything_reads_back() {
    for compress in [false, true] {
        let storage = SimStorage::new(11);
        let keys = keyring();
        let log = open(&storage, &options(keys.clone(), compress));
        let mut expected = Vec::new();
        for i in 0..40 {
            let lsn = log.append(&secret(i)).unwrap();
            expected.push((lsn, secret(i)));
        }
        let batch: Vec<Vec<u8>> = (100..104).map(secret).collect();
        let (first, _) = log.append_batch(&batch).unwrap();
        for (k, p) in batch.into_iter().enumerate() {
            expected.push((Lsn::new(first.get() + k as u64), p));
        }
        log.close().unwrap();

        let raw = raw_bytes(&storage);
        assert!(raw.len() > 20_000);
        assert!(
            !raw.windows(MARKER.len()).any(|w| w == MARKER),
            "plaintext on disk (compress {compress})"
        );
        let (got, _) = read_decrypted(&storage, &*keys);
        assert_eq!(got, expected, "compress {compress}");
    }
}

#[test]
fn each_session_writes_to_new_segments_with_fresh_seeds() {
    let storage = SimStorage::new(12);
    let keys = keyring();
    let o = options(keys.clone(), false);
    let mut expected = Vec::new();
    for session in 0..3u64 {
        let log = open(&storage, &o);
        for i in 0..5 {
            let p = secret(session * 10 + i);
            expected.push((log.append(&p).unwrap(), p));
        }
        log.close().unwrap();
    }
    let (got, seeds) = read_decrypted(&storage, &*keys);
    assert_eq!(got, expected);
    // Three sessions, three segments (each small enough not to rotate),
    // each with its own seed: no (subkey, LSN) pair repeats.
    assert_eq!(seeds.len(), 3);
    assert_eq!(seeds.iter().collect::<BTreeSet<_>>().len(), 3);
}

#[test]
fn a_log_written_in_plaintext_continues_encrypted_in_a_new_segment() {
    let storage = SimStorage::new(13);
    let plain = open(&storage, &crate::support::commit_options());
    plain.append(b"before keys").unwrap();
    plain.close().unwrap();
    let log = open(&storage, &options(keyring(), false));
    assert_eq!(log.append(&secret(1)).unwrap(), Lsn::new(2));
    log.close().unwrap();
    let log = SegmentLog::open(Arc::new(storage.clone()), DIR, &log_options()).unwrap();
    let ids: Vec<KeyId> = log.segments().iter().map(|s| s.header().key_id).collect();
    assert_eq!(ids, vec![KeyId::NONE, KeyId::new(3)]);
}

/// Claims a current key it does not have.
#[derive(Debug)]
struct Forgetful;

impl KeyProvider for Forgetful {
    fn key(&self, _: KeyId) -> Option<Key> {
        None
    }
    fn current(&self) -> KeyId {
        KeyId::new(9)
    }
}

#[test]
fn a_missing_key_fails_the_open_and_writes_nothing() {
    let storage = SimStorage::new(14);
    // A new log makes its first segment when it opens: that is where the
    // key is missed.
    let new_log = SegmentLog::open(Arc::new(storage.clone()), DIR, &log_options()).unwrap();
    let e = Committer::from_log(new_log, &options(Arc::new(Forgetful), false)).unwrap_err();
    assert!(
        matches!(e.root(), Error::Crypto(wal_crypto::Error::MissingKey { key_id }) if *key_id == KeyId::new(9)),
        "{e:?}"
    );
    let log = SegmentLog::open(Arc::new(storage.clone()), DIR, &log_options()).unwrap();
    assert!(
        log.segments().is_empty(),
        "a segment was created without its key"
    );
}
