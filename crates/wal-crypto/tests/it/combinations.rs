//! Every combination of compression and encryption round-trips any payload.

use proptest::prelude::*;
use wal_crypto::{
    Key, Keyring, PayloadDecoder, PayloadEncoder, SegmentDecryptor, SegmentEncryptor,
};
use wal_format::{Flags, KeyId, LogId, LogicalKind, Lsn, Salt, SegmentHeader};

fn payload_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        // Compressible: a short pattern repeated.
        (proptest::collection::vec(any::<u8>(), 1..16), 1usize..400)
            .prop_map(|(pat, n)| pat.repeat(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(
        payloads in proptest::collection::vec(payload_strategy(), 1..6),
        compress in any::<bool>(),
        encrypt in any::<bool>(),
        checkpoint in any::<bool>(),
    ) {
        let keys = Keyring::new(KeyId::new(3), Key::from_bytes([0x42; 32])).unwrap();
        let mut header = SegmentHeader::new(Lsn::new(1), Salt::new(11), LogId::new(12));
        let mut enc_cipher = encrypt.then(|| SegmentEncryptor::new_segment(&keys, &mut header, wal_crypto::Link::NONE).unwrap());
        let mut encoder = PayloadEncoder::new(compress.then_some(3)).unwrap();
        let kind = if checkpoint { LogicalKind::Checkpoint } else { LogicalKind::Data };
        let mut stored = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let lsn = Lsn::new(1 + i as u64);
            let (flags, bytes) = encoder.encode(lsn, kind, p, enc_cipher.as_mut()).unwrap();
            prop_assert_eq!(flags.contains(Flags::ENCRYPTED), encrypt);
            if !compress { prop_assert!(!flags.contains(Flags::COMPRESSED)); }
            if flags.contains(Flags::COMPRESSED) { prop_assert!(bytes.len() < p.len() + 16); }
            if encrypt && !p.is_empty() && p.len() >= 16 && !flags.contains(Flags::COMPRESSED) {
                prop_assert_ne!(&bytes[..16], &p[..16], "plaintext leaked");
            }
            stored.push((lsn, flags, bytes.to_vec()));
        }
        let dec_cipher = encrypt.then(|| SegmentDecryptor::open(&keys, &header).unwrap());
        let mut decoder = PayloadDecoder::new(3000 * 16);
        for ((lsn, flags, bytes), p) in stored.iter().zip(&payloads) {
            let back = decoder.decode(*lsn, kind, *flags, bytes, dec_cipher.as_ref()).unwrap();
            prop_assert_eq!(back, &p[..]);
        }
    }
}

#[test]
fn compression_pays_on_repetitive_records_and_is_skipped_otherwise() {
    let mut encoder = PayloadEncoder::new(Some(1)).unwrap();
    let text = b"{\"user\":17,\"action\":\"login\",\"ok\":true}".repeat(30);
    let (flags, bytes) = encoder
        .encode(Lsn::new(1), LogicalKind::Data, &text, None)
        .unwrap();
    assert_eq!(flags, Flags::COMPRESSED);
    assert!(
        bytes.len() * 5 < text.len(),
        "{} of {}",
        bytes.len(),
        text.len()
    );
    let (flags, bytes) = encoder
        .encode(Lsn::new(2), LogicalKind::Data, b"tiny", None)
        .unwrap();
    assert_eq!((flags, bytes), (Flags::EMPTY, &b"tiny"[..]));
}
