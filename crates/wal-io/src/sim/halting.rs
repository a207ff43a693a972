//! [`HaltingStorage`]: any storage, its mutating calls numbered, halted
//! from the k-th on as if the process died there.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::storage::{DirEntry, DirLock, OpenOptions, Storage, StorageFile};

/// One mutating call seen by a [`HaltingStorage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Its number, from 0.
    pub index: u64,
    /// The operation (`"write"`, `"sync_data"`, `"rename"`, ...).
    pub op: &'static str,
    /// The path it applied to (the source, for a rename).
    pub path: PathBuf,
}

#[derive(Debug, Default)]
struct HaltState {
    count: AtomicU64,
    /// Calls numbered at or after this fail; `u64::MAX`: never.
    halt_at: AtomicU64,
    calls: Mutex<Vec<Call>>,
}

impl HaltState {
    /// Numbers a mutating call and says whether it may run.
    fn enter(&self, op: &'static str, path: &Path) -> io::Result<()> {
        let index = self.count.fetch_add(1, Ordering::SeqCst);
        if index >= self.halt_at.load(Ordering::SeqCst) {
            return Err(halted());
        }
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Call {
                index,
                op,
                path: path.to_path_buf(),
            });
        Ok(())
    }

    fn check(&self) -> io::Result<()> {
        if self.count.load(Ordering::SeqCst) > self.halt_at.load(Ordering::SeqCst) {
            return Err(halted());
        }
        Ok(())
    }
}

fn halted() -> io::Error {
    io::Error::other("halted by HaltingStorage (simulated process death)")
}

/// Wraps a storage, numbers its mutating calls (file creation, write, sync,
/// allocate, set_len, rename, remove, directory sync, lock), and can make
/// the k-th and every later call fail, as if the process died there.
///
/// Reads keep working until a halted mutating call has been refused; after
/// that every call fails.
#[derive(Clone, Debug)]
pub struct HaltingStorage {
    inner: Arc<dyn Storage>,
    state: Arc<HaltState>,
}

impl HaltingStorage {
    /// Wraps `inner`; nothing halts until [`HaltingStorage::halt_at`].
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        let state = HaltState::default();
        state.halt_at.store(u64::MAX, Ordering::SeqCst);
        HaltingStorage {
            inner,
            state: Arc::new(state),
        }
    }

    /// Makes mutating call number `index` (from 0, counting every call so
    /// far) and everything after it fail.
    pub fn halt_at(&self, index: u64) {
        self.state.halt_at.store(index, Ordering::SeqCst);
    }

    /// The number of mutating calls so far (refused ones included).
    #[must_use]
    pub fn calls_made(&self) -> u64 {
        self.state.count.load(Ordering::SeqCst)
    }

    /// Restarts the numbering at 0 and forgets the calls seen (the halt
    /// point stays).
    pub fn reset_count(&self) {
        self.state.count.store(0, Ordering::SeqCst);
        self.state
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The mutating calls that ran, in order.
    #[must_use]
    pub fn calls(&self) -> Vec<Call> {
        self.state
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[derive(Debug)]
struct HaltingFile {
    inner: Box<dyn StorageFile>,
    state: Arc<HaltState>,
    path: PathBuf,
}

impl StorageFile for HaltingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.state.check()?;
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.state.enter("write", &self.path)?;
        self.inner.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.state.enter("sync_data", &self.path)?;
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.state.enter("sync_all", &self.path)?;
        self.inner.sync_all()
    }
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.state.enter("allocate", &self.path)?;
        self.inner.allocate(offset, len)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.state.enter("set_len", &self.path)?;
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.state.check()?;
        self.inner.size()
    }
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        self.state.check()?;
        self.inner.start_writeback(offset, len)
    }
}

impl Storage for HaltingStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.state.enter("create_dir_all", path)?;
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.state.check()?;
        self.inner.list_dir(path)
    }
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>> {
        if options.create || options.create_new {
            self.state.enter("create", path)?;
        } else {
            self.state.check()?;
        }
        Ok(Box::new(HaltingFile {
            inner: self.inner.open(path, options)?,
            state: Arc::clone(&self.state),
            path: path.to_path_buf(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.state.enter("rename", from)?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.state.enter("remove", path)?;
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.state.enter("sync_dir", path)?;
        self.inner.sync_dir(path)
    }
    fn lock_dir(&self, path: &Path, lock_file: &str) -> io::Result<Box<dyn DirLock>> {
        self.state.enter("lock", path)?;
        self.inner.lock_dir(path, lock_file)
    }
    fn random_u64(&self) -> io::Result<u64> {
        self.state.check()?;
        self.inner.random_u64()
    }
    fn free_space(&self, path: &Path) -> io::Result<Option<u64>> {
        self.state.check()?;
        self.inner.free_space(path)
    }
}
