//! Spare segment files (`spare-N.spare`): the queue of files ready to
//! become segments, [`SparePreparer`], and how a spare is created.
//!
//! A spare holds no records: its directory entry is synced once it is
//! created, and it is preallocated (and zero-filled, as configured) and
//! synced before it is queued. It becomes a segment only after its header
//! is written and synced (see rotation).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::SegmentLog;
use super::prealloc::{preallocate, zero_fill};
use crate::error::{Error, Result, io_err};
use crate::options::{LogOptions, Preallocation};
use crate::storage::{DirLock, OpenOptions, Storage};

/// The prefix of spare segment files (prepared or recycled files waiting to
/// become segments): `spare-N.spare`.
pub const SPARE_PREFIX: &str = "spare-";

/// The extension of spare segment files.
pub const SPARE_EXTENSION: &str = "spare";

/// Whether `name` is a spare segment file's name (`spare-N.spare`): a
/// file the log keeps ready, holding no records.
#[must_use]
pub fn is_spare_name(name: &str) -> bool {
    spare_number(name).is_some()
}

pub(super) fn spare_number(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SPARE_PREFIX)?
        .strip_suffix(SPARE_EXTENSION)?
        .strip_suffix('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl SegmentLog {
    /// Makes sure a spare file is ready for the next rotation (prepared
    /// ahead: created, preallocated and made durable; or a recycled
    /// segment). Called after each rotation when
    /// [`LogOptions::prepare_ahead`] is on; the caller may call it earlier,
    /// off its latency-critical path.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn prepare_next(&mut self) -> Result<()> {
        self.check_usable()?;
        self.spare_preparer().prepare().map(drop)
    }

    /// Turns [`LogOptions::prepare_ahead`] on or off for this open log: a
    /// caller that prepares spares on a thread of its own (see
    /// [`SegmentLog::spare_preparer`]) turns it off, so rotations never
    /// prepare on the appending thread. Off, a rotation that finds no
    /// spare ready (it outran the other thread) creates one with
    /// [`Preallocation::Allocate`] where the options say
    /// [`Preallocation::ZeroFill`]: zero-filling a whole segment there
    /// would stall every appender. A log's first segment is always made
    /// as configured.
    pub fn set_prepare_ahead(&mut self, on: bool) {
        self.options.prepare_ahead = on;
    }

    /// A handle that prepares spare segments from another thread (wal-io
    /// starts none): turn [`LogOptions::prepare_ahead`] off and call
    /// [`SparePreparer::prepare`] whenever [`SparePreparer::is_needed`], so
    /// no append ever waits for a file to be created and zero-filled. The
    /// handle keeps the directory locked while it lives.
    #[must_use]
    pub fn spare_preparer(&self) -> SparePreparer {
        SparePreparer {
            storage: Arc::clone(&self.storage),
            dir: self.dir.clone(),
            options: self.options.clone(),
            spares: Arc::clone(&self.spares),
            _lock: Arc::clone(&self.lock),
        }
    }
}

/// The spare files of a log directory, shared with [`SparePreparer`]s.
#[derive(Debug)]
pub(super) struct SpareQueue {
    pub(super) paths: Mutex<Vec<PathBuf>>,
    /// The number of the next spare file name.
    pub(super) next: AtomicU64,
}

impl SpareQueue {
    pub(super) fn lock(&self) -> MutexGuard<'_, Vec<PathBuf>> {
        // The list is valid whatever a panicking holder was doing.
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn new_path(&self, dir: &Path) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        dir.join(format!("{SPARE_PREFIX}{n}.{SPARE_EXTENSION}"))
    }
}

/// Prepares spare segment files for a [`SegmentLog`], from any thread; see
/// [`SegmentLog::spare_preparer`].
#[derive(Clone, Debug)]
pub struct SparePreparer {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    options: LogOptions,
    spares: Arc<SpareQueue>,
    _lock: Arc<dyn DirLock>,
}

impl SparePreparer {
    /// Whether no spare is ready, so the next rotation would have to create
    /// one.
    #[must_use]
    pub fn is_needed(&self) -> bool {
        self.spares.lock().is_empty()
    }

    /// Creates, preallocates (and zero-fills, as configured) and makes
    /// durable a spare file if none is ready. Returns whether it made one.
    ///
    /// A spare is made only when the file system has room for it and a
    /// margin (see [`Error::NoSpace`]): a spare prepared ahead never fills
    /// the disk.
    ///
    /// # Errors
    ///
    /// [`Error::NoSpace`] (nothing was created), [`Error::Io`]. A failure
    /// leaves the log as it was (at worst a partly prepared spare file,
    /// which a later rotation can still use).
    pub fn prepare(&self) -> Result<bool> {
        self.prepare_with(self.options.preallocation)
    }

    /// [`SparePreparer::prepare`], reserving the spare's space as `how`
    /// says instead of as the log's options do (a caller that knows how
    /// the log is being written picks per spare; every mode is read back
    /// alike).
    ///
    /// # Errors
    ///
    /// As [`SparePreparer::prepare`].
    pub fn prepare_with(&self, how: Preallocation) -> Result<bool> {
        if !self.is_needed() {
            return Ok(false);
        }
        let mut options = self.options.clone();
        options.preallocation = how;
        let path = create_spare(&*self.storage, &self.dir, &options, &self.spares)?;
        self.spares.lock().push(path);
        Ok(true)
    }

    /// How the log's options reserve a segment's space.
    #[must_use]
    pub fn preallocation(&self) -> Preallocation {
        self.options.preallocation
    }

    /// The log's segment size.
    #[must_use]
    pub fn segment_size(&self) -> u64 {
        self.options.segment_size
    }
}

/// How many taken names [`create_spare`] skips before it gives up.
const SPARE_NAME_TRIES: u32 = 8;

/// The room a new spare needs beyond the segment size, so preparing one
/// never leaves the file system full: an eighth of the segment size, at
/// least 1 MiB.
fn spare_margin(segment_size: u64) -> u64 {
    (segment_size / 8).max(1 << 20)
}

/// Checks that the file system holding `dir` has room for a segment of
/// `segment_size` bytes and the margin ([`Error::NoSpace`] if not). A
/// storage that cannot tell (or fails to) is not refused: the
/// preallocation still reports `ENOSPC`.
fn check_room(storage: &dyn Storage, dir: &Path, segment_size: u64) -> Result<()> {
    let needed = segment_size.saturating_add(spare_margin(segment_size));
    match storage.free_space(dir) {
        Ok(Some(available)) if available < needed => Err(Error::NoSpace {
            path: dir.to_path_buf(),
            needed,
            available,
        }),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "could not tell the free space; preparing the spare anyway");
            Ok(())
        }
    }
}

/// Creates a spare file: created, its directory entry made durable,
/// preallocated as configured, synced. Not yet in the queue. Nothing is
/// created without room for it ([`check_room`]); a spare name already
/// taken (by anything: it appeared after the log was opened) is skipped,
/// never reused.
pub(super) fn create_spare(
    storage: &dyn Storage,
    dir: &Path,
    options: &LogOptions,
    spares: &SpareQueue,
) -> Result<PathBuf> {
    check_room(storage, dir, options.segment_size)?;
    let mut tries = 0;
    let (path, file) = loop {
        let path = spares.new_path(dir);
        match storage.open(&path, OpenOptions::create_new()) {
            Ok(file) => break (path, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if tries >= SPARE_NAME_TRIES {
                    return Err(io_err("create", &path)(e));
                }
                tracing::warn!(path = %path.display(), "spare name taken by a file the log did not make; skipped");
                tries += 1;
            }
            Err(e) => return Err(io_err("create", &path)(e)),
        }
    };
    storage
        .sync_dir(dir)
        .map_err(io_err("sync directory", dir))?;
    preallocate(options, &*file, &path, 0)?;
    if options.preallocation == Preallocation::ZeroFill {
        zero_fill(storage, &*file, &path, options.segment_size)?;
    }
    file.sync_all().map_err(io_err("sync", &path))?;
    tracing::debug!(path = %path.display(), "prepared a spare segment");
    Ok(path)
}
