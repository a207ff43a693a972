//! Every single-bit flip anywhere in a record is detected.

use proptest::prelude::*;
use wal_format::{BatchMarker, Flags, RecordDecoder, RecordType, Salt, encode_record};

use crate::support::{header, header_of};

const SALT: Salt = Salt::new(0x0123_4567_89ab_cdef);

/// One record of each type, with payloads of a few sizes, every bit flipped
/// in turn: none decodes to a record.
#[test]
fn every_bit_of_a_record_of_each_type() {
    let mut checked = 0usize;
    for ty in RecordType::ALL {
        for len in [0usize, 1, 4, 37, 200] {
            let payload: Vec<u8> = if ty == RecordType::Batch {
                BatchMarker::new(3).unwrap().encode().to_vec()
            } else {
                (0..len).map(|i| (i * 31 + 7) as u8).collect()
            };
            let mut buf = Vec::new();
            let mut h = header_of(ty, 1 + len as u64, SALT);
            if ty != RecordType::Batch {
                h.flags = Flags::COMPRESSED;
            }
            encode_record(&mut buf, &h, &payload).unwrap();
            let decoder = RecordDecoder::new(SALT, 1 << 16);
            assert!(decoder.decode(&buf).is_ok());
            for bit in 0..buf.len() * 8 {
                let mut damaged = buf.clone();
                damaged[bit / 8] ^= 1 << (bit % 8);
                let got = decoder.decode(&damaged);
                assert!(
                    got.is_err(),
                    "{ty:?} len {len}: flip of bit {bit} undetected: {got:?}"
                );
                checked += 1;
            }
        }
    }
    // Guard against the loops silently covering nothing.
    assert!(checked > 6 * 8 * 32 * 5);
}

/// A flip in a record inside a stream is caught at that record, not later.
#[test]
fn flip_in_the_middle_of_a_stream_stops_at_that_record() {
    let mut buf = Vec::new();
    let mut starts = Vec::new();
    for lsn in 1..=5u64 {
        starts.push(buf.len());
        encode_record(
            &mut buf,
            &header_of(RecordType::Full, lsn, SALT),
            &[lsn as u8; 50],
        )
        .unwrap();
    }
    let decoder = RecordDecoder::new(SALT, 1024);
    for (victim, &start) in starts.iter().enumerate() {
        let mut damaged = buf.clone();
        damaged[start + 40] ^= 0x20;
        let mut rest = &damaged[..];
        let mut good = 0;
        while let Ok(rec) = decoder.decode(rest) {
            good += 1;
            rest = &rest[rec.encoded_len()..];
        }
        assert_eq!(good, victim);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_flip_in_any_record(
        h in header(),
        payload in proptest::collection::vec(any::<u8>(), 0..2048),
        bit_seed in any::<usize>(),
    ) {
        let mut buf = Vec::new();
        encode_record(&mut buf, &h, &payload).unwrap();
        let bit = bit_seed % (buf.len() * 8);
        buf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(RecordDecoder::new(h.salt, 4096).decode(&buf).is_err(), "bit {}", bit);
    }

    /// `decode` checks both checksums in one pass; it must say exactly what
    /// `decode_header` then `verify_payload` say, whole or damaged (a flip
    /// anywhere, or none), and with the record cut short.
    #[test]
    fn one_pass_decode_agrees_with_the_two_steps(
        h in header(),
        payload in proptest::collection::vec(any::<u8>(), 0..2048),
        flip in proptest::option::of(any::<usize>()),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let mut buf = Vec::new();
        encode_record(&mut buf, &h, &payload).unwrap();
        if let Some(seed) = flip {
            let bit = seed % (buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
        }
        if let Some(seed) = cut {
            buf.truncate(seed % (buf.len() + 1));
        }
        let d = RecordDecoder::new(h.salt, 4096);
        let two_steps = d.decode_header(&buf).and_then(|v| {
            match buf.get(wal_format::RECORD_HEADER_LEN..v.encoded_len()) {
                Some(p) => v.verify_payload(p),
                None => Err(wal_format::Error::Incomplete {
                    needed: v.encoded_len() - buf.len(),
                }),
            }
        });
        prop_assert_eq!(d.decode(&buf), two_steps);
    }
}
