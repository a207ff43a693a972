//! Shared helpers for groupwal's benchmarks: payload generation and record
//! streams, so every bench measures the same bytes; and the comparison
//! harness ([`harness`]) with its engines ([`engines`]), driven by the
//! `compare` binary (see `docs/PERFORMANCE.md`).

pub mod engines;
pub mod harness;

use wal_format::{Flags, Lsn, RecordHeader, RecordType, Salt, encode_record};

/// The salt every benchmark record carries.
pub const BENCH_SALT: Salt = Salt::new(0x0bad_cafe_f00d_d00d);

/// A payload of `len` bytes that does not compress to nothing (an LCG
/// stream), the same for every run.
#[must_use]
pub fn payload(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// `count` full records of `payload` with consecutive LSNs from 1, encoded
/// back to back.
#[must_use]
pub fn record_stream(payload: &[u8], count: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(count * (payload.len() + wal_format::RECORD_HEADER_LEN));
    for i in 0..count {
        let header = RecordHeader {
            lsn: Lsn::new(1 + i as u64),
            salt: BENCH_SALT,
            record_type: RecordType::Full,
            flags: Flags::EMPTY,
        };
        // A bench payload is far below the 4 GiB limit.
        let _ = encode_record(&mut buf, &header, payload);
    }
    buf
}
