//! Walks arbitrary bytes as a record stream: the decoder and the
//! reassembler never panic, and every record they accept is canonical (it
//! re-encodes to exactly the bytes it was decoded from).
//!
//! Input: 8 bytes of salt (little-endian), then the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wal_format::{RECORD_HEADER_LEN, Reassembler, RecordDecoder, Salt, encode_record};

fuzz_target!(|data: &[u8]| {
    let Some((salt, stream)) = data.split_first_chunk::<8>() else {
        return;
    };
    let decoder = RecordDecoder::new(Salt::new(u64::from_le_bytes(*salt)), 1 << 20);
    let mut reassembler = Reassembler::new(1 << 20);
    let mut rest = stream;
    let mut scratch = Vec::new();
    loop {
        let _ = decoder.decode_header(rest);
        let record = match decoder.decode(rest) {
            Ok(r) => r,
            Err(_) => break,
        };
        let len = record.encoded_len();
        assert!(len >= RECORD_HEADER_LEN && len <= rest.len());
        scratch.clear();
        encode_record(&mut scratch, &record.header, record.payload).unwrap();
        assert_eq!(
            &scratch[..],
            &rest[..len],
            "accepted record is not canonical"
        );
        if let Ok(Some(logical)) = reassembler.push(record) {
            assert!(logical.payload.len() <= 1 << 20);
        }
        rest = &rest[len..];
    }
});
