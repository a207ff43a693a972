//! [`SegmentLog`]: a locked log directory, its segments, and the appender.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use wal_format::{
    CleanMarker, LogId, Lsn, SegmentHeader, parse_segment_file_name, segment_file_name,
};

use crate::error::{Error, Result, io_err};
use crate::options::{LogOptions, SyncMode};
use crate::segment::{SegmentInfo, SegmentReader, one_log, read_header, segment_info};
use crate::storage::{DirLock, OpenOptions, Storage, is_not_regular};

mod append;
mod clean;
mod prealloc;
mod resume;
mod rotate;
mod spares;
mod truncate;

use append::Active;
pub use append::SyncHandle;
pub use clean::{CLEAN_FILE, read_clean_marker};

pub use spares::{SPARE_EXTENSION, SPARE_PREFIX, SparePreparer, is_spare_name};
use spares::{SpareQueue, spare_number};

/// The name of the lock file in a log directory.
pub const LOCK_FILE: &str = "LOCK";

/// Called with the header of every new segment before it is written, and
/// the header of the segment that will come before it in the log (`None`
/// for the log's first), to fill in fields the log does not own (the key
/// id, key seed, key check and header tag of an encrypted log). See
/// [`SegmentLog::set_segment_hook`].
pub type SegmentHook = Box<
    dyn FnMut(
            &mut SegmentHeader,
            Option<&SegmentHeader>,
        ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>
        + Send,
>;

#[derive(Debug)]
enum Writer {
    /// The log has segments and the caller has not said where they end.
    NotResumed,
    /// No segment to append to: the next batch starts a new one.
    Empty,
    Active(Active),
}

/// A locked log directory: its segments, its spare files, and the appender.
///
/// Open one with [`SegmentLog::open`]. It holds an exclusive lock on the
/// directory (the file [`LOCK_FILE`]) until dropped.
///
/// Appending is two calls, so the caller can encode records with the salt
/// of the segment they will land in: [`SegmentLog::begin_batch`] (rotates
/// if the batch does not fit, returns the salt), then
/// [`SegmentLog::write`] with the encoded records; [`SegmentLog::sync`]
/// makes them durable as the [`SyncMode`] says.
pub struct SegmentLog {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    options: LogOptions,
    lock: Arc<dyn DirLock>,
    log_id: LogId,
    segments: Vec<SegmentInfo>,
    spares: Arc<SpareQueue>,
    foreign: Vec<PathBuf>,
    writer: Writer,
    /// The LSN the next batch must start with, when known.
    next_lsn: Option<Lsn>,
    failed: bool,
    /// The clean-close marker found at open, when it verified and names
    /// this log.
    clean: Option<CleanMarker>,
    /// Whether [`CLEAN_FILE`] is still in the directory: it goes, durably,
    /// before the first change ([`SegmentLog::take_clean_marker`]).
    clean_file: bool,
    /// Whether every record in the segments is known to be on the disk:
    /// the log is empty, was closed cleanly, or its last segment was
    /// rewritten and synced when resumed. Only then may `close` mark it
    /// clean.
    all_durable: bool,
    hook: Option<SegmentHook>,
    /// The next batch starts a new segment even if the current one has room.
    force_new_segment: bool,
}

impl std::fmt::Debug for SegmentLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentLog")
            .field("dir", &self.dir)
            .field("log_id", &self.log_id)
            .field("segments", &self.segments.len())
            .field("next_lsn", &self.next_lsn)
            .field("failed", &self.failed)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl SegmentLog {
    /// Opens (or, if allowed, creates) the log directory `dir`: takes its
    /// lock, checks that the sync mode works there, lists and verifies its
    /// segments, notes spare files and reports foreign files (logged and
    /// listed by [`SegmentLog::foreign_files`], never touched).
    ///
    /// A log with segments must be positioned with [`SegmentLog::resume`]
    /// (after a reader found the end of its data) before appending; an
    /// empty log starts with the first [`SegmentLog::begin_batch`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`], [`Error::MissingDir`],
    /// [`Error::Unwritable`], [`Error::Locked`],
    /// [`Error::UnsupportedSyncMode`], [`Error::BadSegmentHeader`],
    /// [`Error::NameMismatch`], [`Error::ForeignSegment`], [`Error::Io`].
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: impl Into<PathBuf>,
        options: &LogOptions,
    ) -> Result<SegmentLog> {
        let dir = dir.into();
        options.validate()?;
        let listing = match storage.list_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !options.create {
                    return Err(Error::MissingDir { path: dir });
                }
                storage
                    .create_dir_all(&dir)
                    .map_err(|source| Error::Unwritable {
                        path: dir.clone(),
                        source,
                    })?;
                if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    storage.sync_dir(parent).map_err(io_err("sync", parent))?;
                }
                storage.list_dir(&dir).map_err(io_err("list", &dir))?
            }
            Err(source)
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::NotADirectory
                        | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                return Err(Error::Unwritable { path: dir, source });
            }
            Err(e) => return Err(io_err("list", &dir)(e)),
        };
        let lock = storage
            .lock_dir(&dir, LOCK_FILE)
            .map_err(|source| match source.kind() {
                // A symbolic link, FIFO, ... under the lock file's name.
                _ if is_not_regular(&source) => Error::LockNotRegular {
                    path: dir.join(LOCK_FILE),
                },
                std::io::ErrorKind::WouldBlock => Error::Locked {
                    path: dir.clone(),
                    pid: storage.lock_holder(&dir, LOCK_FILE),
                },
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    Error::Unwritable {
                        path: dir.clone(),
                        source,
                    }
                }
                _ => io_err("lock", &dir)(source),
            })?;
        probe_sync_mode(&*storage, &dir, options.sync_mode)?;

        let mut segments = Vec::new();
        let mut spares = Vec::new();
        let mut next_spare = 0u64;
        let mut foreign = Vec::new();
        let mut clean_file = false;
        for entry in listing {
            let path = dir.join(&entry.name);
            if entry.name == LOCK_FILE && entry.is_file {
                continue;
            }
            if entry.name == CLEAN_FILE {
                if entry.is_file {
                    clean_file = true;
                } else {
                    // Never read (no evidence), written or removed.
                    tracing::warn!(path = %path.display(), "clean-close marker is not a regular file; ignored, no evidence");
                    foreign.push(path);
                }
                continue;
            }
            if parse_segment_file_name(&entry.name).is_some() {
                if let Some(info) = segment_info(&*storage, &dir, &entry)? {
                    segments.push(info);
                }
            } else if let Some(n) = spare_number(&entry.name) {
                // Numbers already taken, by a spare or by anything else,
                // are never given to a new spare.
                next_spare = next_spare.max(n.saturating_add(1));
                if entry.is_file {
                    spares.push(path);
                } else {
                    // A symbolic link, FIFO, ... under a spare's name:
                    // never reused, written or removed.
                    tracing::warn!(path = %path.display(), "spare name that is not a regular file in wal directory; foreign, ignored");
                    foreign.push(path);
                }
            } else {
                tracing::warn!(path = %path.display(), "foreign file in wal directory, ignored");
                foreign.push(path);
            }
        }
        // A crash between renaming a segment to a spare (recycling) and
        // syncing the directory can leave both names on one file. Reusing
        // that spare would overwrite the segment: drop the spare's name.
        let mut second_names = Vec::new();
        spares.retain(|spare| {
            let header = storage
                .open(spare, OpenOptions::read())
                .ok()
                .and_then(|f| read_header(&*f, spare).ok());
            let same = header.is_some_and(|h| segments.iter().any(|s| s.header == h));
            if same {
                second_names.push(spare.clone());
            }
            !same
        });
        for spare in &second_names {
            storage
                .remove_file(spare)
                .map_err(io_err("remove", spare))?;
        }
        if !second_names.is_empty() {
            storage.sync_dir(&dir).map_err(io_err("sync", &dir))?;
        }
        segments.sort_by_key(SegmentInfo::first_lsn);
        let log_id = match one_log(&segments)? {
            Some(id) => id,
            None => LogId::new(storage.random_u64().map_err(io_err("random", &dir))?),
        };
        let mut clean = if clean_file {
            read_clean_marker(&*storage, &dir)
        } else {
            None
        };
        let log_id = match clean {
            // A log without segments takes its marker's id.
            Some(marker) if segments.is_empty() => marker.log_id,
            Some(marker) if marker.log_id != log_id => {
                // Files of two logs in one directory: refused as a
                // segment of another log is.
                return Err(Error::ForeignSegment {
                    path: dir.join(CLEAN_FILE),
                    expected: log_id,
                    found: marker.log_id,
                });
            }
            _ => log_id,
        };
        if clean.is_some_and(|m| m.segment != Lsn::ZERO && segments.is_empty()) {
            // The marker names a segment that is gone: no evidence to skip
            // a rewrite by (recovery reports the records as missing).
            clean = clean.filter(|_| false);
        }
        // The names listed may not be durable (a failed directory sync
        // before the last process stopped, with the machine still up):
        // make them durable before new records are acknowledged in the
        // files they name.
        storage.sync_dir(&dir).map_err(io_err("sync", &dir))?;
        let segments_empty = segments.is_empty();
        let writer = if segments_empty {
            Writer::Empty
        } else {
            Writer::NotResumed
        };
        tracing::debug!(
            dir = %dir.display(),
            segments = segments.len(),
            spares = spares.len(),
            %log_id,
            "opened wal directory"
        );
        Ok(SegmentLog {
            storage,
            dir,
            options: options.clone(),
            lock: Arc::from(lock),
            log_id,
            segments,
            spares: Arc::new(SpareQueue {
                paths: Mutex::new(spares),
                next: AtomicU64::new(next_spare),
            }),
            foreign,
            writer,
            next_lsn: None,
            failed: false,
            clean,
            clean_file,
            all_durable: segments_empty,
            hook: None,
            force_new_segment: false,
        })
    }

    /// Installs `hook`, called with the header of every new segment before
    /// it is written (an encrypting writer sets the key fields there and
    /// keeps the segment's cipher). A hook that fails fails the batch that
    /// needed the segment with [`Error::Hook`], before anything is written.
    ///
    /// A segment the hook did not prepare is never appended to while a
    /// hook is installed: installing one, and [`SegmentLog::resume`] or
    /// [`SegmentLog::truncate_from`] with one installed, make the next
    /// batch start a new segment. (For encryption this is what keeps a GCM
    /// nonce from being used twice: a segment's cipher state cannot be
    /// recovered after a restart, so records after a restart or a suffix
    /// truncation go to a segment with a fresh key seed.)
    pub fn set_segment_hook(&mut self, hook: SegmentHook) {
        self.hook = Some(hook);
        self.force_new_segment = true;
    }

    /// Makes the next batch start a new segment, even if the current one
    /// has room.
    pub fn start_new_segment(&mut self) {
        self.force_new_segment = true;
    }

    /// The log directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the log was opened with.
    #[must_use]
    pub fn options(&self) -> &LogOptions {
        &self.options
    }

    /// The log's id (from its segments, or new and random for an empty log).
    #[must_use]
    pub fn log_id(&self) -> LogId {
        self.log_id
    }

    /// The segments, in LSN order, with their verified headers.
    #[must_use]
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// Files in the directory that are neither segments, spares nor the
    /// lock file. They are never read, written or deleted.
    #[must_use]
    pub fn foreign_files(&self) -> &[PathBuf] {
        &self.foreign
    }

    /// Spare files ready to become segments (prepared ahead, or recycled).
    #[must_use]
    pub fn spare_count(&self) -> usize {
        self.spares.lock().len()
    }

    /// The LSN the next batch must start with, once known (after
    /// [`SegmentLog::resume`], the first append, or a truncation).
    #[must_use]
    pub fn next_lsn(&self) -> Option<Lsn> {
        self.next_lsn
    }

    /// The segment being appended to and the offset of its next byte.
    #[must_use]
    pub fn append_position(&self) -> Option<(Lsn, u64)> {
        match &self.writer {
            Writer::Active(a) => self.segments.last().map(|s| (s.first_lsn(), a.offset)),
            _ => None,
        }
    }

    /// Opens a segment (by its first LSN) for reading.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if there is no such segment or it cannot be opened.
    pub fn open_segment(&self, first_lsn: Lsn) -> Result<SegmentReader> {
        let info = self
            .segments
            .iter()
            .find(|s| s.first_lsn() == first_lsn)
            .ok_or_else(|| Error::Io {
                op: "open",
                path: self.dir.join(segment_file_name(first_lsn)),
                source: std::io::ErrorKind::NotFound.into(),
            })?;
        SegmentReader::open(&*self.storage, info)
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::Failed {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// Runs `f`; if it fails, the log is marked failed (see
    /// [`Error::Failed`]).
    fn guard<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.check_usable()?;
        let out = f(self);
        if let Err(e @ (Error::Io { .. } | Error::NoSpace { .. })) = &out {
            tracing::error!(dir = %self.dir.display(), error = %e, "wal i/o failed; the log refuses writes until reopened");
            self.failed = true;
        }
        out
    }

    fn sync_dir(&self) -> Result<()> {
        self.storage
            .sync_dir(&self.dir)
            .map_err(io_err("sync directory", &self.dir))
    }
}

fn file_options(base: OpenOptions, mode: SyncMode) -> OpenOptions {
    base.direct(mode.is_direct()).dsync(mode.is_dsync())
}

/// Checks that the sync mode can be done in `dir`, by opening the lock file
/// with its flags.
fn probe_sync_mode(storage: &dyn Storage, dir: &Path, mode: SyncMode) -> Result<()> {
    if !(mode.is_direct() || mode.is_dsync()) {
        return Ok(());
    }
    let probe = dir.join(LOCK_FILE);
    let options = file_options(OpenOptions::read(), mode);
    match storage.open(&probe, options) {
        Ok(_) => Ok(()),
        Err(source) => Err(Error::UnsupportedSyncMode {
            mode,
            path: dir.to_path_buf(),
            source,
        }),
    }
}
