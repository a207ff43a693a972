//! A simulated disk that crashes and fails on purpose, for tests (feature
//! `sim`).
//!
//! [`SimStorage`] implements [`Storage`] in memory, deterministically from a
//! seed. It models what a real kernel and disk do to a log:
//!
//! - **A volatile page cache.** Every file has a *live* image (what reads
//!   see) and a *durable* image (what survives a power loss). A write
//!   changes the live image and marks its 512-byte sectors dirty;
//!   `sync_data`/`sync_all` copy the dirty sectors and the size to the
//!   durable image. [`SimStorage::crash`] (a power loss) keeps or loses each
//!   dirty sector independently, at random (so a multi-sector write can be
//!   torn at any sector boundary, any subset of sectors surviving), and
//!   keeps either the old or the new size.
//! - **Directory entries are durable only after the directory is synced.**
//!   Creates, renames and removes are queued per directory; a crash applies
//!   a random prefix of each directory's queue (the journal commits them in
//!   order) and forgets the rest. A file whose name did not survive is gone.
//! - **`O_DSYNC`** writes are durable when they return; **`O_DIRECT`**
//!   demands offsets, lengths and buffer addresses aligned to
//!   [`SIM_DIRECT_ALIGN`], and can be refused altogether (as tmpfs does) with
//!   [`SimStorage::set_direct_supported`].
//! - **Faults**, on command ([`SimStorage::inject`], the next matching call)
//!   or at a seeded rate ([`SimStorage::set_fault_rate`]): see [`Fault`].
//!   [`SimStorage::set_capacity`] makes the disk fill up (short writes, then
//!   `ENOSPC`); [`SimStorage::set_free_space`] sets the figure
//!   [`Storage::free_space`] reports (`statvfs`), independently.
//! - **Non-regular entries.** A subdirectory is the simulated disk's one
//!   entry that is not a regular file: listed with `is_file: false`, and
//!   refused by `open` and `lock_dir` as the real storage refuses a
//!   symbolic link or a FIFO.
//!
//! For crash exploration, [`SimStorage::fork`] copies the disk as it is
//! (to try many post-crash states of one crash point), and
//! [`SimStorage::crash_with`] crashes it with the random choices drawn from
//! a seed of the caller's, and lost sectors either left as they were
//! ([`LostSectors::Old`], as [`SimStorage::crash`] does), zeroed
//! ([`LostSectors::Zeroed`]) or filled with garbage
//! ([`LostSectors::Garbage`]: a sector the disk was writing when the power
//! went).
//!
//! A crash also ends the "process": handles opened before it fail with
//! `EBADF`, and directory locks are released. [`SimStorage::crash_process`]
//! models a process crash alone (the page cache survives).
//!
//! [`HaltingStorage`] wraps any storage (simulated or real), numbers its
//! mutating calls, and makes the k-th and every later call fail, as if the
//! process died there: a crash test runs an operation once to count its
//! calls, then once per call with a halt at that call, then crashes the
//! simulated disk (or simply reopens the real one) and checks that the log
//! recovers.
//!
//! [`SplitMix64`] is the workspace's test RNG: the generator the simulated
//! disk draws from, and the one every test and campaign shares, so a seed
//! names the same case everywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::storage::{DirEntry, DirLock, OpenOptions, Storage, StorageFile, not_regular};

/// The sector size of the simulated disk: the unit in which unsynced data
/// survives or is lost on a crash.
pub const SIM_SECTOR: u64 = 512;

/// The alignment the simulated disk demands of `O_DIRECT` reads and writes
/// (offset, length and buffer address).
pub const SIM_DIRECT_ALIGN: u64 = 4096;

/// A fault the simulated disk can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// A write fails with `EIO`; nothing is written.
    WriteEio,
    /// A write fails with `ENOSPC`; nothing is written.
    WriteEnospc,
    /// A write of more than one sector writes only its first half (rounded
    /// down to a sector) and returns that short count.
    ShortWrite,
    /// A write reports success and reads see it, but it never reaches the
    /// disk: no sync persists it, and a crash takes it away.
    LostWrite,
    /// A read fails with `EIO`.
    ReadEio,
    /// A read returns the data with one bit flipped (the stored data is
    /// unharmed).
    BitFlipOnRead,
    /// A sync (`sync_data` or `sync_all`) fails with `EIO`; the dirty data
    /// stays dirty, so a later sync may still persist it.
    SyncEio,
    /// The Linux fsync behaviour: the sync fails with `EIO` once, the dirty
    /// pages are marked clean without reaching the disk, and later syncs
    /// report success although the data is not durable (a crash loses it).
    SyncEioForgets,
}

impl Fault {
    fn is_write(self) -> bool {
        matches!(
            self,
            Fault::WriteEio | Fault::WriteEnospc | Fault::ShortWrite | Fault::LostWrite
        )
    }
    fn is_read(self) -> bool {
        matches!(self, Fault::ReadEio | Fault::BitFlipOnRead)
    }
    fn is_sync(self) -> bool {
        matches!(self, Fault::SyncEio | Fault::SyncEioForgets)
    }
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
    pub writebacks: u64,
    /// Bytes those calls covered.
    pub writeback_bytes: u64,
}

/// What a power loss leaves in the bytes of an unsynced sector it loses
/// (the bytes the lost writes changed; bytes they did not change keep their
/// durable value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LostSectors {
    /// The durable (old) content, as if the write never started.
    #[default]
    Old,
    /// Zeros.
    Zeroed,
    /// Random bytes: the sector was being written when the power went.
    Garbage,
}

/// SplitMix64: the workspace's test RNG, small, seeded and deterministic.
///
/// The simulated disk draws its random choices from it, and so do the
/// tests and campaigns built on it, so a seed names one workload, one
/// post-crash state or one kill point on every platform and in every
/// version. Its sequence must never change: recorded seeds replay by it.
///
/// Each method draws exactly one number, except [`below`](Self::below)
/// with `n == 0`, which draws none.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose every output follows from `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The state: the seed, plus one increment per number drawn.
    #[must_use]
    pub const fn state(&self) -> u64 {
        self.0
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        Self::mix(self.0)
    }

    /// SplitMix64's output function alone: a well-mixed hash of `z`, for
    /// deriving values from numbers without a generator.
    #[must_use]
    pub const fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (the next number modulo `n`); 0, without
    /// drawing, if `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A number in `lo..=hi` (`lo` plus the next number modulo the span);
    /// `lo` if `hi < lo`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi.saturating_sub(lo).saturating_add(1);
        lo.saturating_add(self.next_u64() % span.max(1))
    }

    /// True or false, from the next number's lowest bit.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// True with probability `percent` / 100 (the next number modulo 100
    /// is below `percent`).
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

#[derive(Clone, Debug, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Sectors whose live content may differ from the durable one.
    dirty: BTreeSet<u64>,
}

impl Inode {
    fn mark_dirty(&mut self, from: u64, to: u64) {
        if to <= from {
            return;
        }
        let first = from / SIM_SECTOR;
        let last = (to - 1) / SIM_SECTOR;
        self.dirty.extend(first..=last);
    }

    fn persist(&mut self) {
        let len = self.live.len();
        self.durable.resize(len, 0);
        for &sector in &self.dirty {
            copy_sector(&self.live, &mut self.durable, sector);
        }
        self.dirty.clear();
    }

    /// Power loss: each dirty sector survives or not (a lost one as `lost`
    /// says); the size is the old or the new one.
    fn crash(&mut self, rng: &mut SplitMix64, stats: &mut SimStats, lost: LostSectors) {
        let live_len = self.live.len();
        let durable_len = self.durable.len();
        let len = if live_len == durable_len || rng.coin() {
            live_len
        } else {
            durable_len
        };
        let mut image = std::mem::take(&mut self.durable);
        image.resize(len.max(durable_len), 0);
        for &sector in &self.dirty {
            if rng.coin() {
                copy_sector(&self.live, &mut image, sector);
                stats.sectors_kept += 1;
            } else {
                stats.sectors_lost += 1;
                spoil_sector(&self.live, &mut image, sector, lost, rng);
            }
        }
        image.truncate(len);
        self.live = image.clone();
        self.durable = image;
        self.dirty.clear();
    }
}

/// Replaces the bytes of sector `sector` of `image` that differ from `live`
/// (those the lost writes changed) as `lost` says.
fn spoil_sector(
    live: &[u8],
    image: &mut [u8],
    sector: u64,
    lost: LostSectors,
    rng: &mut SplitMix64,
) {
    if lost == LostSectors::Old {
        return;
    }
    let start = (sector * SIM_SECTOR) as usize;
    let end = start
        .saturating_add(SIM_SECTOR as usize)
        .min(live.len())
        .min(image.len());
    let (Some(new), Some(old)) = (live.get(start..end), image.get_mut(start..end)) else {
        return;
    };
    for (o, &n) in old.iter_mut().zip(new) {
        if *o != n {
            *o = match lost {
                LostSectors::Garbage => rng.next_u64() as u8,
                _ => 0,
            };
        }
    }
}

/// Copies sector `sector` of `from` into `to` (as far as both reach).
fn copy_sector(from: &[u8], to: &mut [u8], sector: u64) {
    let start = (sector * SIM_SECTOR) as usize;
    let end = start.saturating_add(SIM_SECTOR as usize);
    let end = end.min(from.len()).min(to.len());
    if let (Some(src), Some(dst)) = (from.get(start..end), to.get_mut(start..end)) {
        dst.copy_from_slice(src);
    }
}

#[derive(Clone, Debug)]
enum NsOp {
    Link(String, u64),
    Unlink(String),
}

#[derive(Clone, Debug, Default)]
struct Dir {
    live: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
    /// Changes to `live` not yet made durable, in order.
    pending: Vec<NsOp>,
}

impl Dir {
    fn link(&mut self, name: &str, ino: u64) {
        self.live.insert(name.to_owned(), ino);
        self.pending.push(NsOp::Link(name.to_owned(), ino));
    }
    fn unlink(&mut self, name: &str) -> Option<u64> {
        let ino = self.live.remove(name)?;
        self.pending.push(NsOp::Unlink(name.to_owned()));
        Some(ino)
    }
}

#[derive(Clone, Debug)]
struct Inner {
    rng: SplitMix64,
    /// Bumped by every crash; handles of an earlier epoch are dead.
    epoch: u64,
    dirs: BTreeMap<PathBuf, Dir>,
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    locks: BTreeMap<PathBuf, u64>,
    next_lock: u64,
    queued: Vec<Fault>,
    rates: BTreeMap<Fault, u32>,
    capacity: Option<u64>,
    /// What [`Storage::free_space`] reports.
    free_space: Option<u64>,
    /// [`SimStorage::hold_syncs`]: the next file sync parks.
    hold_armed: bool,
    /// A file sync is parked.
    hold_parked: bool,
    /// Signalled when either changes.
    hold_changed: Arc<Condvar>,
    direct_supported: bool,
    stats: SimStats,
}

impl Inner {
    fn used(&self) -> u64 {
        self.inodes.values().map(|i| i.live.len() as u64).sum()
    }

    /// Takes a fault matching `pred` that fires now: a queued one first,
    /// else one drawn at its rate.
    fn take_fault(&mut self, pred: impl Fn(Fault) -> bool) -> Option<Fault> {
        if let Some(i) = self.queued.iter().position(|&f| pred(f)) {
            let f = self.queued.remove(i);
            self.stats.faults += 1;
            return Some(f);
        }
        let candidates: Vec<(Fault, u32)> = self
            .rates
            .iter()
            .filter(|&(&f, _)| pred(f))
            .map(|(&f, &r)| (f, r))
            .collect();
        for (fault, rate) in candidates {
            if self.rng.below(1_000_000) < u64::from(rate) {
                self.stats.faults += 1;
                return Some(fault);
            }
        }
        None
    }

    fn dir(&self, path: &Path) -> io::Result<&Dir> {
        self.dirs.get(path).ok_or_else(not_found)
    }

    fn dir_mut(&mut self, path: &Path) -> io::Result<&mut Dir> {
        self.dirs.get_mut(path).ok_or_else(not_found)
    }

    fn lookup(&self, path: &Path) -> io::Result<u64> {
        let (parent, name) = split(path)?;
        self.dir(parent)?
            .live
            .get(name)
            .copied()
            .ok_or_else(not_found)
    }
}

fn not_found() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

fn split(path: &Path) -> io::Result<(&Path, &str)> {
    let parent = path.parent().ok_or_else(|| errno(libc::EINVAL))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| errno(libc::EINVAL))?;
    Ok((parent, name))
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// The simulated disk. Cheap to clone: clones share the same disk.
#[derive(Clone)]
pub struct SimStorage {
    inner: Arc<Mutex<Inner>>,
    seed: u64,
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
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

    /// Injects `fault` into the next call it applies to (a write, a read or
    /// a sync). Faults queue up in order.
    pub fn inject(&self, fault: Fault) {
        self.lock().queued.push(fault);
    }

    /// Injects `fault` into each call it applies to with probability
    /// `per_million / 1_000_000`, drawn from the seed. 0 turns it off.
    pub fn set_fault_rate(&self, fault: Fault, per_million: u32) {
        let mut inner = self.lock();
        if per_million == 0 {
            inner.rates.remove(&fault);
        } else {
            inner.rates.insert(fault, per_million);
        }
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

    /// A power loss: unsynced data and unsynced directory changes are lost,
    /// kept or torn as described in the module docs; every handle opened
    /// before dies and every lock is released. The disk is then ready to be
    /// "rebooted": open it again.
    pub fn crash(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut rng = inner.rng.clone();
        power_loss(inner, &mut rng, LostSectors::Old);
        inner.rng = rng;
    }

    /// A power loss as [`SimStorage::crash`], with its random choices
    /// (which unsynced sectors and directory changes survive, the garbage)
    /// drawn from `seed` instead of the disk's own generator, and lost
    /// sectors as `lost` says. The disk's generator is left alone, so forks
    /// of one disk crashed with different seeds are different post-crash
    /// states of the same crash point.
    pub fn crash_with(&self, seed: u64, lost: LostSectors) {
        let mut guard = self.lock();
        power_loss(&mut guard, &mut SplitMix64::new(seed), lost);
    }

    /// An independent copy of the disk as it is now: files, directories,
    /// what is durable and what is not, queued faults, rates, capacity, the
    /// random generator's state. It has no open handles and no locks (as
    /// after [`SimStorage::crash_process`]); handles of this disk never
    /// reach the copy.
    #[must_use]
    pub fn fork(&self) -> SimStorage {
        let mut inner = self.lock().clone();
        inner.epoch += 1;
        inner.locks.clear();
        SimStorage {
            inner: Arc::new(Mutex::new(inner)),
            seed: self.seed,
        }
    }

    /// A process crash without a power loss: handles die and locks are
    /// released, but the page cache (every write) survives.
    pub fn crash_process(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.locks.clear();
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

/// The power loss of [`SimStorage::crash`], its choices drawn from `rng`.
fn power_loss(inner: &mut Inner, rng: &mut SplitMix64, lost: LostSectors) {
    inner.epoch += 1;
    inner.locks.clear();
    inner.queued.clear();
    inner.stats.crashes += 1;
    let mut reachable = BTreeSet::new();
    for dir in inner.dirs.values_mut() {
        let keep = rng.below(dir.pending.len() as u64 + 1) as usize;
        for op in dir.pending.drain(..).take(keep) {
            match op {
                NsOp::Link(name, ino) => {
                    dir.durable.insert(name, ino);
                }
                NsOp::Unlink(name) => {
                    dir.durable.remove(&name);
                }
            }
        }
        dir.live = dir.durable.clone();
        reachable.extend(dir.live.values().copied());
    }
    inner.inodes.retain(|ino, _| reachable.contains(ino));
    for inode in inner.inodes.values_mut() {
        inode.crash(rng, &mut inner.stats, lost);
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
}

impl Drop for SyncHold<'_> {
    fn drop(&mut self) {
        let mut guard = self.disk.lock();
        guard.hold_armed = false;
        guard.hold_changed.notify_all();
    }
}

struct SimFile {
    inner: Arc<Mutex<Inner>>,
    ino: u64,
    epoch: u64,
    path: PathBuf,
    options: OpenOptions,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("ino", &self.ino)
            .finish_non_exhaustive()
    }
}

impl SimFile {
    fn lock(&self) -> io::Result<MutexGuard<'_, Inner>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.epoch != self.epoch || !inner.inodes.contains_key(&self.ino) {
            return Err(errno(libc::EBADF));
        }
        Ok(inner)
    }

    fn check_direct(&self, addr: usize, len: usize, offset: u64) -> io::Result<()> {
        if self.options.direct
            && (!(addr as u64).is_multiple_of(SIM_DIRECT_ALIGN)
                || !(len as u64).is_multiple_of(SIM_DIRECT_ALIGN)
                || !offset.is_multiple_of(SIM_DIRECT_ALIGN))
        {
            return Err(errno(libc::EINVAL));
        }
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut guard = self.lock()?;
        if guard.hold_armed && !guard.hold_parked {
            let changed = Arc::clone(&guard.hold_changed);
            guard.hold_parked = true;
            changed.notify_all();
            while guard.hold_armed {
                guard = changed.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            guard.hold_parked = false;
            changed.notify_all();
        }
        let inner = &mut *guard;
        match inner.take_fault(Fault::is_sync) {
            Some(Fault::SyncEioForgets) => {
                if let Some(inode) = inner.inodes.get_mut(&self.ino) {
                    // The pages are marked clean: nothing will write them.
                    inode.dirty.clear();
                }
                return Err(errno(libc::EIO));
            }
            Some(_) => return Err(errno(libc::EIO)),
            None => {}
        }
        if let Some(inode) = inner.inodes.get_mut(&self.ino) {
            inode.persist();
        }
        inner.stats.syncs += 1;
        Ok(())
    }
}

impl StorageFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.check_direct(buf.as_ptr() as usize, buf.len(), offset)?;
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let fault = inner.take_fault(Fault::is_read);
        if fault == Some(Fault::ReadEio) {
            return Err(errno(libc::EIO));
        }
        let inode = inner.inodes.get(&self.ino).ok_or_else(not_found)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(src) = inode.live.get(start..) else {
            return Ok(0);
        };
        let n = src.len().min(buf.len());
        let (dst, _) = buf.split_at_mut(n);
        let (src, _) = src.split_at(n);
        dst.copy_from_slice(src);
        if fault == Some(Fault::BitFlipOnRead) && n > 0 {
            let bit = inner.rng.below(n as u64 * 8);
            if let Some(b) = dst.get_mut((bit / 8) as usize) {
                *b ^= 1 << (bit % 8);
            }
        }
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if !self.options.write {
            return Err(errno(libc::EBADF));
        }
        self.check_direct(buf.as_ptr() as usize, buf.len(), offset)?;
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let fault = inner.take_fault(Fault::is_write);
        let mut len = buf.len() as u64;
        match fault {
            Some(Fault::WriteEio) => return Err(errno(libc::EIO)),
            Some(Fault::WriteEnospc) => return Err(errno(libc::ENOSPC)),
            Some(Fault::ShortWrite) if len > SIM_SECTOR => {
                len = (len / 2) / SIM_SECTOR * SIM_SECTOR;
            }
            _ => {}
        }
        let used = inner.used();
        let inode = inner.inodes.get(&self.ino).ok_or_else(not_found)?;
        let cur_len = inode.live.len() as u64;
        let end = offset.checked_add(len).ok_or_else(|| errno(libc::EFBIG))?;
        if let Some(cap) = inner.capacity {
            let growth = end.saturating_sub(cur_len);
            let free = cap.saturating_sub(used);
            if growth > free {
                let fits = cur_len.saturating_add(free).saturating_sub(offset);
                if fits == 0 || offset > cur_len.saturating_add(free) {
                    return Err(errno(libc::ENOSPC));
                }
                len = len.min(fits);
            }
        }
        let end = offset + len;
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(not_found)?;
        let end_usize = usize::try_from(end).map_err(|_| errno(libc::EFBIG))?;
        if inode.live.len() < end_usize {
            inode.live.resize(end_usize, 0);
        }
        let (src, _) = buf.split_at(len as usize);
        if let Some(dst) = inode.live.get_mut(offset as usize..end_usize) {
            dst.copy_from_slice(src);
        }
        if fault == Some(Fault::LostWrite) {
            // Visible in the page cache, never written back: its sectors
            // are not dirty, so no sync copies them (a sync that persists a
            // larger size persists zeros there).
            return Ok(len as usize);
        }
        inode.mark_dirty(offset, end);
        if self.options.dsync {
            inode.persist();
        }
        Ok(len as usize)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync()
    }

    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let used = inner.used();
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(not_found)?;
        let end = offset.checked_add(len).ok_or_else(|| errno(libc::EFBIG))?;
        let cur = inode.live.len() as u64;
        if end > cur {
            if let Some(cap) = inner.capacity
                && end - cur > cap.saturating_sub(used)
            {
                return Err(errno(libc::ENOSPC));
            }
            let end_usize = usize::try_from(end).map_err(|_| errno(libc::EFBIG))?;
            inode.live.resize(end_usize, 0);
            inode.mark_dirty(cur, end);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let used = inner.used();
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(not_found)?;
        let cur = inode.live.len() as u64;
        if len > cur
            && let Some(cap) = inner.capacity
            && len - cur > cap.saturating_sub(used)
        {
            return Err(errno(libc::ENOSPC));
        }
        let len_usize = usize::try_from(len).map_err(|_| errno(libc::EFBIG))?;
        inode.live.resize(len_usize, 0);
        inode.mark_dirty(cur.min(len), cur.max(len));
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let inner = self.lock()?;
        Ok(inner
            .inodes
            .get(&self.ino)
            .map_or(0, |i| i.live.len() as u64))
    }

    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let size = inner
            .inodes
            .get(&self.ino)
            .map_or(0, |i| i.live.len() as u64);
        // Linux accepts ranges past the end; a range that starts past it
        // here is a bug in the caller's bookkeeping.
        if offset > size {
            return Err(errno(libc::EINVAL));
        }
        inner.stats.writebacks += 1;
        inner.stats.writeback_bytes += len;
        Ok(())
    }
}

#[derive(Debug)]
struct SimLock {
    inner: Arc<Mutex<Inner>>,
    path: PathBuf,
    id: u64,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.locks.get(&self.path) == Some(&self.id) {
            inner.locks.remove(&self.path);
        }
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        for ancestor in path.ancestors() {
            if ancestor.as_os_str().is_empty() {
                continue;
            }
            inner.dirs.entry(ancestor.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let inner = self.lock();
        let dir = inner.dir(path)?;
        let mut out: Vec<DirEntry> = dir
            .live
            .keys()
            .map(|name| DirEntry {
                name: name.clone(),
                is_file: true,
            })
            .collect();
        for sub in inner.dirs.keys() {
            if sub.parent() == Some(path)
                && let Some(name) = sub.file_name()
            {
                out.push(DirEntry {
                    name: name.to_string_lossy().into_owned(),
                    is_file: false,
                });
            }
        }
        out.sort();
        Ok(out)
    }

    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if options.direct && !inner.direct_supported {
            return Err(errno(libc::EINVAL));
        }
        let (parent, name) = split(path)?;
        if inner.dirs.contains_key(path) {
            // A subdirectory: not a regular file, never opened.
            return Err(not_regular());
        }
        let existing = inner.dir(parent)?.live.get(name).copied();
        let ino = match existing {
            Some(_) if options.create_new => return Err(errno(libc::EEXIST)),
            Some(ino) => ino,
            None if options.create || options.create_new => {
                let ino = inner.next_ino;
                inner.next_ino += 1;
                inner.inodes.insert(ino, Inode::default());
                inner.dir_mut(parent)?.link(name, ino);
                ino
            }
            None => return Err(not_found()),
        };
        let mut options = options;
        options.write |= options.create || options.create_new;
        Ok(Box::new(SimFile {
            inner: Arc::clone(&self.inner),
            ino,
            epoch: inner.epoch,
            path: path.to_path_buf(),
            options,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let (from_dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        if from_dir != to_dir {
            return Err(errno(libc::EXDEV));
        }
        let dir = inner.dir_mut(from_dir)?;
        let ino = dir.live.get(from_name).copied().ok_or_else(not_found)?;
        if from_name == to_name {
            return Ok(());
        }
        // One journal transaction: the new name, then the old one goes; a
        // crash keeps a prefix, so at worst both names survive (never
        // neither), as with a hard link.
        dir.link(to_name, ino);
        dir.unlink(from_name);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let (parent, name) = split(path)?;
        inner
            .dir_mut(parent)?
            .unlink(name)
            .map(|_| ())
            .ok_or_else(not_found)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let dir = inner.dir_mut(path)?;
        dir.durable = dir.live.clone();
        dir.pending.clear();
        inner.stats.dir_syncs += 1;
        Ok(())
    }

    fn lock_dir(&self, path: &Path, lock_file: &str) -> io::Result<Box<dyn DirLock>> {
        let file_path = path.join(lock_file);
        drop(self.open(&file_path, OpenOptions::create())?);
        let mut inner = self.lock();
        if inner.locks.contains_key(path) {
            return Err(errno(libc::EWOULDBLOCK));
        }
        let id = inner.next_lock;
        inner.next_lock += 1;
        inner.locks.insert(path.to_path_buf(), id);
        Ok(Box::new(SimLock {
            inner: Arc::clone(&self.inner),
            path: path.to_path_buf(),
            id,
        }))
    }

    fn random_u64(&self) -> io::Result<u64> {
        Ok(self.lock().rng.next_u64())
    }

    fn free_space(&self, path: &Path) -> io::Result<Option<u64>> {
        let inner = self.lock();
        inner.dir(path)?;
        Ok(inner.free_space)
    }
}

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

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    /// Recorded seeds replay by this sequence: it must not move.
    #[test]
    fn split_mix_64_keeps_its_sequence() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
        assert_eq!(rng.state(), 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(3));
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.state(), 0, "below(0) draws nothing");
        // The first two numbers above, modulo 1000 and modulo 7.
        assert_eq!(rng.below(1000), 535);
        assert_eq!(rng.range(10, 16), 11);
        assert_eq!(rng.range(5, 4), 5);
        assert_eq!(
            rng.state(),
            0x9e37_79b9_7f4a_7c15u64.wrapping_mul(3),
            "range draws one number even when hi < lo"
        );
    }
}
