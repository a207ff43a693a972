//! Shared helpers for groupwal's benchmarks: payload generation and record
//! streams, so every bench measures the same bytes; and the comparison
//! harness ([`harness`]) with its engines ([`engines`]), driven by the
//! `compare` binary (see `docs/PERFORMANCE.md`).

pub mod engines;
pub mod harness;
pub mod streams;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::{Flags, Lsn, RecordHeader, RecordType, Salt, encode_record};
use wal_io::{LogOptions, SegmentLog, Storage, SyncMode};

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

/// Writes a log of about `bytes` bytes of `size`-byte full records to
/// `dir` on `storage` (segments of `segment_size`, written 1 MiB at a time,
/// no syncs before the close); returns its segment files and the record
/// count.
///
/// # Errors
///
/// What the segment layer says.
pub fn write_log(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    segment_size: u64,
    bytes: usize,
    size: usize,
) -> Result<(Vec<PathBuf>, u64), wal_io::Error> {
    let mut options = LogOptions::new();
    options.segment_size(segment_size).sync_mode(SyncMode::None);
    let mut log = SegmentLog::open(storage.clone(), dir, &options)?;
    let body = payload(size);
    let encoded = size + wal_format::RECORD_HEADER_LEN;
    let per_batch = ((1usize << 20) / encoded).max(1);
    let total = bytes / encoded;
    let mut lsn = Lsn::FIRST;
    let mut buf = Vec::new();
    let mut written = 0;
    while written < total {
        let n = per_batch.min(total - written);
        let salt = log.begin_batch(lsn, (n * encoded) as u64)?;
        buf.clear();
        for i in 0..n as u64 {
            let header = RecordHeader {
                lsn: Lsn::new(lsn.get() + i),
                salt,
                record_type: RecordType::Full,
                flags: Flags::EMPTY,
            };
            // A bench payload is far below the 4 GiB limit.
            let _ = encode_record(&mut buf, &header, &body);
        }
        lsn = Lsn::new(lsn.get() + n as u64);
        log.write(&buf, lsn)?;
        written += n;
    }
    let files = log
        .segments()
        .iter()
        .map(|s| s.path().to_path_buf())
        .collect();
    log.close()?;
    Ok((files, written as u64))
}

/// `count` full records of `payload` with consecutive LSNs from 1, encoded
/// back to back.
#[must_use]
pub fn record_stream(payload: &[u8], count: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(count * (payload.len() + wal_format::RECORD_HEADER_LEN));
    encode_stream(&mut buf, payload, count);
    buf
}

/// Appends [`record_stream`]'s records to `out` (what the codec benchmark
/// times).
pub fn encode_stream(out: &mut Vec<u8>, payload: &[u8], count: usize) {
    for i in 0..count {
        let header = RecordHeader {
            lsn: Lsn::new(1 + i as u64),
            salt: BENCH_SALT,
            record_type: RecordType::Full,
            flags: Flags::EMPTY,
        };
        // A bench payload is far below the 4 GiB limit.
        let _ = encode_record(out, &header, payload);
    }
}
