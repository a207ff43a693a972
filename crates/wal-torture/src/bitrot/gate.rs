//! A storage wrapper that can hold the committer inside a file sync, so
//! that pipelined appends form the same groups on every run.
//!
//! The committer takes every queued request as one group once the previous
//! group's sync returns; how many of several pipelined submits make the
//! first group depends on when its I/O thread wakes up. Armed, the gate
//! parks the first file sync (`sync_data`, `sync_all`) after it, until it
//! is released: the workload submits one record, waits until the
//! committer is parked inside that record's group (a handshake on a
//! condition variable, not a sleep), submits the rest and releases it.
//! The groups are then always `[first]` and `[the rest]`, and an image's
//! layout (and so a case's positions) is the same on every run.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use groupwal::io::{DirEntry, DirLock, OpenOptions, Storage, StorageFile};

#[derive(Debug, Default)]
struct State {
    /// The next sync parks.
    armed: bool,
    /// A sync is parked.
    parked: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called before every file sync: parks the first one after arming.
    fn pass(&self) {
        let mut s = self.lock();
        if !s.armed || s.parked {
            return;
        }
        s.parked = true;
        self.changed.notify_all();
        while s.armed {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.parked = false;
        self.changed.notify_all();
    }
}

/// The storage wrapper (see the module docs).
#[derive(Clone)]
pub(crate) struct Gate {
    inner: Arc<dyn Storage>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

/// How long [`Armed::wait_parked`] waits for the committer before it
/// reports that it never synced (a guard against a hang, not a timing
/// assumption: the sync comes within microseconds).
const PARK_GUARD: Duration = Duration::from_secs(60);

impl Gate {
    pub(crate) fn new(inner: Arc<dyn Storage>) -> Self {
        Gate {
            inner,
            shared: Arc::default(),
        }
    }

    /// Arms the gate: the next file sync parks until the returned guard
    /// is dropped.
    pub(crate) fn arm(&self) -> Armed<'_> {
        self.shared.lock().armed = true;
        Armed { gate: self }
    }
}

/// An armed gate; dropping it releases a parked sync.
pub(crate) struct Armed<'a> {
    gate: &'a Gate,
}

impl Armed<'_> {
    /// Waits until a sync is parked at the gate.
    pub(crate) fn wait_parked(&self) -> Result<(), String> {
        let shared = &self.gate.shared;
        let deadline = Instant::now() + PARK_GUARD;
        let mut s = shared.lock();
        while !s.parked {
            let now = Instant::now();
            if now >= deadline {
                return Err("the committer never synced the first pipelined record".into());
            }
            s = shared
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.gate.shared.lock().armed = false;
        self.gate.shared.changed.notify_all();
    }
}

#[derive(Debug)]
struct GateFile {
    inner: Box<dyn StorageFile>,
    shared: Arc<Shared>,
}

impl StorageFile for GateFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.inner.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.shared.pass();
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.shared.pass();
        self.inner.sync_all()
    }
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.allocate(offset, len)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.start_writeback(offset, len)
    }
}

impl Storage for Gate {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.inner.list_dir(path)
    }
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>> {
        Ok(Box::new(GateFile {
            inner: self.inner.open(path, options)?,
            shared: Arc::clone(&self.shared),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn lock_dir(&self, path: &Path, lock_file: &str) -> io::Result<Box<dyn DirLock>> {
        self.inner.lock_dir(path, lock_file)
    }
    fn random_u64(&self) -> io::Result<u64> {
        self.inner.random_u64()
    }
}
