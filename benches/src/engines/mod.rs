//! The engines the harness can run, by name.
//!
//! To add one: write `engines/NAME.rs` with a type implementing
//! [`DurableLog`] and an `open(dir: &Path) -> io::Result<Self>`, then add an
//! [`EngineInfo`] for it to [`ENGINES`] (behind a `#[cfg(feature = ...)]`
//! if it pulls in a heavy build). The harness creates a fresh, empty
//! directory for every run and removes it afterwards.

pub mod mutex;
pub mod window;

use std::io;
use std::path::Path;

use wal_format::{Flags, Lsn, RecordHeader, RecordType, encode_record};

use crate::harness::DurableLog;

/// An engine the harness knows by name.
#[derive(Debug, Clone, Copy)]
pub struct EngineInfo {
    /// The name used by `--engines`.
    pub name: &'static str,
    /// One line on what it is and how it is configured.
    pub about: &'static str,
    /// Opens the engine on an empty directory.
    pub open: fn(&Path) -> io::Result<Box<dyn DurableLog>>,
}

/// Every engine, in the default column order.
pub const ENGINES: &[EngineInfo] = &[
    EngineInfo {
        name: "mutex",
        about: "Mutex<File> in append mode: lock, write, fdatasync, unlock, per append",
        open: |dir| Ok(Box::new(mutex::MutexLog::open(dir)?)),
    },
    EngineInfo {
        name: "window",
        about: "the seed's fixed-window design: one tokio task, 200 µs window, fdatasync inside the task",
        open: |dir| Ok(Box::new(window::WindowLog::open(dir)?)),
    },
];

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
    let info = ENGINES.iter().find(|e| e.name == name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown engine {name:?}; known: {}", names().join(", ")),
        )
    })?;
    (info.open)(dir)
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

    /// Appends from `threads` threads, `per_thread` each, and checks the
    /// LSNs are 1..=n with none repeated and that the file holds exactly
    /// those records in LSN order.
    pub(crate) fn check_engine(name: &str, file: &str, threads: usize, per_thread: usize) {
        let dir = tempfile::tempdir().unwrap();
        let log: Arc<Box<dyn DurableLog>> = Arc::new(open(name, dir.path()).unwrap());
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
        assert_eq!(names(), ["mutex", "window"]);
    }
}
