//! Arbitrary bytes as a segment header: never panics, and a header that
//! decodes re-encodes to exactly the bytes it came from.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wal_format::{SEGMENT_HEADER_LEN, SegmentHeader};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = SegmentHeader::decode(data) {
        assert_eq!(&header.encode()[..], &data[..SEGMENT_HEADER_LEN]);
        assert!(header.first_lsn.get() >= 1);
    }
});
