//! Encode then decode gives back exactly what went in, alone or in a stream.

use proptest::prelude::*;
use wal_format::{RECORD_HEADER_LEN, RecordDecoder, encode_record};

use crate::support::header;

proptest! {
    #[test]
    fn single_record(h in header(), payload in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut buf = vec![0xAA; 3]; // encoding appends after existing bytes
        let n = encode_record(&mut buf, &h, &payload).unwrap();
        prop_assert_eq!(n, RECORD_HEADER_LEN + payload.len());
        prop_assert_eq!(buf.len(), 3 + n);
        let rec = RecordDecoder::new(h.salt, payload.len() as u32).decode(&buf[3..]).unwrap();
        prop_assert_eq!(rec.header, h);
        prop_assert_eq!(rec.payload, &payload[..]);
        prop_assert_eq!(rec.encoded_len(), n);
    }

    #[test]
    fn stream_of_records(
        records in proptest::collection::vec(
            (header(), proptest::collection::vec(any::<u8>(), 0..300)), 1..20),
        salt in any::<u64>(),
    ) {
        let salt = wal_format::Salt::new(salt);
        let mut buf = Vec::new();
        for (h, p) in &records {
            let h = wal_format::RecordHeader { salt, ..*h };
            encode_record(&mut buf, &h, p).unwrap();
        }
        let decoder = RecordDecoder::new(salt, 300);
        let mut rest = &buf[..];
        for (h, p) in &records {
            let rec = decoder.decode(rest).unwrap();
            prop_assert_eq!(rec.header.lsn, h.lsn);
            prop_assert_eq!(rec.header.record_type, h.record_type);
            prop_assert_eq!(rec.header.flags, h.flags);
            prop_assert_eq!(rec.payload, &p[..]);
            rest = &rest[rec.encoded_len()..];
        }
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn header_only_decode_agrees_with_full_decode(h in header(), payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut buf = Vec::new();
        encode_record(&mut buf, &h, &payload).unwrap();
        let d = RecordDecoder::new(h.salt, 512);
        let vh = d.decode_header(&buf[..RECORD_HEADER_LEN]).unwrap();
        prop_assert_eq!(vh.header, h);
        prop_assert_eq!(vh.payload_len as usize, payload.len());
        let rec = vh.verify_payload(&buf[RECORD_HEADER_LEN..]).unwrap();
        prop_assert_eq!(rec, d.decode(&buf).unwrap());
    }
}
