//! The stored-payload decode path (authenticate, decrypt, decompress):
//!
//! 1. arbitrary stored bytes with arbitrary flags never panic and never
//!    produce more than the maximum record size;
//! 2. an arbitrary payload encoded (compressed and/or encrypted) decodes
//!    back exactly, and once the stored bytes of an encrypted record are
//!    changed in any way, decoding fails: never a different payload.

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wal_crypto::{
    Key, Keyring, PayloadDecoder, PayloadEncoder, SegmentDecryptor, SegmentEncryptor,
};
use wal_format::{Flags, KeyId, LogId, LogicalKind, Lsn, Salt, SegmentHeader};

const MAX: usize = 1 << 16;

#[derive(Arbitrary, Debug)]
struct Input {
    payload: Vec<u8>,
    compress: bool,
    encrypt: bool,
    checkpoint: bool,
    lsn: u64,
    mutation: Option<(u16, u8)>,
    truncate: Option<u16>,
    raw: Vec<u8>,
    raw_flags: u8,
    raw_with_cipher: bool,
}

fn keys() -> &'static Keyring {
    static KEYS: OnceLock<Keyring> = OnceLock::new();
    KEYS.get_or_init(|| Keyring::new(KeyId::new(1), Key::from_bytes([0x5a; 32])).unwrap())
}

fuzz_target!(|input: Input| {
    let kind = if input.checkpoint {
        LogicalKind::Checkpoint
    } else {
        LogicalKind::Data
    };
    let lsn = Lsn::new(input.lsn);
    let mut header = SegmentHeader::new(Lsn::new(1), Salt::new(3), LogId::new(4));
    let mut enc_cipher =
        SegmentEncryptor::new_segment(keys(), &mut header, wal_crypto::Link::NONE).unwrap();
    let dec_cipher = SegmentDecryptor::open(keys(), &header).unwrap();
    let mut decoder = PayloadDecoder::new(MAX);

    // 1. Arbitrary stored bytes.
    let flags = Flags::from_bits(input.raw_flags & Flags::KNOWN.bits()).unwrap();
    let cipher = input.raw_with_cipher.then_some(&dec_cipher);
    if let Ok(out) = decoder.decode(lsn, kind, flags, &input.raw, cipher) {
        assert!(out.len() <= MAX.max(input.raw.len()));
        if flags.contains(Flags::ENCRYPTED) {
            panic!("random bytes authenticated");
        }
    }

    // 2. Round trip, then tamper.
    if input.payload.len() > MAX {
        return;
    }
    let mut encoder = PayloadEncoder::new(input.compress.then_some(1)).unwrap();
    let cipher = input.encrypt.then_some(&mut enc_cipher);
    let (flags, stored) = encoder.encode(lsn, kind, &input.payload, cipher).unwrap();
    let stored = stored.to_vec();
    let dec = input.encrypt.then_some(&dec_cipher);
    let back = decoder.decode(lsn, kind, flags, &stored, dec).unwrap();
    assert_eq!(back, &input.payload[..]);

    if !input.encrypt {
        return;
    }
    let mut tampered = stored.clone();
    if let Some((pos, xor)) = input.mutation {
        if xor != 0 && !tampered.is_empty() {
            let at = usize::from(pos) % tampered.len();
            tampered[at] ^= xor;
        }
    }
    if let Some(cut) = input.truncate {
        tampered.truncate(usize::from(cut) % (stored.len() + 1));
    }
    if tampered != stored {
        assert!(
            decoder.decode(lsn, kind, flags, &tampered, dec).is_err(),
            "tampered record decoded"
        );
    }
});
