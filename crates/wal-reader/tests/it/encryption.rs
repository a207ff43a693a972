//! Encrypted segments (and compressed ones when that feature is on): read
//! back with the right key; a missing key, a wrong key and a tampered
//! record are three different errors; recovery needs the key and
//! authenticates every record, every segment header (its place in the log
//! too) and every marker, so what a reader finds forged, recovery refuses.

use std::num::NonZeroUsize;
use std::sync::Arc;

use wal_crypto::{Key, Keyring, Link, PayloadEncoder, SegmentEncryptor};
use wal_format::{
    KeyId, LogId, LogicalKind, Lsn, RecordType, Salt, SegmentHeader, split_fragments,
};
use wal_io::Storage;
use wal_reader::{CorruptionKind, Error, LogReader, ReadOptions, RecoveryMode, recover};

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
    let mut prev = Link::NONE;
    for s in 0..2u64 {
        let mut header =
            SegmentHeader::new(Lsn::new(s * 10 + 1), Salt::new(40 + s), LogId::new(77));
        let mut cipher = SegmentEncryptor::new_segment(keys, &mut header, prev).unwrap();
        prev = Link::to(&header);
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
    // Recovery needs the key (it authenticates everything), and says
    // which is missing or wrong before anything is read or written.
    for (o, missing) in [(read_options(), true), (with_keys(keyring(2)), false)] {
        match recover(storage.clone(), dir(), &raw_log_options(), &o) {
            Err(Error::Key { source, .. }) => {
                assert_eq!(
                    matches!(source, wal_crypto::Error::MissingKey { .. }),
                    missing,
                    "{source}"
                );
            }
            other => panic!("expected a key error, got {other:?}"),
        }
    }
    let (_, report) = recover(
        storage.clone(),
        dir(),
        &raw_log_options(),
        &with_keys(keyring(1)),
    )
    .unwrap();
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
    let check = |r: &wal_reader::CorruptRange| {
        assert_eq!(r.kind, CorruptionKind::Unauthenticated);
        assert_eq!(r.lsns, Some((Lsn::new(12), Lsn::new(12))));
        assert!(r.segment.ends_with("00000000000000000011.wal"));
    };
    match reader.next_record() {
        Err(Error::Corruption(r)) => check(&r),
        other => panic!("expected an authentication failure, got {other:?}"),
    }
    // The reader stops after an error, until a seek.
    assert!(reader.next_record().unwrap().is_none());
    reader.seek(Lsn::new(13)).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().lsn, Lsn::new(13));

    // A tailer reaches the verdict of the reader, and stops there too.
    let mark = Arc::new(wal_reader::Watermark::new(Lsn::new(20)));
    let mut tail = wal_reader::TailReader::open(
        storage.clone(),
        dir(),
        Lsn::FIRST,
        &with_keys(keyring(1)),
        mark,
    )
    .unwrap();
    for lsn in 1..=11u64 {
        assert_eq!(tail.try_next().unwrap().unwrap().lsn, Lsn::new(lsn));
    }
    match tail.try_next() {
        Err(Error::Corruption(r)) => check(&r),
        other => panic!("expected an authentication failure, got {other:?}"),
    }
    assert!(tail.try_next().unwrap().is_none());
    // In the skipping mode it skips the record, as the reader does.
    let mut skip = with_keys(keyring(1));
    skip.mode(RecoveryMode::SkipAnyCorruptedRecords);
    let mark = Arc::new(wal_reader::Watermark::new(Lsn::new(20)));
    let mut tail =
        wal_reader::TailReader::open(storage.clone(), dir(), Lsn::FIRST, &skip, mark).unwrap();
    let mut got = Vec::new();
    while let Some(r) = tail.try_next().unwrap() {
        got.push(r.lsn.get());
    }
    assert_eq!(got, (1..=20).filter(|&l| l != 12).collect::<Vec<_>>());

    // Recovery reaches the same verdict, and the modes apply to it.
    match recover(
        storage.clone(),
        dir(),
        &raw_log_options(),
        &with_keys(keyring(1)),
    ) {
        Err(Error::Corruption(r)) => check(&r),
        other => panic!("expected an authentication failure, got {other:?}"),
    }
    let mut skip = with_keys(keyring(1));
    skip.mode(RecoveryMode::SkipAnyCorruptedRecords);
    let got: Vec<u64> = LogReader::open(storage.clone(), dir(), &skip)
        .unwrap()
        .map(|r| r.unwrap().lsn.get())
        .collect();
    assert_eq!(got, (1..=20).filter(|&l| l != 12).collect::<Vec<_>>());
    let mut pit = with_keys(keyring(1));
    pit.mode(RecoveryMode::PointInTime);
    let (log, report) = recover(storage.clone(), dir(), &raw_log_options(), &pit).unwrap();
    drop(log);
    assert_eq!(report.next_lsn, Lsn::new(12));
    check(&report.corrupt[0]);
}

/// A segment without a key among encrypted ones: nothing is ever written in
/// plaintext to an encrypted log, so it was put there (forged). Every
/// reader says so, with or without the key, and recovery refuses the log.
#[test]
fn a_plaintext_segment_in_an_encrypted_log_is_forgery() {
    let (sim, storage) = sim(73);
    build(&storage, &keyring(1), None);
    // Segment 11..=20 replaced by plaintext records at the same LSNs, with
    // valid checksums.
    let mut forged = RawSeg::new(11, 41);
    forged.header.log_id = LogId::new(77);
    forged.bytes = forged.header.encode().to_vec();
    for lsn in 11..=20 {
        forged.full(lsn);
    }
    let path = forged.write(&*storage, 100);
    assert!(sim.contents(&path).is_ok());
    for o in [read_options(), with_keys(keyring(1))] {
        match read_all(storage.clone(), &dir(), &o) {
            Err(Error::Corruption(r)) => {
                assert_eq!(r.kind, CorruptionKind::Unauthenticated);
                assert_eq!(r.segment, path);
            }
            Err(Error::Key { .. }) if o.get_mode() == RecoveryMode::default() => {
                // Without the key the first segment cannot be read at all.
            }
            other => panic!("expected forgery, got {other:?}"),
        }
    }
    match recover(
        storage.clone(),
        dir(),
        &raw_log_options(),
        &with_keys(keyring(1)),
    ) {
        Err(Error::Corruption(r)) => assert_eq!(r.kind, CorruptionKind::Unauthenticated),
        other => panic!("expected forgery, got {other:?}"),
    }
}

/// A segment of another log under the same key, with the same log id,
/// first LSN and records (so nothing but its header tag, which binds the
/// segment before it, tells): refused. So is a log whose middle segment
/// was dropped.
#[test]
fn a_spliced_or_dropped_segment_does_not_authenticate() {
    let (_sim, storage) = sim(74);
    build(&storage, &keyring(1), None);
    let (other_sim, other) = sim(75);
    // The same log id, salts and records, other seeds: its second
    // segment's tag binds its own first segment.
    build(&other, &keyring(1), None);
    let second = dir().join(wal_format::segment_file_name(Lsn::new(11)));
    let spliced = other_sim.contents(&second).unwrap();
    let f = storage.open(&second, wal_io::OpenOptions::write()).unwrap();
    f.write_all_at(&spliced, 0).unwrap();
    drop(f);
    for result in read_and_recover(&storage, &raw_log_options(), &with_keys(keyring(1))) {
        match result {
            Err(Error::Corruption(r)) => {
                assert_eq!(r.kind, CorruptionKind::Unauthenticated);
                assert_eq!(r.segment, second);
                assert!(r.detail.contains("header tag"), "{}", r.detail);
            }
            other => panic!("expected a spliced segment, got {other:?}"),
        }
    }
}

/// Markers of an encrypted segment carry a tag: a commit marker whose
/// durable LSN was changed (checksums recomputed) is forged, for a reader
/// with the key and for recovery.
#[test]
fn a_forged_marker_does_not_authenticate() {
    let (sim, storage) = sim(76);
    let keys: Arc<dyn wal_crypto::KeyProvider> = Arc::new(keyring(1));
    let mut commit = commit_options();
    commit.encryption(Some(keys.clone()));
    let log = committer_with(storage.clone(), &dir(), &log_options(), &commit);
    for i in 0..10u64 {
        log.append(&payload(i + 1, 100)).unwrap();
    }
    log.close().unwrap();
    // The fifth commit marker of the first segment: durable lsn + 1.
    let path = dir().join(wal_format::segment_file_name(Lsn::FIRST));
    let bytes = sim.contents(&path).unwrap();
    let header = SegmentHeader::decode(&bytes).unwrap();
    let decoder = wal_format::RecordDecoder::new(header.salt, 1 << 20);
    let mut at = wal_format::SEGMENT_HEADER_LEN;
    let mut markers = 0;
    let (offset, record_header, mut payload) = loop {
        let r = decoder.decode(&bytes[at..]).unwrap();
        if r.header.record_type == RecordType::Commit {
            markers += 1;
            if markers == 5 {
                break (at, r.header, r.payload.to_vec());
            }
        }
        at += r.encoded_len();
    };
    assert_eq!(record_header.flags, wal_format::Flags::ENCRYPTED, "tagged");
    // A lower durable lsn (still below its own): well formed, not authentic.
    payload[0] -= 1;
    let mut forged = Vec::new();
    wal_format::encode_record(&mut forged, &record_header, &payload).unwrap();
    sim.damage(&path, offset as u64, &forged).unwrap();
    for result in read_and_recover(&storage, &log_options(), &with_keys(keyring(1))) {
        match result {
            Err(Error::Corruption(r)) => {
                assert_eq!(r.kind, CorruptionKind::BadSequence);
                assert_eq!(r.offset, offset as u64);
                assert!(r.detail.contains("does not authenticate"), "{}", r.detail);
            }
            other => panic!("expected a forged marker, got {other:?}"),
        }
    }
}
