//! The engines of the streams workloads.

use std::io;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use raft_engine::{Config, Engine, LogBatch};

use super::StreamLog;
use crate::engines::raft_engine::{DIR_NAME as RAFT_ENGINE_DIR, Entries, entry};

/// groupwal's streams: one `Wal` with its defaults (`SyncMode::Data`, 64
/// MiB zero-filled segments, rewrite beyond 16 segments).
pub struct GroupwalStreams {
    wal: groupwal::Wal,
}

impl GroupwalStreams {
    /// Opens (creates) a log in `dir/groupwal`.
    ///
    /// # Errors
    ///
    /// groupwal's.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::open_with(dir, &groupwal::WalOptions::new())
    }

    /// Opens (creates) a log in `dir/groupwal` with `options`.
    ///
    /// # Errors
    ///
    /// groupwal's.
    pub fn open_with(dir: &Path, options: &groupwal::WalOptions) -> io::Result<Self> {
        let (wal, _) =
            groupwal::Wal::open(dir.join("groupwal"), options).map_err(io::Error::other)?;
        Ok(Self { wal })
    }
}

impl StreamLog for GroupwalStreams {
    fn append(&self, stream: u64, payload: &[u8]) -> io::Result<u64> {
        self.wal
            .stream(stream)
            .append(payload)
            .map_err(io::Error::other)
    }

    fn purge(&self, stream: u64, index: u64) -> io::Result<()> {
        self.wal
            .stream(stream)
            .purge_below(index)
            .map_err(io::Error::other)
    }

    fn close(self: Box<Self>) -> io::Result<()> {
        self.wal.close().map_err(io::Error::other)
    }
}

/// raft-engine with `Config::default()` (as TiKV ships it): a region per
/// stream, `compact_to` to purge, `purge_expired_files` once a second (its
/// documentation asks the application to call it periodically; TiKV does
/// every 10 s).
pub struct RaftEngineStreams {
    engine: Engine,
    /// Each region's next index, held across its write (entries of a
    /// region must reach the engine in index order).
    regions: Vec<Mutex<u64>>,
}

impl RaftEngineStreams {
    /// Opens (creates) an engine in `dir/raft-engine` for `streams` regions.
    ///
    /// # Errors
    ///
    /// raft-engine's.
    pub fn open(dir: &Path, streams: u64) -> io::Result<Self> {
        let config = Config {
            dir: dir.join(RAFT_ENGINE_DIR).display().to_string(),
            ..Config::default()
        };
        Ok(Self {
            engine: Engine::open(config).map_err(to_io)?,
            regions: (0..streams).map(|_| Mutex::new(1)).collect(),
        })
    }
}

fn to_io(e: raft_engine::Error) -> io::Error {
    io::Error::other(e.to_string())
}

impl StreamLog for RaftEngineStreams {
    fn append(&self, stream: u64, payload: &[u8]) -> io::Result<u64> {
        let slot = self
            .regions
            .get(usize::try_from(stream).unwrap_or(usize::MAX))
            .ok_or_else(|| io::Error::other("stream out of range"))?;
        let mut next = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let index = *next;
        let mut batch = LogBatch::with_capacity(1);
        batch
            .add_entries::<Entries>(stream + 1, &[entry(index, payload)])
            .map_err(to_io)?;
        self.engine.write(&mut batch, true).map_err(to_io)?;
        *next += 1;
        Ok(index)
    }

    fn purge(&self, stream: u64, index: u64) -> io::Result<()> {
        self.engine.compact_to(stream + 1, index);
        Ok(())
    }

    fn maintain(&self) -> io::Result<()> {
        self.engine.purge_expired_files().map_err(to_io)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> io::Result<()> {
        self.engine.sync().map_err(to_io)
    }
}
