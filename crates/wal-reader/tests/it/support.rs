//! Writing logs for the tests: through the committer, through a bare
//! `SegmentLog`, or byte by byte (for damage no writer makes).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_commit::{CommitOptions, Committer};
use wal_format::{
    BatchMarker, CommitMarker, Flags, LogId, LogicalKind, Lsn, RecordHeader, RecordType, Salt,
    SegmentHeader, encode_record, segment_file_name,
};
use wal_io::sim::SimStorage;
use wal_io::{LogOptions, OpenOptions, Preallocation, SegmentLog, Storage};
use wal_reader::{DurableWatermark, LogReader, OwnedRecord, ReadOptions, TailReader};

pub(crate) const DIR: &str = "/wal";

pub(crate) fn dir() -> PathBuf {
    PathBuf::from(DIR)
}

/// Small segments, so a few dozen records span many.
pub(crate) fn log_options() -> LogOptions {
    let mut o = LogOptions::new();
    o.create(true).segment_size(16 * 1024);
    o
}

pub(crate) fn commit_options() -> CommitOptions {
    let mut o = CommitOptions::new();
    o.fragment_size(3000).max_record_len(20_000);
    o
}

pub(crate) fn read_options() -> ReadOptions {
    let mut o = ReadOptions::new();
    o.max_record_len(20_000).buffer_size(4096);
    o
}

/// The seed of a randomized test: `WAL_SEED` if set, else `default`;
/// printed so a failure can be replayed.
pub(crate) fn seed(name: &str, default: u64) -> u64 {
    let seed = std::env::var("WAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    eprintln!("{name}: seed {seed} (replay with WAL_SEED={seed})");
    seed
}

/// The workspace's test RNG (SplitMix64), so a seed names one case.
pub(crate) use wal_io::sim::SplitMix64 as Rng;

/// A payload that names its LSN, of a length that varies (some above the
/// fragment size).
pub(crate) fn payload(lsn: u64, len: usize) -> Vec<u8> {
    let mut p = format!("lsn {lsn}:").into_bytes();
    p.resize(len.max(p.len()), (lsn % 251) as u8);
    p
}

/// The keys of an encrypted log, when the `encryption` feature is on.
#[cfg(feature = "encryption")]
pub(crate) type Keys = Option<Arc<dyn wal_crypto::KeyProvider>>;
/// No keys without the `encryption` feature.
#[cfg(not(feature = "encryption"))]
pub(crate) type Keys = Option<std::convert::Infallible>;

/// A committer on the log in `dir`, opened as every opener must: recovery
/// first (with `keys`, which an encrypted log needs), then the committer on
/// the recovered log (encrypting with `keys` if given).
pub(crate) fn committer_keyed(
    storage: Arc<dyn Storage>,
    dir: &Path,
    log: &LogOptions,
    commit: &CommitOptions,
    keys: Keys,
) -> Committer {
    // Changed only with the keys of an encrypted build.
    #[cfg_attr(not(feature = "encryption"), allow(unused_mut))]
    let mut read = ReadOptions::new();
    #[cfg_attr(not(feature = "encryption"), allow(unused_mut))]
    let mut commit = commit.clone();
    #[cfg(feature = "encryption")]
    if let Some(keys) = keys {
        read.keys(keys.clone());
        commit.encryption(Some(keys));
    }
    #[cfg(not(feature = "encryption"))]
    let _ = keys;
    let (segments, _) = wal_reader::recover(storage, dir, log, &read).expect("recover");
    Committer::from_log(segments, &commit).expect("committer")
}

/// [`committer_keyed`] without keys.
pub(crate) fn committer_with(
    storage: Arc<dyn Storage>,
    dir: &Path,
    log: &LogOptions,
    commit: &CommitOptions,
) -> Committer {
    committer_keyed(storage, dir, log, commit, None)
}

/// [`committer_with`] with the tests' options.
pub(crate) fn committer(storage: Arc<dyn Storage>, dir: &Path) -> Committer {
    committer_with(storage, dir, &log_options(), &commit_options())
}

/// What was written: (LSN, kind, payload).
pub(crate) type Expected = (Lsn, LogicalKind, Vec<u8>);

/// Writes a mix of records, batches, checkpoints and fragmented records
/// with the committer; returns what it wrote.
pub(crate) fn write_mixed(
    storage: Arc<dyn Storage>,
    dir: &Path,
    n: usize,
    seed: u64,
) -> Vec<Expected> {
    write_mixed_keyed(storage, dir, n, seed, None)
}

/// [`write_mixed`], encrypting with `keys` if given.
pub(crate) fn write_mixed_keyed(
    storage: Arc<dyn Storage>,
    dir: &Path,
    n: usize,
    seed: u64,
    keys: Keys,
) -> Vec<Expected> {
    let log = committer_keyed(storage, dir, &log_options(), &commit_options(), keys);
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    // 1 on a new log; after what an earlier session wrote on one that is
    // not.
    let mut next = log.next_lsn().get();
    while out.len() < n {
        match rng.below(10) {
            0 => {
                let p = payload(next, rng.below(200) as usize);
                let lsn = log.checkpoint(&p).expect("checkpoint");
                assert_eq!(lsn.get(), next);
                out.push((lsn, LogicalKind::Checkpoint, p));
                next += 1;
            }
            1 | 2 => {
                let count = 2 + rng.below(4);
                let ps: Vec<Vec<u8>> = (0..count)
                    .map(|i| payload(next + i, rng.below(4000) as usize))
                    .collect();
                let (first, last) = log.append_batch(&ps).expect("batch");
                assert_eq!((first.get(), last.get()), (next, next + count - 1));
                for (i, p) in ps.into_iter().enumerate() {
                    out.push((Lsn::new(next + i as u64), LogicalKind::Data, p));
                }
                next += count;
            }
            3 => {
                let p = payload(next, 3000 + rng.below(12_000) as usize);
                let lsn = log.append(&p).expect("append");
                out.push((lsn, LogicalKind::Data, p));
                next += 1;
            }
            _ => {
                let p = payload(next, rng.below(600) as usize);
                let lsn = log.append(&p).expect("append");
                assert_eq!(lsn.get(), next);
                out.push((lsn, LogicalKind::Data, p));
                next += 1;
            }
        }
    }
    log.close().expect("close");
    out
}

/// Every record the reader yields, or its first error.
pub(crate) fn read_all(
    storage: Arc<dyn Storage>,
    dir: &Path,
    options: &ReadOptions,
) -> wal_reader::Result<Vec<OwnedRecord>> {
    LogReader::open(storage, dir, options)?.collect()
}

/// What a reader (reading every record) and then recovery make of the log
/// in [`dir`] with `options`.
pub(crate) fn read_and_recover(
    storage: &Arc<dyn Storage>,
    log: &LogOptions,
    options: &ReadOptions,
) -> [wal_reader::Result<()>; 2] {
    [
        read_all(storage.clone(), &dir(), options).map(drop),
        wal_reader::recover(storage.clone(), dir(), log, options).map(drop),
    ]
}

pub(crate) fn as_expected(records: &[OwnedRecord]) -> Vec<Expected> {
    records
        .iter()
        .map(|r| (r.lsn, r.kind, r.payload.clone()))
        .collect()
}

/// A log written with a bare `SegmentLog`, one logical record per batch
/// (fragmented when over `fragment`), synced after each; each batch starts
/// with a commit marker, as the committer's groups do.
pub(crate) struct SegWriter {
    pub(crate) log: SegmentLog,
    pub(crate) next: Lsn,
    pub(crate) fragment: usize,
}

impl SegWriter {
    pub(crate) fn open(storage: Arc<dyn Storage>, options: &LogOptions) -> SegWriter {
        Self::open_in(storage, &dir(), options)
    }

    pub(crate) fn open_in(
        storage: Arc<dyn Storage>,
        dir: &Path,
        options: &LogOptions,
    ) -> SegWriter {
        let (log, report) =
            wal_reader::recover(storage, dir, options, &read_options()).expect("recover");
        SegWriter {
            log,
            next: report.next_lsn,
            fragment: 3000,
        }
    }

    /// Appends one record; returns its LSN.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Lsn {
        let lsn = self.next;
        let frag = std::num::NonZeroUsize::new(self.fragment).expect("fragment");
        let parts: Vec<_> = wal_format::split_fragments(payload, frag).collect();
        let len: u64 = 40 + parts.iter().map(|(_, p)| 32 + p.len() as u64).sum::<u64>();
        let salt = self.log.begin_batch(lsn, len).expect("begin");
        let mut buf = Vec::new();
        let marker = CommitMarker::new(lsn.checked_prev().unwrap_or(Lsn::ZERO));
        let h = RecordHeader {
            lsn,
            salt,
            record_type: RecordType::Commit,
            flags: Flags::EMPTY,
        };
        encode_record(&mut buf, &h, &marker.encode()).expect("encode");
        for (ty, part) in parts {
            let h = RecordHeader {
                lsn,
                salt,
                record_type: ty,
                flags: Flags::EMPTY,
            };
            encode_record(&mut buf, &h, part).expect("encode");
        }
        self.next = lsn.checked_next().expect("lsn");
        self.log.write(&buf, self.next).expect("write");
        self.log.sync().expect("sync");
        lsn
    }
}

/// A segment built byte by byte.
pub(crate) struct RawSeg {
    pub(crate) header: SegmentHeader,
    pub(crate) bytes: Vec<u8>,
}

impl RawSeg {
    pub(crate) fn new(first: u64, salt: u64) -> RawSeg {
        Self::with_header(SegmentHeader::new(
            Lsn::new(first),
            Salt::new(salt),
            LogId::new(77),
        ))
    }

    pub(crate) fn with_header(header: SegmentHeader) -> RawSeg {
        RawSeg {
            header,
            bytes: header.encode().to_vec(),
        }
    }

    /// Appends a record; returns its offset.
    pub(crate) fn rec(&mut self, lsn: u64, ty: RecordType, flags: Flags, payload: &[u8]) -> u64 {
        let at = self.bytes.len() as u64;
        let h = RecordHeader {
            lsn: Lsn::new(lsn),
            salt: self.header.salt,
            record_type: ty,
            flags,
        };
        encode_record(&mut self.bytes, &h, payload).expect("encode");
        at
    }

    pub(crate) fn full(&mut self, lsn: u64) -> u64 {
        self.rec(lsn, RecordType::Full, Flags::EMPTY, &payload(lsn, 40))
    }

    /// A commit marker (the start of a group written when the log was
    /// durable through `durable`); returns its offset.
    pub(crate) fn commit(&mut self, lsn: u64, durable: u64) -> u64 {
        let m = CommitMarker::new(Lsn::new(durable)).encode();
        self.rec(lsn, RecordType::Commit, Flags::EMPTY, &m)
    }

    /// A group of one record, as the committer writes it when each append
    /// is synced before the next: its commit marker, then the record.
    /// Returns the record's offset.
    pub(crate) fn group(&mut self, lsn: u64) -> u64 {
        self.commit(lsn, lsn - 1);
        self.full(lsn)
    }

    pub(crate) fn batch(&mut self, lsn: u64, count: u32) -> u64 {
        let m = BatchMarker::new(count).expect("marker").encode();
        self.rec(lsn, RecordType::Batch, Flags::EMPTY, &m)
    }

    /// Writes the segment (and `zeros` zero bytes after it) durably.
    pub(crate) fn write(&self, storage: &dyn Storage, zeros: usize) -> PathBuf {
        storage.create_dir_all(&dir()).expect("mkdir");
        let path = dir().join(segment_file_name(self.header.first_lsn));
        let file = storage.open(&path, OpenOptions::create()).expect("create");
        let mut all = self.bytes.clone();
        all.resize(all.len() + zeros, 0);
        file.write_all_at(&all, 0).expect("write");
        file.sync_all().expect("sync");
        storage.sync_dir(&dir()).expect("sync dir");
        path
    }
}

pub(crate) fn sim(seed: u64) -> (SimStorage, Arc<dyn Storage>) {
    let sim = SimStorage::new(seed);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    (sim, storage)
}

/// How many segment files (`*.wal`) the test directory holds.
pub(crate) fn segment_files(storage: &dyn Storage) -> usize {
    storage
        .list_dir(&dir())
        .unwrap()
        .iter()
        .filter(|e| e.name.ends_with(".wal"))
        .count()
}

/// A tail of the test log from its first record, with the test options.
pub(crate) fn tail_from_first(
    storage: &Arc<dyn Storage>,
    mark: Arc<dyn DurableWatermark>,
) -> TailReader {
    TailReader::open(storage.clone(), DIR, Lsn::FIRST, &read_options(), mark).unwrap()
}

/// Log options for logs written by hand (no preallocation).
pub(crate) fn raw_log_options() -> LogOptions {
    let mut o = log_options();
    o.preallocation(Preallocation::None);
    o
}
