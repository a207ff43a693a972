//! Flipping any bit of the ciphertext or the tag, or changing anything the
//! associated data binds (LSN, kind, flags, length, segment), fails
//! authentication; a wrong key is reported as a wrong key.

use wal_crypto::{
    Error, Key, Keyring, PayloadDecoder, SegmentDecryptor, SegmentEncryptor, TAG_LEN,
};
use wal_format::{Flags, KeyId, LogId, LogicalKind, Lsn, Salt, SegmentHeader};

const LSN: Lsn = Lsn::new(1000);

fn keys() -> Keyring {
    Keyring::new(KeyId::new(1), Key::from_bytes([7; 32])).unwrap()
}

fn sealed() -> (SegmentHeader, Flags, Vec<u8>) {
    let mut header = SegmentHeader::new(Lsn::new(990), Salt::new(5), LogId::new(6));
    let mut enc =
        SegmentEncryptor::new_segment(&keys(), &mut header, wal_crypto::Link::NONE).unwrap();
    let mut buf = b"the quick brown fox jumps over the lazy dog".to_vec();
    let flags = enc
        .encrypt(LSN, LogicalKind::Data, Flags::EMPTY, &mut buf)
        .unwrap();
    (header, flags, buf)
}

fn open(header: &SegmentHeader) -> SegmentDecryptor {
    SegmentDecryptor::open(&keys(), header).unwrap()
}

fn auth_fails(
    dec: &SegmentDecryptor,
    lsn: Lsn,
    kind: LogicalKind,
    flags: Flags,
    bytes: &[u8],
) -> bool {
    let mut buf = bytes.to_vec();
    dec.decrypt(lsn, kind, flags, &mut buf) == Err(Error::Authentication { lsn })
}

#[test]
fn every_bit_of_ciphertext_and_tag() {
    let (header, flags, sealed) = sealed();
    let dec = open(&header);
    assert!(!auth_fails(&dec, LSN, LogicalKind::Data, flags, &sealed));
    for bit in 0..sealed.len() * 8 {
        let mut damaged = sealed.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        assert!(
            auth_fails(&dec, LSN, LogicalKind::Data, flags, &damaged),
            "bit {bit}"
        );
    }
}

#[test]
fn every_bit_of_the_lsn() {
    let (header, flags, sealed) = sealed();
    let dec = open(&header);
    for bit in 0..64 {
        let lsn = Lsn::new(LSN.get() ^ (1 << bit));
        assert!(
            auth_fails(&dec, lsn, LogicalKind::Data, flags, &sealed),
            "lsn bit {bit}"
        );
    }
}

#[test]
fn kind_flags_and_length_are_bound() {
    let (header, flags, sealed) = sealed();
    let dec = open(&header);
    assert!(auth_fails(
        &dec,
        LSN,
        LogicalKind::Checkpoint,
        flags,
        &sealed
    ));
    assert!(auth_fails(
        &dec,
        LSN,
        LogicalKind::Data,
        flags | Flags::COMPRESSED,
        &sealed
    ));
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(auth_fails(&dec, LSN, LogicalKind::Data, flags, &longer));
    assert!(auth_fails(
        &dec,
        LSN,
        LogicalKind::Data,
        flags,
        &sealed[..sealed.len() - 1]
    ));
    assert!(auth_fails(
        &dec,
        LSN,
        LogicalKind::Data,
        flags,
        &sealed[..TAG_LEN - 1]
    ));
}

#[test]
fn a_record_moved_to_another_segment_fails() {
    let (_, flags, sealed) = sealed();
    // Same key, same LSN range, a different segment (its own seed and salt).
    let mut other = SegmentHeader::new(Lsn::new(990), Salt::new(5), LogId::new(6));
    SegmentEncryptor::new_segment(&keys(), &mut other, wal_crypto::Link::NONE).unwrap();
    assert!(auth_fails(
        &open(&other),
        LSN,
        LogicalKind::Data,
        flags,
        &sealed
    ));
}

#[test]
fn wrong_key_missing_key_and_damage_are_told_apart() {
    let (header, flags, sealed) = sealed();
    let wrong = Keyring::new(KeyId::new(1), Key::from_bytes([8; 32])).unwrap();
    assert_eq!(
        SegmentDecryptor::open(&wrong, &header).unwrap_err(),
        Error::WrongKey {
            key_id: KeyId::new(1)
        }
    );
    let elsewhere = Keyring::new(KeyId::new(9), Key::from_bytes([7; 32])).unwrap();
    assert_eq!(
        SegmentDecryptor::open(&elsewhere, &header).unwrap_err(),
        Error::MissingKey {
            key_id: KeyId::new(1)
        }
    );
    let mut damaged = sealed;
    damaged[0] ^= 0x80;
    let mut decoder = PayloadDecoder::new(1024);
    assert_eq!(
        decoder.decode(
            LSN,
            LogicalKind::Data,
            flags,
            &damaged,
            Some(&open(&header))
        ),
        Err(Error::Authentication { lsn: LSN })
    );
}

#[test]
fn plaintext_in_an_encrypted_segment_and_the_reverse_are_refused() {
    let (header, flags, sealed) = sealed();
    let dec = open(&header);
    let mut decoder = PayloadDecoder::new(1024);
    assert!(matches!(
        decoder.decode(
            LSN,
            LogicalKind::Data,
            Flags::EMPTY,
            b"injected",
            Some(&dec)
        ),
        Err(Error::Inconsistent { .. })
    ));
    assert!(matches!(
        decoder.decode(LSN, LogicalKind::Data, flags, &sealed, None),
        Err(Error::Inconsistent { .. })
    ));
}

#[test]
fn older_keys_stay_readable_after_rotation() {
    let mut ring = keys()
        .with_key(KeyId::new(2), Key::from_bytes([9; 32]))
        .unwrap();
    let (old_header, flags, sealed) = sealed();
    ring.rotate_to(KeyId::new(2)).unwrap();
    let mut new_header = SegmentHeader::new(Lsn::new(2000), Salt::new(1), LogId::new(6));
    SegmentEncryptor::new_segment(&ring, &mut new_header, wal_crypto::Link::NONE).unwrap();
    assert_eq!(new_header.key_id, KeyId::new(2));
    let mut buf = sealed;
    SegmentDecryptor::open(&ring, &old_header)
        .unwrap()
        .decrypt(LSN, LogicalKind::Data, flags, &mut buf)
        .unwrap();
    assert_eq!(buf, b"the quick brown fox jumps over the lazy dog");
}
