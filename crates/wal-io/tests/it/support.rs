//! Helpers shared by the scenarios: appending records, reading a log back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::{
    BatchMarker, Flags, Lsn, RecordHeader, RecordType, encode_record, segment_file_name,
};
use wal_io::sim::SimStorage;
use wal_io::{LogOptions, Preallocation, SegmentLog, Storage, SyncMode};

/// The directory of simulated logs.
pub(crate) const SIM_DIR: &str = "/data/wal";

/// A deterministic payload for `lsn`, `len` bytes.
pub(crate) fn payload(lsn: Lsn, len: usize) -> Vec<u8> {
    let mut state = lsn.get().wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Small segments, so tests rotate often.
pub(crate) fn small_options(mode: SyncMode) -> LogOptions {
    let mut options = LogOptions::new();
    options
        .segment_size(16 * 1024)
        .sync_mode(mode)
        .preallocation(Preallocation::ZeroFill)
        .max_payload_len(1 << 20);
    options
}

/// Appends one full record with a payload of `len` bytes at the log's next
/// LSN (or `Lsn::FIRST` for a new log), and returns its LSN.
pub(crate) fn append(log: &mut SegmentLog, len: usize) -> wal_io::Result<Lsn> {
    let lsn = log.next_lsn().unwrap_or(Lsn::FIRST);
    let body = payload(lsn, len);
    let salt = log.begin_batch(lsn, (32 + len) as u64)?;
    let mut buf = Vec::new();
    let header = RecordHeader {
        lsn,
        salt,
        record_type: RecordType::Full,
        flags: Flags::EMPTY,
    };
    encode_record(&mut buf, &header, &body).expect("encodes");
    let next = lsn.checked_next().expect("lsn");
    log.write(&buf, next)?;
    Ok(lsn)
}

/// Appends an atomic batch of `count` records of `len` bytes each (a batch
/// marker, then the records, in one write).
pub(crate) fn append_batch(log: &mut SegmentLog, count: u32, len: usize) -> wal_io::Result<Lsn> {
    let first = log.next_lsn().unwrap_or(Lsn::FIRST);
    let total = 36 + u64::from(count) * (32 + len as u64);
    let salt = log.begin_batch(first, total)?;
    let mut buf = Vec::new();
    let marker = BatchMarker::new(count).expect("count >= 2");
    encode_record(
        &mut buf,
        &RecordHeader {
            lsn: first,
            salt,
            record_type: RecordType::Batch,
            flags: Flags::EMPTY,
        },
        &marker.encode(),
    )
    .expect("encodes");
    let mut lsn = first;
    for _ in 0..count {
        let header = RecordHeader {
            lsn,
            salt,
            record_type: RecordType::Full,
            flags: Flags::EMPTY,
        };
        encode_record(&mut buf, &header, &payload(lsn, len)).expect("encodes");
        lsn = lsn.checked_next().expect("lsn");
    }
    log.write(&buf, lsn)?;
    Ok(first)
}

/// What a log directory holds, read back segment by segment.
#[derive(Debug)]
pub(crate) struct Contents {
    /// The LSNs of the full records, in file order.
    pub(crate) lsns: Vec<Lsn>,
    /// The first LSN of each segment.
    pub(crate) segments: Vec<Lsn>,
    /// Where the data of the last segment ends.
    pub(crate) end_offset: Option<u64>,
}

/// Opens the log, reads every record, and checks what any reader would:
/// each payload is the one written for its LSN, LSNs are dense across the
/// segments, every segment starts with the LSN of its name.
pub(crate) fn read_log(storage: Arc<dyn Storage>, dir: &Path, options: &LogOptions) -> Contents {
    let log = SegmentLog::open(storage, dir, options).expect("the log opens");
    let mut lsns = Vec::new();
    let mut end_offset = None;
    for info in log.segments() {
        let reader = log.open_segment(info.first_lsn()).expect("segment opens");
        let mut iter = reader.records(1 << 20);
        let mut first = true;
        for record in iter.by_ref() {
            let record = record.expect("reads");
            let h = record.header;
            if h.record_type == RecordType::Batch {
                continue;
            }
            if first {
                assert_eq!(h.lsn, info.first_lsn(), "first record of {info:?}");
                first = false;
            }
            assert_eq!(
                record.payload,
                payload(h.lsn, record.payload.len()),
                "payload of {:?}",
                h.lsn
            );
            if let Some(&prev) = lsns.last() {
                assert_eq!(Some(h.lsn), Lsn::checked_next(prev), "lsn gap in {info:?}");
            }
            lsns.push(h.lsn);
        }
        end_offset = iter.end().map(|e| e.offset());
    }
    Contents {
        lsns,
        segments: log.segments().iter().map(|s| s.first_lsn()).collect(),
        end_offset,
    }
}

/// LSNs `from..to` as a vector.
pub(crate) fn range(from: u64, to: u64) -> Vec<Lsn> {
    (from..to).map(Lsn::new).collect()
}

/// A simulated disk and its seed, printed so a failure can be replayed.
pub(crate) fn sim(seed: u64) -> SimStorage {
    eprintln!("sim seed {seed}");
    SimStorage::new(seed)
}

/// A seed for randomized tests: `WAL_IO_SEED` if set, else fixed.
pub(crate) fn seed() -> u64 {
    std::env::var("WAL_IO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0001)
}

/// A disk to run a scenario on: simulated or real.
pub(crate) struct TestDisk {
    /// "sim" or "real".
    pub(crate) name: &'static str,
    /// The storage.
    pub(crate) storage: Arc<dyn Storage>,
    /// The log directory on it.
    pub(crate) dir: PathBuf,
    /// The simulated disk, if it is one.
    pub(crate) sim: Option<SimStorage>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestDisk {
    /// Opens the log in this disk's directory.
    pub(crate) fn open(&self, options: &LogOptions) -> wal_io::Result<SegmentLog> {
        SegmentLog::open(self.storage.clone(), &self.dir, options)
    }

    /// Opens the log and appends 1000-byte records until it has
    /// `segments` segments, then syncs it.
    pub(crate) fn log_of_segments(&self, options: &LogOptions, segments: usize) -> SegmentLog {
        let mut log = self.open(options).expect("the log opens");
        while log.segments().len() < segments {
            append(&mut log, 1000).expect("appends");
        }
        log.sync().expect("syncs");
        log
    }

    /// Writes a log of one 100-byte record and closes it; returns the path
    /// of its one segment.
    pub(crate) fn one_record_log(&self, options: &LogOptions) -> PathBuf {
        let mut log = self.open(options).expect("the log opens");
        append(&mut log, 100).expect("appends");
        log.close().expect("closes");
        self.dir.join(segment_file_name(Lsn::FIRST))
    }

    /// Creates the file `path` (which must not exist) holding `bytes`.
    pub(crate) fn create_file(&self, path: &Path, bytes: &[u8]) {
        let f = self
            .storage
            .open(path, wal_io::OpenOptions::create_new())
            .expect("creates");
        f.write_all_at(bytes, 0).expect("writes");
    }

    /// The whole content of the file `path`.
    pub(crate) fn read_file(&self, path: &Path) -> Vec<u8> {
        let f = self
            .storage
            .open(path, wal_io::OpenOptions::read())
            .expect("opens");
        let mut bytes = vec![0u8; f.size().expect("sizes") as usize];
        f.read_exact_at(&mut bytes, 0).expect("reads");
        bytes
    }

    /// Writes `bytes` at `offset` of the existing file `path`, and syncs
    /// them.
    pub(crate) fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) {
        let f = self
            .storage
            .open(path, wal_io::OpenOptions::write())
            .expect("opens");
        f.write_all_at(bytes, offset).expect("writes");
        f.sync_data().expect("syncs");
    }
}

/// A temporary directory on the target directory's file system.
pub(crate) fn real_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir")
}

/// The simulated disk, then a real temporary directory.
pub(crate) fn disks(seed: u64) -> Vec<TestDisk> {
    let s = sim(seed);
    let tmp = real_tempdir();
    vec![
        TestDisk {
            name: "sim",
            storage: Arc::new(s.clone()),
            dir: SIM_DIR.into(),
            sim: Some(s),
            _tmp: None,
        },
        TestDisk {
            name: "real",
            storage: Arc::new(wal_io::FileStorage::new()),
            dir: tmp.path().join("wal"),
            sim: None,
            _tmp: Some(tmp),
        },
    ]
}
