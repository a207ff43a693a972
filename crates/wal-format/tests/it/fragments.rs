//! Splitting a payload into fragments, encoding, decoding and reassembling
//! gives the payload back.

use std::num::NonZeroUsize;

use proptest::prelude::*;
use wal_format::{
    Flags, LogicalKind, Lsn, Reassembler, RecordDecoder, RecordHeader, RecordType, Salt,
    encode_record, split_fragments,
};

proptest! {
    #[test]
    fn split_encode_decode_reassemble(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 1..8),
        frag in 1usize..128,
        flags in 0u8..4,
    ) {
        let salt = Salt::new(77);
        let flags = Flags::from_bits(flags).unwrap();
        let max_fragment = NonZeroUsize::new(frag).unwrap();
        let mut buf = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let parts: Vec<_> = split_fragments(p, max_fragment).collect();
            prop_assert_eq!(parts.len(), p.len().div_ceil(frag).max(1));
            for (ty, part) in parts {
                prop_assert!(part.len() <= frag);
                let h = RecordHeader { lsn: Lsn::new(10 + i as u64), salt, record_type: ty, flags };
                encode_record(&mut buf, &h, part).unwrap();
            }
        }
        let decoder = RecordDecoder::new(salt, frag as u32);
        let mut reassembler = Reassembler::new(700);
        let mut rest = &buf[..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let rec = decoder.decode(rest).unwrap();
            rest = &rest[rec.encoded_len()..];
            if let Some(logical) = reassembler.push(rec).unwrap() {
                prop_assert_eq!(logical.kind, LogicalKind::Data);
                prop_assert_eq!(logical.flags, flags);
                out.push((logical.lsn, logical.payload.to_vec()));
            }
        }
        prop_assert!(!reassembler.is_pending());
        let expected: Vec<_> = payloads.iter().enumerate()
            .map(|(i, p)| (Lsn::new(10 + i as u64), p.clone())).collect();
        prop_assert_eq!(out, expected);
    }
}

#[test]
fn a_torn_chain_yields_nothing() {
    let salt = Salt::new(1);
    let payload = vec![7u8; 100];
    let mut records = Vec::new();
    for (ty, part) in split_fragments(&payload, NonZeroUsize::new(30).unwrap()) {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            &RecordHeader {
                lsn: Lsn::new(1),
                salt,
                record_type: ty,
                flags: Flags::EMPTY,
            },
            part,
        )
        .unwrap();
        records.push((ty, buf));
    }
    assert_eq!(records.len(), 4);
    assert_eq!(records.last().unwrap().0, RecordType::Last);
    let decoder = RecordDecoder::new(salt, 30);
    let mut reassembler = Reassembler::new(1000);
    // Everything but the last fragment: nothing comes out, the chain stays pending.
    for (_, bytes) in &records[..3] {
        assert_eq!(
            reassembler.push(decoder.decode(bytes).unwrap()).unwrap(),
            None
        );
    }
    assert!(reassembler.is_pending());
}
