//! Recovery and reading over a log directory built from arbitrary bytes
//! (up to four segment files):
//!
//! 1. nothing panics or hangs, in any recovery mode, for the reader and for
//!    recovery;
//! 2. the reader's buffers stay within `ReadOptions::memory_bound`;
//! 3. recovery is idempotent: when it succeeds, a second recovery succeeds
//!    with the same next LSN and end, and cuts nothing more;
//! 4. after a successful recovery (outside the skipping mode) the reader
//!    yields a dense run of LSNs ending just before the next LSN.
//!
//! Input: a mode byte, then segment files separated by `SEPARATOR`. A part
//! that starts with the segment magic is a whole file (header included);
//! any other part gets a valid header (first LSN `1 + 8 * i`, salt
//! `0x5eed + i`) so its bytes are read as records.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use wal_format::{LogId, Lsn, SEGMENT_MAGIC, Salt, SegmentHeader, segment_file_name};
use wal_io::sim::SimStorage;
use wal_io::{LogOptions, OpenOptions, Preallocation, Storage};
use wal_reader::{LogReader, ReadOptions, RecoveryMode, recover};

const SEPARATOR: &[u8] = b"\xffSEGMENT\xff";
const DIR: &str = "/wal";

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        parts.push(&rest[..i]);
        rest = &rest[i + SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode_byte, data)) = data.split_first() else {
        return;
    };
    let mode = match mode_byte % 4 {
        0 => RecoveryMode::TolerateCorruptedTailRecords,
        1 => RecoveryMode::AbsoluteConsistency,
        2 => RecoveryMode::PointInTime,
        _ => RecoveryMode::SkipAnyCorruptedRecords,
    };
    let sim = SimStorage::new(u64::from(mode_byte));
    let storage: Arc<dyn Storage> = Arc::new(sim);
    let dir = std::path::Path::new(DIR);
    storage.create_dir_all(dir).unwrap();
    for (i, part) in split(data).into_iter().take(4).enumerate() {
        let (first, bytes) = if part.starts_with(&SEGMENT_MAGIC) {
            let first = SegmentHeader::decode(part)
                .map(|h| h.first_lsn)
                .unwrap_or(Lsn::new(1 + 8 * i as u64));
            (first, part.to_vec())
        } else {
            let first = Lsn::new(1 + 8 * i as u64);
            let header = SegmentHeader::new(first, Salt::new(0x5eed + i as u64), LogId::new(1));
            let mut bytes = header.encode().to_vec();
            bytes.extend_from_slice(part);
            (first, bytes)
        };
        let path = dir.join(segment_file_name(first));
        let file = storage.open(&path, OpenOptions::create()).unwrap();
        file.write_all_at(&bytes, 0).unwrap();
        file.sync_all().unwrap();
    }
    storage.sync_dir(dir).unwrap();

    let mut options = ReadOptions::new();
    options
        .mode(mode)
        .max_record_len(1 << 16)
        .max_payload_len(1 << 14)
        .buffer_size(4096)
        .index_interval(256);

    // The reader, read-only.
    if let Ok(mut reader) = LogReader::open(storage.clone(), dir, &options) {
        let mut n = 0;
        while let Ok(Some(_)) = reader.next_record() {
            n += 1;
            if n > 100_000 {
                panic!("more records than the input can hold");
            }
        }
        assert!(reader.buffer_high_water() <= options.memory_bound());
        let _ = reader.seek(Lsn::new(3));
        let _ = reader.next_record();
    }

    // Recovery, twice.
    let mut log_options = LogOptions::new();
    log_options
        .create(false)
        .segment_size(4096)
        .preallocation(Preallocation::None)
        .max_payload_len(1 << 14);
    let Ok((log, first)) = recover(storage.clone(), dir, &log_options, &options) else {
        return;
    };
    drop(log);
    let (log, second) = recover(storage.clone(), dir, &log_options, &options)
        .expect("a recovered log recovers again");
    drop(log);
    assert_eq!(second.next_lsn, first.next_lsn);
    assert_eq!(second.durable_end, first.durable_end);
    assert_eq!(second.truncated_bytes, 0);
    if mode != RecoveryMode::SkipAnyCorruptedRecords {
        assert!(second.corrupt.is_empty());
        let lsns: Vec<Lsn> = LogReader::open(storage, dir, &options)
            .expect("reader")
            .map(|r| r.expect("a recovered log reads back").lsn)
            .collect();
        for pair in lsns.windows(2) {
            assert_eq!(pair[1].get(), pair[0].get().saturating_add(1));
        }
        if let Some(last) = lsns.last() {
            assert_eq!(last.get().saturating_add(1), first.next_lsn.get());
        }
    }
});
