//! The simulated disk's state ([`Inner`]: directories, inodes, locks,
//! faults, capacity, counters, behind one mutex) and its handle,
//! [`SimStorage`]: making one, configuring it, and looking at it in tests.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::fault::Fault;
use super::inode::Inode;
use super::namespace::Dir;
use super::rng::SplitMix64;

#[derive(Clone, Debug)]
pub(super) struct Inner {
    pub(super) rng: SplitMix64,
    /// Bumped by every crash; handles of an earlier epoch are dead.
    pub(super) epoch: u64,
    pub(super) dirs: BTreeMap<PathBuf, Dir>,
    pub(super) inodes: BTreeMap<u64, Inode>,
    pub(super) next_ino: u64,
    pub(super) locks: BTreeMap<PathBuf, u64>,
    pub(super) next_lock: u64,
    pub(super) queued: Vec<Fault>,
    pub(super) rates: BTreeMap<Fault, u32>,
    pub(super) capacity: Option<u64>,
    /// What [`Storage::free_space`](crate::Storage::free_space) reports.
    pub(super) free_space: Option<u64>,
    /// [`SimStorage::hold_syncs`]: the next file sync parks.
    pub(super) hold_armed: bool,
    /// A file sync is parked.
    pub(super) hold_parked: bool,
    /// The name of the thread whose sync is parked, if it has one.
    pub(super) hold_thread: Option<String>,
    /// Signalled when either changes.
    pub(super) hold_changed: Arc<Condvar>,
    pub(super) direct_supported: bool,
    pub(super) stats: SimStats,
}

impl Inner {
    pub(super) fn used(&self) -> u64 {
        self.inodes.values().map(|i| i.live.len() as u64).sum()
    }

    pub(super) fn dir(&self, path: &Path) -> io::Result<&Dir> {
        self.dirs.get(path).ok_or_else(not_found)
    }

    pub(super) fn dir_mut(&mut self, path: &Path) -> io::Result<&mut Dir> {
        self.dirs.get_mut(path).ok_or_else(not_found)
    }

    pub(super) fn lookup(&self, path: &Path) -> io::Result<u64> {
        let (parent, name) = split(path)?;
        self.dir(parent)?
            .live
            .get(name)
            .copied()
            .ok_or_else(not_found)
    }
}

pub(super) fn not_found() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

pub(super) fn split(path: &Path) -> io::Result<(&Path, &str)> {
    let parent = path.parent().ok_or_else(|| errno(libc::EINVAL))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| errno(libc::EINVAL))?;
    Ok((parent, name))
}

pub(super) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Counts of what the simulated disk did, for tests to assert on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Faults injected, of any kind.
    pub faults: u64,
    /// Crashes (power losses) simulated.
    pub crashes: u64,
    /// Dirty sectors lost by crashes.
    pub sectors_lost: u64,
    /// Dirty sectors kept by crashes.
    pub sectors_kept: u64,
    /// Successful `sync_data`/`sync_all` calls.
    pub syncs: u64,
    /// Successful directory syncs.
    pub dir_syncs: u64,
    /// Calls of [`StorageFile::start_writeback`] (a hint: the simulated
    /// disk only counts them; what a crash keeps does not change).
    ///
    /// [`StorageFile::start_writeback`]: crate::StorageFile::start_writeback
    pub writebacks: u64,
    /// Bytes those calls covered.
    pub writeback_bytes: u64,
}

/// The simulated disk. Cheap to clone: clones share the same disk.
#[derive(Clone)]
pub struct SimStorage {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) seed: u64,
}

impl fmt::Debug for SimStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStorage")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl SimStorage {
    /// An empty disk whose every random choice follows from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        SimStorage {
            inner: Arc::new(Mutex::new(Inner {
                rng: SplitMix64::new(seed),
                epoch: 0,
                dirs: BTreeMap::new(),
                inodes: BTreeMap::new(),
                next_ino: 1,
                locks: BTreeMap::new(),
                next_lock: 1,
                queued: Vec::new(),
                rates: BTreeMap::new(),
                capacity: None,
                free_space: None,
                direct_supported: true,
                stats: SimStats::default(),
                hold_armed: false,
                hold_parked: false,
                hold_thread: None,
                hold_changed: Arc::new(Condvar::new()),
            })),
            seed,
        }
    }

    /// The seed this disk was made with.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held (in a test) leaves the disk as it
        // was; carry on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Parks the next file sync (`sync_data`, `sync_all`; not a directory
    /// sync) before it does anything, until the returned guard is dropped:
    /// a test can then look at what a log does while a sync is under way.
    #[must_use = "the parked sync is released when the guard drops"]
    pub fn hold_syncs(&self) -> SyncHold<'_> {
        self.lock().hold_armed = true;
        SyncHold { disk: self }
    }

    /// Limits the bytes all files together may hold: a write past it is
    /// short, or fails with `ENOSPC` when nothing fits; so does an
    /// allocation. `None` (the default) is unlimited.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock().capacity = bytes;
    }

    /// Sets what [`Storage::free_space`] reports (the `statvfs` figure of
    /// the real storage): `None` (the default) is "cannot tell", so no
    /// room is checked. The figure is reported as it is, whatever the
    /// files hold; it is independent of [`SimStorage::set_capacity`],
    /// which decides when writes fail.
    ///
    /// [`Storage::free_space`]: crate::Storage::free_space
    pub fn set_free_space(&self, bytes: Option<u64>) {
        self.lock().free_space = bytes;
    }

    /// Whether `O_DIRECT` opens succeed (default) or fail with `EINVAL`, as
    /// on tmpfs.
    pub fn set_direct_supported(&self, on: bool) {
        self.lock().direct_supported = on;
    }

    /// What the disk did so far.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        self.lock().stats
    }

    /// The live content of a file (what a read would see), for tests.
    ///
    /// # Errors
    ///
    /// `ENOENT` if there is no such file.
    pub fn contents(&self, path: &Path) -> io::Result<Vec<u8>> {
        let inner = self.lock();
        let ino = inner.lookup(path)?;
        Ok(inner
            .inodes
            .get(&ino)
            .map(|i| i.live.clone())
            .unwrap_or_default())
    }

    /// Overwrites bytes of a file's live and durable images at once, as
    /// media damage would, for tests (the file may not grow).
    ///
    /// # Errors
    ///
    /// `ENOENT` if there is no such file, `EINVAL` if the range is outside
    /// it.
    pub fn damage(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut inner = self.lock();
        let ino = inner.lookup(path)?;
        let inode = inner.inodes.get_mut(&ino).ok_or_else(not_found)?;
        let start = offset as usize;
        let end = start.saturating_add(bytes.len());
        for image in [&mut inode.live, &mut inode.durable] {
            image
                .get_mut(start..end)
                .ok_or_else(|| errno(libc::EINVAL))?
                .copy_from_slice(bytes);
        }
        Ok(())
    }
}

/// A held sync ([`SimStorage::hold_syncs`]): dropping it releases it.
#[derive(Debug)]
pub struct SyncHold<'a> {
    disk: &'a SimStorage,
}

impl SyncHold<'_> {
    /// Blocks until a file sync is parked.
    pub fn wait_parked(&self) {
        let mut guard = self.disk.lock();
        let changed = Arc::clone(&guard.hold_changed);
        while !guard.hold_parked {
            guard = changed.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether a file sync is parked now.
    #[must_use]
    pub fn is_parked(&self) -> bool {
        self.disk.lock().hold_parked
    }

    /// The name of the thread whose sync is parked now (`None` if none
    /// is, or if that thread has no name).
    #[must_use]
    pub fn parked_thread(&self) -> Option<String> {
        self.disk.lock().hold_thread.clone()
    }
}

impl Drop for SyncHold<'_> {
    fn drop(&mut self) {
        let mut guard = self.disk.lock();
        guard.hold_armed = false;
        guard.hold_changed.notify_all();
    }
}
