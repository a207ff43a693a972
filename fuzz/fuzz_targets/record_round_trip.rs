//! Arbitrary logical records, split into fragments, encoded, decoded and
//! reassembled, come back exactly; a flipped bit in the stream is detected
//! or lands in a record that still decodes only if it was re-encoded
//! identically (never a silently changed payload).

#![no_main]

use std::num::NonZeroUsize;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wal_format::{
    Flags, Lsn, Reassembler, RecordDecoder, RecordHeader, RecordType, Salt, encode_record,
    split_fragments,
};

#[derive(Arbitrary, Debug)]
struct Input {
    salt: u64,
    first_lsn: u32,
    fragment: u8,
    flags: u8,
    checkpoint_at: Option<u8>,
    payloads: Vec<Vec<u8>>,
    flip: Option<u16>,
}

fuzz_target!(|input: Input| {
    let salt = Salt::new(input.salt);
    let fragment = NonZeroUsize::new(usize::from(input.fragment).max(1)).unwrap();
    let flags = Flags::from_bits(input.flags & Flags::KNOWN.bits()).unwrap();
    let mut buf = Vec::new();
    let mut expected = Vec::new();
    for (i, payload) in input.payloads.iter().take(64).enumerate() {
        let lsn = Lsn::new(u64::from(input.first_lsn) + 1 + i as u64);
        let checkpoint = input.checkpoint_at == Some(i as u8) && payload.len() <= fragment.get();
        if checkpoint {
            // A checkpoint never carries the stream flag (no writer puts it
            // there; the reassembler refuses it).
            let h = RecordHeader {
                lsn,
                salt,
                record_type: RecordType::Checkpoint,
                flags: flags.difference(Flags::STREAM),
            };
            encode_record(&mut buf, &h, payload).unwrap();
        } else {
            for (record_type, part) in split_fragments(payload, fragment) {
                let h = RecordHeader {
                    lsn,
                    salt,
                    record_type,
                    flags,
                };
                encode_record(&mut buf, &h, part).unwrap();
            }
        }
        expected.push((lsn, payload.clone()));
    }

    let decoder = RecordDecoder::new(salt, u32::from(input.fragment).max(1));
    let mut reassembler = Reassembler::new(1 << 20);
    let mut got = Vec::new();
    let mut rest = &buf[..];
    while !rest.is_empty() {
        let record = decoder
            .decode(rest)
            .expect("freshly encoded record must decode");
        rest = &rest[record.encoded_len()..];
        if let Some(l) = reassembler
            .push(record)
            .expect("freshly encoded chain must reassemble")
        {
            got.push((l.lsn, l.payload.to_vec()));
        }
    }
    assert_eq!(got, expected);

    // One flipped bit: the walk must stop at or before the damaged record.
    if let Some(flip) = input.flip {
        if buf.is_empty() {
            return;
        }
        let bit = usize::from(flip) % (buf.len() * 8);
        let mut damaged = buf.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let mut rest = &damaged[..];
        let mut offset = 0;
        while let Ok(record) = decoder.decode(rest) {
            let end = offset + record.encoded_len();
            assert!(
                !(offset..end).contains(&(bit / 8)),
                "flip of bit {bit} undetected"
            );
            offset = end;
            rest = &rest[record.encoded_len()..];
        }
        assert!(offset <= bit / 8);
    }
});
