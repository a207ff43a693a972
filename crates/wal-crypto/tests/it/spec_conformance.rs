//! docs/FORMAT.md's encryption scheme, implemented here from the text alone
//! (HKDF-SHA256 subkey and key check, LSN nonce, 40-byte associated data,
//! the header tag and the marker tags),
//! must produce records the library reads, and a deviation from it must
//! not be read. (The library's own output cannot be compared byte for byte:
//! its key seeds are random by design.)

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use wal_crypto::{Key, Keyring, PayloadDecoder, SegmentDecryptor};
use wal_format::{Flags, KeyId, LogId, LogicalKind, Lsn, Salt, SegmentHeader};

const KEY: [u8; 32] = [0x11; 32];
const SEED: [u8; 16] = *b"0123456789abcdef";
const LOG_ID: u64 = 0x0102_0304_0506_0708;
const SALT: u64 = 0x1112_1314_1516_1718;
const KEY_ID: u32 = 7;

fn ids() -> Vec<u8> {
    [
        &LOG_ID.to_le_bytes()[..],
        &SALT.to_le_bytes(),
        &KEY_ID.to_le_bytes(),
    ]
    .concat()
}

fn spec_key_check() -> [u8; 16] {
    let hk = Hkdf::<Sha256>::new(Some(&SEED), &KEY);
    let mut out = [0u8; 16];
    hk.expand(&[&b"groupwal v1 key check"[..], &ids()].concat(), &mut out)
        .unwrap();
    out
}

fn spec_encrypt(lsn: u64, kind: u8, flags: u8, plaintext: &[u8]) -> Vec<u8> {
    let hk = Hkdf::<Sha256>::new(Some(&SEED), &KEY);
    let mut record_key = [0u8; 32];
    hk.expand(
        &[&b"groupwal v1 record key"[..], &ids()].concat(),
        &mut record_key,
    )
    .unwrap();
    let aead = Aes256Gcm::new_from_slice(&record_key).unwrap();
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&lsn.to_le_bytes());
    let stored_len = (plaintext.len() + 16) as u32;
    let ad = [
        &b"GWAD"[..],
        &LOG_ID.to_le_bytes(),
        &SALT.to_le_bytes(),
        &KEY_ID.to_le_bytes(),
        &lsn.to_le_bytes(),
        &[kind, flags, 0, 0],
        &stored_len.to_le_bytes(),
    ]
    .concat();
    assert_eq!(ad.len(), 40);
    let mut buf = plaintext.to_vec();
    let tag = aead
        .encrypt_inout_detached(&Nonce::from(nonce), &ad, buf.as_mut_slice().into())
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

/// A MAC key of the segment: HKDF-Expand of `label` and the ids.
fn spec_mac_key(label: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(&SEED), &KEY);
    let mut out = [0u8; 32];
    hk.expand(&[label, &ids()].concat(), &mut out).unwrap();
    out
}

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    use hkdf::hmac::{KeyInit as _, Mac};
    let mut m = <hkdf::hmac::Hmac<Sha256>>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The segment before the spec's segment.
fn prev() -> SegmentHeader {
    SegmentHeader::new(
        Lsn::new(12),
        Salt::new(0x2122_2324_2526_2728),
        LogId::new(LOG_ID),
    )
}

fn header() -> SegmentHeader {
    let mut h = SegmentHeader::new(Lsn::new(40), Salt::new(SALT), LogId::new(LOG_ID));
    h.key_id = KeyId::new(KEY_ID);
    h.key_seed = SEED;
    h.key_check = spec_key_check();
    // Header tag: HMAC-SHA256 under the header key, over "GWSH", header
    // bytes 0..80 and the previous segment's whole header; 12 bytes.
    let tag = hmac(
        &spec_mac_key(b"groupwal v2 header tag"),
        &[b"GWSH", &h.encode()[..80], &prev().encode()],
    );
    h.header_tag.copy_from_slice(&tag[..12]);
    h
}

#[test]
fn the_header_tag_and_marker_tags_follow_the_spec() {
    use wal_crypto::Link;
    use wal_format::{Record, RecordHeader, RecordType};
    let dec = SegmentDecryptor::open(&keys(), &header()).unwrap();
    let prev = Link::to(&prev());
    assert!(dec.verify_header(&header(), prev).is_ok());
    assert!(dec.verify_header(&header(), Link::NONE).is_err());
    // A commit marker at lsn 44 saying 43 was durable: its body, then
    // HMAC-SHA256 under the marker key over "GWMK", log id, salt, key id,
    // lsn, type, flags, body length (u32) and body; 16 bytes.
    let body = 43u64.to_le_bytes();
    let tag = hmac(
        &spec_mac_key(b"groupwal v2 marker tag"),
        &[
            b"GWMK",
            &LOG_ID.to_le_bytes(),
            &SALT.to_le_bytes(),
            &KEY_ID.to_le_bytes(),
            &44u64.to_le_bytes(),
            &[RecordType::Commit.as_u8(), Flags::ENCRYPTED.bits()],
            &8u32.to_le_bytes(),
            &body,
        ],
    );
    let payload = [&body[..], &tag[..16]].concat();
    let mut record = Record {
        header: RecordHeader {
            lsn: Lsn::new(44),
            salt: Salt::new(SALT),
            record_type: RecordType::Commit,
            flags: Flags::ENCRYPTED,
        },
        payload: &payload,
    };
    assert!(dec.verify_marker(&record).is_ok());
    record.header.lsn = Lsn::new(45);
    assert!(dec.verify_marker(&record).is_err());
}

fn keys() -> Keyring {
    Keyring::new(KeyId::new(KEY_ID), Key::from_bytes(KEY)).unwrap()
}

#[test]
fn library_reads_what_the_spec_writes() {
    let dec = SegmentDecryptor::open(&keys(), &header()).expect("documented key check accepted");
    let mut decoder = PayloadDecoder::new(1 << 10);
    for (lsn, kind, kind_byte) in [
        (42u64, LogicalKind::Data, 1u8),
        (43, LogicalKind::Checkpoint, 6),
    ] {
        let stored = spec_encrypt(lsn, kind_byte, Flags::ENCRYPTED.bits(), b"spec says so");
        let out = decoder
            .decode(Lsn::new(lsn), kind, Flags::ENCRYPTED, &stored, Some(&dec))
            .unwrap();
        assert_eq!(out, b"spec says so");
    }
}

#[test]
fn a_deviation_from_the_spec_is_not_read() {
    let dec = SegmentDecryptor::open(&keys(), &header()).unwrap();
    let mut decoder = PayloadDecoder::new(1 << 10);
    // Written with kind "checkpoint" in the associated data, read as data.
    let stored = spec_encrypt(42, 6, Flags::ENCRYPTED.bits(), b"x");
    assert!(
        decoder
            .decode(
                Lsn::new(42),
                LogicalKind::Data,
                Flags::ENCRYPTED,
                &stored,
                Some(&dec)
            )
            .is_err()
    );
}
