//! The engines the harness can run, by name.
//!
//! To add one: write `engines/NAME.rs` with a type implementing
//! [`DurableLog`] and an `open(dir: &Path) -> io::Result<Self>` (and, if it
//! can read its records back, a [`RecoverFn`]), then add an [`EngineInfo`]
//! for it to [`ENGINES`] (behind a `#[cfg(feature = ...)]` if it pulls in a
//! heavy build). The harness creates a fresh, empty directory for every run
//! and removes it afterwards.

#[cfg(target_os = "linux")]
pub mod bare;
pub mod fjall;
pub mod groupwal;
pub mod mutex;
pub mod okaywal;
pub mod raft_engine;
pub mod raft_log;
#[cfg(all(feature = "rocksdb", groupwal_rocksdb))]
pub mod rocksdb;
pub mod window;

use std::io;
use std::path::Path;

use wal_format::{Flags, Lsn, RecordHeader, RecordType, encode_record};
use wal_io::{Preallocation, SyncMode};

use self::groupwal::{GroupwalLog, Variant, ZSTD_LEVEL};
use crate::harness::DurableLog;
use crate::harness::buffered::RecoverFn;

/// What an engine is opened for (an engine may configure itself
/// differently for each, and says so in its docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Concurrent durable appends.
    Durable,
    /// The buffered workload, whose records are then read back.
    Buffered,
}

/// An engine the harness knows by name.
#[derive(Debug, Clone, Copy)]
pub struct EngineInfo {
    /// The name used by `--engines`.
    pub name: &'static str,
    /// One line on what it is and how it is configured.
    pub about: &'static str,
    /// Opens the engine on an empty directory.
    pub open: fn(&Path, Purpose) -> io::Result<Box<dyn DurableLog>>,
    /// Reopens what the buffered workload wrote and reads it back, if the
    /// engine can.
    pub recover: Option<RecoverFn>,
}

/// `CommitOptions::wait_yields` of the `groupwal-yield` engines (here and
/// in the `streams` binary).
pub const YIELDS: u32 = 16;

fn gw(dir: &Path, variant: Variant) -> io::Result<Box<dyn DurableLog>> {
    Ok(Box::new(GroupwalLog::open(dir, variant)?))
}

/// Every engine, in the default column order.
pub const ENGINES: &[EngineInfo] = &[
    EngineInfo {
        name: "groupwal",
        about: "wal-commit Committer, fdatasync (SyncMode::Data), zero-filled 64 MiB segments, no compression",
        open: |dir, _| gw(dir, Variant::DEFAULT),
        recover: Some(groupwal::recover),
    },
    EngineInfo {
        name: "groupwal-zstd",
        about: "groupwal as above with zstd level 3 on every payload (kept only when smaller)",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    compression: Some(ZSTD_LEVEL),
                    ..Variant::DEFAULT
                },
            )
        },
        recover: None,
    },
    EngineInfo {
        name: "groupwal-aes",
        about: "groupwal with AES-256-GCM on every payload (a fresh key seed per segment)",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    encryption: true,
                    ..Variant::DEFAULT
                },
            )
        },
        recover: None,
    },
    EngineInfo {
        name: "groupwal-aes-zstd",
        about: "groupwal with zstd level 3, then AES-256-GCM, on every payload",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    encryption: true,
                    compression: Some(ZSTD_LEVEL),
                    ..Variant::DEFAULT
                },
            )
        },
        recover: None,
    },
    EngineInfo {
        name: "groupwal-fallocate",
        about: "groupwal with segments reserved by fallocate only (Preallocation::Allocate), not zero-filled",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    preallocation: Preallocation::Allocate,
                    ..Variant::DEFAULT
                },
            )
        },
        recover: Some(groupwal::recover),
    },
    EngineInfo {
        name: "groupwal-inline-prepare",
        about: "groupwal with spare segments prepared inline by the rotation, on the thread that writes groups (CommitOptions::prepare_in_background off)",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    prepare_in_background: false,
                    ..Variant::DEFAULT
                },
            )
        },
        recover: None,
    },
    EngineInfo {
        name: "groupwal-no-adaptive",
        about: "groupwal with groups that go as soon as the previous sync returns (WalOptions::adaptive_delay off)",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    adaptive_delay: false,
                    ..Variant::DEFAULT
                },
            )
        },
        recover: None,
    },
    EngineInfo {
        name: "groupwal-yield",
        about: "groupwal with waiting appenders that yield their CPU 16 times before they sleep (CommitOptions::wait_yields(16))",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    wait_yields: YIELDS,
                    ..Variant::DEFAULT
                },
            )
        },
        recover: None,
    },
    EngineInfo {
        name: "groupwal-inline-sync",
        about: "groupwal with each group synced by the thread that wrote it, before the next is written (CommitOptions::pipelined_sync off)",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    pipelined_sync: false,
                    ..Variant::DEFAULT
                },
            )
        },
        recover: None,
    },
    EngineInfo {
        name: "groupwal-zero-fill",
        about: "groupwal with every segment zero-filled, however it is written (WalOptions::adaptive_preallocation off)",
        open: |dir, _| {
            gw(
                dir,
                Variant {
                    adaptive_preallocation: false,
                    ..Variant::DEFAULT
                },
            )
        },
        recover: Some(groupwal::recover),
    },
    EngineInfo {
        name: "groupwal-all",
        about: "groupwal with fsync (SyncMode::All)",
        open: |dir, _| gw(dir, Variant::sync(SyncMode::All)),
        recover: None,
    },
    EngineInfo {
        name: "groupwal-dsync",
        about: "groupwal with O_DSYNC writes (SyncMode::Dsync)",
        open: |dir, _| gw(dir, Variant::sync(SyncMode::Dsync)),
        recover: None,
    },
    EngineInfo {
        name: "groupwal-direct",
        about: "groupwal with O_DIRECT|O_DSYNC aligned writes (SyncMode::Direct)",
        open: |dir, _| gw(dir, Variant::sync(SyncMode::Direct)),
        recover: None,
    },
    EngineInfo {
        name: "mutex",
        about: "Mutex<File> in append mode: lock, write, fdatasync, unlock, per append",
        open: |dir, _| Ok(Box::new(mutex::MutexLog::open(dir)?)),
        recover: Some(mutex::recover),
    },
    EngineInfo {
        name: "window",
        about: "the fixed-window design groupwal started from: one tokio task, 200 µs window, fdatasync inside the task",
        open: |dir, _| Ok(Box::new(window::WindowLog::open(dir)?)),
        recover: None,
    },
    EngineInfo {
        name: "okaywal",
        about: "okaywal 0.3, default Configuration, one entry per record, EntryWriter::commit",
        open: |dir, purpose| Ok(Box::new(okaywal::OkayLog::open(dir, purpose)?)),
        recover: Some(okaywal::recover),
    },
    EngineInfo {
        name: "raft-engine",
        about: "raft-engine 0.4, Config::default(), a region per writer, LogBatch::add_entries + write(sync=true)",
        open: |dir, _| Ok(Box::new(raft_engine::RaftLog::open(dir)?)),
        recover: Some(raft_engine::recover),
    },
    EngineInfo {
        name: "raft-log",
        about: "raft-log 0.4, Config::new(dir) defaults, RaftLog::append + flush(sync=true, callback) under a Mutex; its flush worker batches (1 ms window) one write + fdatasync",
        open: |dir, _| Ok(Box::new(raft_log::RaftLogStore::open(dir)?)),
        recover: Some(raft_log::recover),
    },
    EngineInfo {
        name: "fjall",
        about: "fjall 3, default options, Keyspace::insert + Database::persist(PersistMode::SyncData)",
        open: |dir, _| Ok(Box::new(fjall::FjallLog::open(dir)?)),
        recover: Some(fjall::recover),
    },
    #[cfg(target_os = "linux")]
    EngineInfo {
        name: "bare",
        about: "not a log: the least a group commit can do (a ticket per append, one write + fdatasync per group of every writer, one futex wake for all); not run by default",
        open: |dir, _| Ok(Box::new(bare::Bare::open(dir)?)),
        recover: None,
    },
    #[cfg(all(feature = "rocksdb", groupwal_rocksdb))]
    EngineInfo {
        name: "rocksdb",
        about: "RocksDB (rocksdb crate), default Options, put_opt with WriteOptions::set_sync(true)",
        open: |dir, _| Ok(Box::new(rocksdb::RocksLog::open(dir)?)),
        recover: Some(rocksdb::recover),
    },
];

/// The engines `compare` runs by default: groupwal's default
/// configuration, the baselines and every peer built in (not groupwal's
/// variants, nor the bare group commit, which is not a log).
#[must_use]
pub fn default_engines() -> Vec<&'static str> {
    ENGINES
        .iter()
        .map(|e| e.name)
        .filter(|n| !n.starts_with("groupwal-") && *n != "bare")
        .collect()
}

/// The names of [`ENGINES`].
#[must_use]
pub fn names() -> Vec<&'static str> {
    ENGINES.iter().map(|e| e.name).collect()
}

/// Opens the engine called `name` on the (empty) directory `dir`.
///
/// # Errors
///
/// `InvalidInput` for an unknown name; otherwise the engine's own error.
pub fn open(name: &str, dir: &Path) -> io::Result<Box<dyn DurableLog>> {
    (info(name)?.open)(dir, Purpose::Durable)
}

/// The engine called `name`.
///
/// # Errors
///
/// `InvalidInput` for an unknown name.
pub fn info(name: &str) -> io::Result<&'static EngineInfo> {
    ENGINES.iter().find(|e| e.name == name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown engine {name:?}; known: {}", names().join(", ")),
        )
    })
}

/// Appends one `wal-format` record (32-byte header + payload, `Full`, no
/// flags, [`crate::BENCH_SALT`]) to `buf`: the baselines write the same
/// bytes per record as groupwal does.
///
/// # Errors
///
/// A payload over the format's size limit.
pub fn encode(buf: &mut Vec<u8>, lsn: u64, payload: &[u8]) -> io::Result<()> {
    let header = RecordHeader {
        lsn: Lsn::new(lsn),
        salt: crate::BENCH_SALT,
        record_type: RecordType::Full,
        flags: Flags::EMPTY,
    };
    encode_record(buf, &header, payload)
        .map(|_| ())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use wal_format::RecordDecoder;

    use super::*;

    /// Decodes a log file written by a baseline into its (LSN, payload)
    /// pairs, stopping at the first byte that is not a record (preallocated
    /// zeros).
    pub(crate) fn decode_file(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let decoder = RecordDecoder::new(crate::BENCH_SALT, 1 << 20);
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Ok(record) = decoder.decode(rest) {
            out.push((record.header.lsn.get(), record.payload.to_vec()));
            rest = &rest[record.encoded_len()..];
        }
        out
    }

    /// Appends from `threads` threads, `per_thread` each (thread `t`'s
    /// payloads are `10 + t` bytes of `t`), checks the LSNs are 1..=n with
    /// none repeated and the engine's counters, then closes it; returns n.
    pub(crate) fn append_concurrently(
        log: Box<dyn DurableLog>,
        threads: usize,
        per_thread: usize,
    ) -> u64 {
        let log = Arc::new(log);
        let mut handles = Vec::new();
        for t in 0..threads {
            let log = Arc::clone(&log);
            handles.push(std::thread::spawn(move || {
                let payload = vec![t as u8; 10 + t];
                (0..per_thread)
                    .map(|_| log.append(&payload).unwrap())
                    .collect::<Vec<_>>()
            }));
        }
        let mut lsns: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        lsns.sort_unstable();
        let n = (threads * per_thread) as u64;
        assert_eq!(lsns, (1..=n).collect::<Vec<_>>());
        let stats = log.stats().unwrap();
        assert_eq!(stats.records, n);
        assert!(stats.syncs >= 1 && stats.syncs <= n);
        Arc::into_inner(log).unwrap().close().unwrap();
        n
    }

    /// Appends three records from one thread to `log` (empty) and checks
    /// that each got the next LSN and a sync of its own.
    pub(crate) fn check_one_sync_per_record(log: &dyn DurableLog) {
        for i in 1..=3 {
            assert_eq!(log.append(b"abc").unwrap(), i);
        }
        assert_eq!(
            log.stats(),
            Some(crate::harness::GroupStats {
                records: 3,
                syncs: 3
            })
        );
    }

    /// Writes `count` buffered records of `len` bytes into `log` (opened
    /// on `dir`), closes it, and checks that `recover` reads every one
    /// back from `dir`, in order.
    pub(crate) fn check_buffered_round_trip(
        log: Box<dyn DurableLog>,
        dir: &Path,
        recover: RecoverFn,
        count: u64,
        len: usize,
    ) {
        let mut source = crate::harness::buffered::RecordSource::new(count, len);
        log.write_buffered(&mut source).unwrap();
        log.close().unwrap();
        let mut v = crate::harness::buffered::Verifier::new(len);
        recover(dir, &mut v).unwrap();
        assert_eq!(v.finish(count), Ok(()));
    }

    /// [`append_concurrently`], then checks that the file holds exactly
    /// those records in LSN order.
    pub(crate) fn check_engine(name: &str, file: &str, threads: usize, per_thread: usize) {
        let dir = tempfile::tempdir().unwrap();
        let n = append_concurrently(open(name, dir.path()).unwrap(), threads, per_thread);
        let records = decode_file(&std::fs::read(dir.path().join(file)).unwrap());
        assert_eq!(records.len() as u64, n);
        for (i, (lsn, payload)) in records.iter().enumerate() {
            assert_eq!(*lsn, i as u64 + 1);
            let t = payload[0] as usize;
            assert_eq!(payload, &vec![t as u8; 10 + t]);
        }
    }

    #[test]
    fn unknown_engine_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = open("nope", dir.path()).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("mutex, window"), "{err}");
        assert_eq!(&names()[..2], ["groupwal", "groupwal-zstd"]);
        assert!(default_engines().contains(&"raft-engine"));
        assert!(default_engines().contains(&"raft-log"));
        assert!(!default_engines().contains(&"groupwal-all"));
        assert!(!default_engines().contains(&"bare"));
    }
}
