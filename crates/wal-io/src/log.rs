//! [`SegmentLog`]: a locked log directory, its segments, and the appender.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use wal_format::{
    CleanMarker, LogId, Lsn, SEGMENT_HEADER_LEN, Salt, SegmentHeader, parse_segment_file_name,
    segment_file_name,
};

use crate::aligned::{AlignedBuf, DIRECT_ALIGN, round_down, round_up};
use crate::error::{Error, Result, io_err};
use crate::options::{LogOptions, Preallocation, SyncMode};
use crate::segment::{SegmentInfo, SegmentReader, one_log, read_header, segment_info};
use crate::storage::{DirLock, OpenOptions, Storage, StorageFile, is_not_regular};

mod clean;
mod prealloc;
mod resume;
mod spares;
mod truncate;

pub use clean::{CLEAN_FILE, read_clean_marker};
use prealloc::preallocate;

pub use spares::{SPARE_EXTENSION, SPARE_PREFIX, SparePreparer, is_spare_name};
use spares::{SpareQueue, create_spare, spare_number};

/// The name of the lock file in a log directory.
pub const LOCK_FILE: &str = "LOCK";

/// The segment being appended to.
#[derive(Debug)]
struct Active {
    /// Shared with the [`SyncHandle`]s given out for it.
    file: Arc<dyn StorageFile>,
    /// Every sync of the file goes through it, the log's own and its
    /// handles' alike.
    gate: Arc<SyncGate>,
    path: PathBuf,
    salt: Salt,
    /// Where the next byte goes.
    offset: u64,
    /// Whether bytes were written since the last sync.
    dirty: bool,
    /// Where the bytes start whose writeback was neither started
    /// ([`LogOptions::writeback_bytes`]) nor waited for by a sync.
    unstarted: u64,
    /// Direct mode only: a buffer whose first `offset % DIRECT_ALIGN` bytes
    /// are the partly filled last block.
    direct: Option<AlignedBuf>,
    /// The file's size when it became active: the preallocated space that
    /// writes may pad into ([`Active::append`]).
    capacity: u64,
    /// The last page of a padded write.
    pad: Vec<u8>,
}

/// The page size writes are padded to (see [`Active::append`]).
const PAGE: u64 = 4096;

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

    /// Prepares a batch of encoded records: `len` bytes whose first record
    /// has LSN `first_lsn`. If the current segment already holds records
    /// and cannot take `len` more bytes within the segment size, the log
    /// rotates to a new segment named `first_lsn` (so a rotation is always
    /// on a batch boundary); an empty log starts its first segment here.
    /// Returns the salt the records must be encoded with.
    ///
    /// # Errors
    ///
    /// [`Error::NotResumed`], [`Error::LsnMismatch`], [`Error::Failed`],
    /// [`Error::Io`].
    pub fn begin_batch(&mut self, first_lsn: Lsn, len: u64) -> Result<Salt> {
        if let Some(expected) = self.next_lsn
            && expected != first_lsn
        {
            return Err(Error::LsnMismatch {
                path: self.dir.clone(),
                expected,
                found: first_lsn,
            });
        }
        self.guard(|log| {
            let rotate = match &log.writer {
                Writer::NotResumed => {
                    return Err(Error::NotResumed {
                        path: log.dir.clone(),
                    });
                }
                Writer::Empty => true,
                Writer::Active(_) if log.force_new_segment => true,
                Writer::Active(a) => {
                    a.offset > SEGMENT_HEADER_LEN as u64
                        && a.offset.saturating_add(len) > log.options.segment_size
                }
            };
            if rotate {
                log.take_clean_marker()?;
                log.rotate(first_lsn)?;
            }
            log.next_lsn = Some(first_lsn);
            match &log.writer {
                Writer::Active(a) => Ok(a.salt),
                _ => Err(Error::NotResumed {
                    path: log.dir.clone(),
                }),
            }
        })
    }

    /// Appends encoded records (whole records, encoded with the salt from
    /// [`SegmentLog::begin_batch`]) at the end of the current segment.
    /// `next_lsn` is the LSN after the last of them. The bytes are in the
    /// kernel when this returns; durable only as the sync mode says (at
    /// once with [`SyncMode::Dsync`] and [`SyncMode::Direct`], else after
    /// [`SegmentLog::sync`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotResumed`], [`Error::Failed`], [`Error::Io`] (after which
    /// the log is failed).
    pub fn write(&mut self, records: &[u8], next_lsn: Lsn) -> Result<()> {
        self.guard(|log| {
            let Writer::Active(active) = &mut log.writer else {
                return Err(Error::NotResumed {
                    path: log.dir.clone(),
                });
            };
            active.append(records)?;
            if matches!(log.options.sync_mode, SyncMode::Data | SyncMode::All) {
                active.start_writeback(log.options.writeback_bytes);
            }
            log.next_lsn = Some(next_lsn);
            Ok(())
        })
    }

    /// Makes everything written so far durable, as the sync mode says
    /// (nothing to do for [`SyncMode::None`], [`SyncMode::Dsync`] and
    /// [`SyncMode::Direct`]).
    ///
    /// A failed sync fails the log for good: the kernel may have dropped
    /// the data and a retried sync could report success for data that never
    /// reached the disk.
    ///
    /// # Errors
    ///
    /// [`Error::Failed`], [`Error::Io`].
    pub fn sync(&mut self) -> Result<()> {
        let mode = self.options.sync_mode;
        self.guard(|log| match &mut log.writer {
            Writer::Active(a) => a.sync(mode),
            _ => Ok(()),
        })
    }

    /// A handle that syncs the segment being appended to from another
    /// thread, so the next batch can be written while the last one is
    /// synced; `None` where [`SegmentLog::sync`] has nothing to do
    /// ([`SyncMode::None`], [`SyncMode::Dsync`], [`SyncMode::Direct`]) or
    /// no segment is active. See [`SyncHandle`].
    #[must_use]
    pub fn sync_handle(&self) -> Option<SyncHandle> {
        let all = match self.options.sync_mode {
            SyncMode::Data => false,
            SyncMode::All => true,
            SyncMode::None | SyncMode::Dsync | SyncMode::Direct => return None,
        };
        match &self.writer {
            Writer::Active(a) if !self.failed => Some(SyncHandle {
                file: Arc::clone(&a.file),
                gate: Arc::clone(&a.gate),
                path: a.path.clone(),
                all,
            }),
            _ => None,
        }
    }

    fn sync_dir(&self) -> Result<()> {
        self.storage
            .sync_dir(&self.dir)
            .map_err(io_err("sync directory", &self.dir))
    }

    /// Makes `info` the segment being appended to, at `offset`.
    fn activate(&mut self, info: &SegmentInfo, offset: u64) -> Result<()> {
        let mode = self.options.sync_mode;
        let file = self
            .storage
            .open(&info.path, file_options(OpenOptions::write(), mode))
            .map_err(io_err("open", &info.path))?;
        let direct = if mode.is_direct() {
            let block = round_down(offset);
            let mut buf = AlignedBuf::new(DIRECT_ALIGN);
            file.read_full_at(&mut buf, block)
                .map_err(io_err("read", &info.path))?;
            // Bytes after `offset` in the block are not data: zero them.
            let keep = (offset - block) as usize;
            if let Some(rest) = buf.get_mut(keep..) {
                rest.fill(0);
            }
            Some(buf)
        } else {
            None
        };
        let capacity = file.size().map_err(io_err("stat", &info.path))?;
        self.writer = Writer::Active(Active {
            file: Arc::from(file),
            gate: Arc::default(),
            path: info.path.clone(),
            salt: info.header.salt,
            offset,
            dirty: false,
            unstarted: offset,
            direct,
            capacity,
            pad: Vec::new(),
        });
        Ok(())
    }

    /// Starts a new segment whose first record has LSN `first_lsn`: the
    /// current one is synced, a spare (recycled or prepared) or a new file
    /// gets a header with a new salt, synced, then is renamed to the
    /// segment's name and the directory synced.
    fn rotate(&mut self, first_lsn: Lsn) -> Result<()> {
        let mode = self.options.sync_mode;
        // The header first: if the hook refuses, nothing has changed.
        let salt = Salt::new(
            self.storage
                .random_u64()
                .map_err(io_err("random", &self.dir))?,
        );
        let mut header = SegmentHeader::new(first_lsn, salt, self.log_id);
        // The segment before it: the last one, unless the new segment
        // takes the name of an empty last one (see below).
        let prev = self
            .segments
            .iter()
            .rev()
            .find(|s| s.first_lsn() < first_lsn)
            .map(|s| s.header);
        if let Some(hook) = self.hook.as_mut() {
            hook(&mut header, prev.as_ref()).map_err(|source| Error::Hook {
                path: self.dir.clone(),
                source,
            })?;
        }
        if let Writer::Active(active) = &mut self.writer {
            active.sync(mode)?;
        }
        self.writer = Writer::NotResumed;
        let popped = self.spares.lock().pop();
        let spare = match popped {
            Some(spare) => spare,
            None if !self.options.prepare_ahead
                && self.options.preallocation == Preallocation::ZeroFill
                && !self.segments.is_empty() =>
            {
                // Spares are prepared on another thread, and this rotation
                // outran it: the log is filling segments faster than they
                // can be zero-filled, and zero-filling one here would stall
                // every appender for the whole segment's worth of writes.
                // Allocate only (read back alike). (A log's first segment
                // is made as configured: nothing was written yet to say
                // how the log is used.)
                let mut options = self.options.clone();
                options.preallocation = Preallocation::Allocate;
                create_spare(&*self.storage, &self.dir, &options, &self.spares)?
            }
            None => create_spare(&*self.storage, &self.dir, &self.options, &self.spares)?,
        };
        let file = self
            .storage
            .open(&spare, file_options(OpenOptions::write(), mode))
            .map_err(io_err("open", &spare))?;
        // A spare from an interrupted preparation may be short.
        preallocate(&self.options, &*file, &spare, 0)?;
        let encoded = header.encode();
        if mode.is_direct() {
            let mut block = AlignedBuf::new(DIRECT_ALIGN);
            if let Some(dst) = block.get_mut(..SEGMENT_HEADER_LEN) {
                dst.copy_from_slice(&encoded);
            }
            file.write_all_at(&block, 0)
                .map_err(io_err("write", &spare))?;
        } else {
            file.write_all_at(&encoded, 0)
                .map_err(io_err("write", &spare))?;
        }
        file.sync_all().map_err(io_err("sync", &spare))?;
        drop(file);
        let path = self.dir.join(segment_file_name(first_lsn));
        self.storage
            .rename(&spare, &path)
            .map_err(io_err("rename", &spare))?;
        self.sync_dir()?;
        let info = SegmentInfo { path, header };
        // A forced new segment can take the name of an empty current one
        // (no record yet, same first LSN): the rename replaced that file.
        if self
            .segments
            .last()
            .is_some_and(|last| last.first_lsn() == first_lsn)
        {
            self.segments.pop();
        }
        self.segments.push(info.clone());
        self.force_new_segment = false;
        self.activate(&info, SEGMENT_HEADER_LEN as u64)?;
        tracing::debug!(dir = %self.dir.display(), %first_lsn, %salt, "started a new segment");
        if self.options.prepare_ahead
            && let Err(e) = self.prepare_next()
        {
            // Not fatal: the next rotation tries again.
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not prepare the next segment");
        }
        Ok(())
    }
}

/// Syncs one segment file from another thread than the appender's (see
/// [`SegmentLog::sync_handle`]): `fdatasync` (or `fsync` with
/// [`SyncMode::All`]) of the file, which covers every byte written to it
/// before the call. The log itself never learns of these syncs: it syncs a
/// segment again before it rotates away from it and when it closes, so
/// whatever the handle's user does not sync is still made durable there.
///
/// A failed sync fails the log's data for good, as for
/// [`SegmentLog::sync`]: the user must stop using the log (the group
/// committer poisons it).
#[derive(Debug)]
pub struct SyncHandle {
    file: Arc<dyn StorageFile>,
    gate: Arc<SyncGate>,
    path: PathBuf,
    all: bool,
}

impl SyncHandle {
    /// Makes every byte written to the segment before this call durable.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the segment; also when an earlier sync of the
    /// segment failed, by whoever made it.
    pub fn sync(&self) -> Result<()> {
        self.gate.sync(&*self.file, self.all, &self.path)
    }
}

/// One segment file's syncs, whoever makes them (the appender's own, a
/// [`SyncHandle`]'s): one at a time, and none succeeds once one failed.
/// After a failed `fsync`, Linux may mark the pages it could not write
/// clean, so a later sync of the same file returns success for data that
/// never reached the disk; a rotation that then synced the segment, saw
/// success and started the next one would leave a hole in the LSNs after
/// a power loss (possible once the sync runs on a thread of its own, while
/// the appender rotates).
#[derive(Debug, Default)]
struct SyncGate {
    /// Held for the length of a sync; `true` once one failed.
    failed: Mutex<bool>,
}

impl SyncGate {
    fn sync(&self, file: &dyn StorageFile, all: bool, path: &Path) -> Result<()> {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        if *failed {
            return Err(io_err("sync", path)(std::io::Error::other(
                "an earlier sync of this segment failed: what it held may be lost",
            )));
        }
        let synced = if all {
            file.sync_all()
        } else {
            file.sync_data()
        };
        *failed = synced.is_err();
        synced.map_err(io_err("sync", path))
    }
}

impl Active {
    fn append(&mut self, records: &[u8]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let end = self
            .offset
            .checked_add(records.len() as u64)
            .ok_or(Error::InvalidOption {
                name: "records",
                reason: "the segment would exceed the largest file offset",
            })?;
        match &mut self.direct {
            None => {
                // A write that ends inside a page the page cache does not
                // hold makes the kernel read that page from the disk
                // first (a zero-filled segment's pages were written around
                // the cache, with O_DIRECT; a recycled one's are old): a
                // synchronous disk read inside every group's write. Within
                // the preallocated space, the last page is written whole
                // instead, the records followed by zeros: what follows the
                // records is never data (zeros end a segment's records).
                let in_page = end % PAGE;
                let page_end = end - in_page + PAGE;
                if in_page == 0 || page_end > self.capacity {
                    self.file
                        .write_all_at(records, self.offset)
                        .map_err(io_err("write", &self.path))?;
                } else {
                    let last_start = (end - in_page).max(self.offset);
                    let (head, last) = records.split_at((last_start - self.offset) as usize);
                    if !head.is_empty() {
                        self.file
                            .write_all_at(head, self.offset)
                            .map_err(io_err("write", &self.path))?;
                    }
                    self.pad.clear();
                    self.pad.extend_from_slice(last);
                    self.pad.resize((page_end - last_start) as usize, 0);
                    self.file
                        .write_all_at(&self.pad, last_start)
                        .map_err(io_err("write", &self.path))?;
                }
            }
            Some(buf) => {
                let block = round_down(self.offset);
                let tail = (self.offset - block) as usize;
                let total = tail.saturating_add(records.len());
                buf.grow(total);
                let padded = round_up(total);
                if let Some(dst) = buf.get_mut(tail..total) {
                    dst.copy_from_slice(records);
                }
                if let Some(pad) = buf.get_mut(total..padded) {
                    pad.fill(0);
                }
                let out = buf.get(..padded).unwrap_or_default();
                self.file
                    .write_all_at(out, block)
                    .map_err(io_err("write", &self.path))?;
                // Keep the new partly filled last block at the front.
                let new_block = round_down(end);
                let from = (new_block - block) as usize;
                buf.copy_within(from..padded, 0);
                let keep = (end - new_block) as usize;
                if let Some(rest) = buf.get_mut(keep..) {
                    rest.fill(0);
                }
            }
        }
        self.offset = end;
        self.dirty = true;
        Ok(())
    }

    /// Starts the writeback of what was written since the last sync or
    /// start, once it reaches `threshold` bytes (0: never). A hint: its
    /// failure changes nothing (the next sync reports the data's errors).
    fn start_writeback(&mut self, threshold: u64) {
        let pending = self.offset - self.unstarted;
        if threshold == 0 || pending < threshold {
            return;
        }
        if let Err(e) = self.file.start_writeback(self.unstarted, pending) {
            tracing::debug!(path = %self.path.display(), error = %e, "could not start writeback");
        }
        self.unstarted = self.offset;
    }

    fn sync(&mut self, mode: SyncMode) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        match mode {
            SyncMode::None | SyncMode::Dsync | SyncMode::Direct => {}
            SyncMode::Data => self.gate.sync(&*self.file, false, &self.path)?,
            SyncMode::All => self.gate.sync(&*self.file, true, &self.path)?,
        }
        self.dirty = false;
        self.unstarted = self.offset;
        Ok(())
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
