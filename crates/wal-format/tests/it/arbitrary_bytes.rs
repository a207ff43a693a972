//! Decoders never panic on arbitrary bytes, and never accept random junk.

use proptest::prelude::*;
use wal_format::{Error, Reassembler, RecordDecoder, Salt, SegmentHeader};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn record_decoder_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..256), salt in any::<u64>(), max in any::<u32>()) {
        let d = RecordDecoder::new(Salt::new(salt), max);
        let _ = d.decode_header(&bytes);
        // Random bytes essentially never carry two matching CRC-32s.
        match d.decode(&bytes) {
            Err(_) => {}
            Ok(rec) => prop_assert!(rec.encoded_len() <= bytes.len()),
        }
    }

    #[test]
    fn segment_header_decoder_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = SegmentHeader::decode(&bytes);
    }

    #[test]
    fn stream_walk_terminates(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let d = RecordDecoder::new(Salt::new(0), u32::MAX);
        let mut reassembler = Reassembler::new(1 << 20);
        let mut rest = &bytes[..];
        let mut steps = 0;
        while let Ok(rec) = d.decode(rest) {
            let _ = reassembler.push(rec);
            rest = &rest[rec.encoded_len()..];
            steps += 1;
            prop_assert!(steps <= bytes.len() / wal_format::RECORD_HEADER_LEN);
        }
    }
}

/// A header claiming a 4 GiB payload is refused by the length check, before
/// anything would read or allocate that much.
#[test]
fn huge_length_in_a_valid_header_is_refused() {
    let salt = Salt::new(5);
    let mut buf = Vec::new();
    wal_format::encode_record(
        &mut buf,
        &crate::support::header_of(wal_format::RecordType::Full, 1, salt),
        b"",
    )
    .unwrap();
    buf[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    let hc = crc32fast_hash(&buf[8..32]);
    buf[4..8].copy_from_slice(&hc.to_le_bytes());
    let got = RecordDecoder::new(salt, 1 << 20).decode(&buf);
    assert_eq!(
        got,
        Err(Error::TooLong {
            len: u64::from(u32::MAX),
            max: 1 << 20
        })
    );
}

/// CRC-32 (IEEE), bit by bit: an independent check of the checksum the
/// format documents, without depending on crc32fast here.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn reference_crc_matches_the_documented_check_value() {
    // The CRC-32/ISO-HDLC check value.
    assert_eq!(crc32fast_hash(b"123456789"), 0xCBF4_3926);
}
