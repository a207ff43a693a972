//! Opening a log directory ([`SegmentLog::open`]): the listing (created if
//! allowed), the lock, the sync-mode probe, sorting what is there into
//! segments, spares and foreign files, the log's id and its clean-close
//! marker.
//!
//! Open changes nothing a reader relies on: it only removes a spare's name
//! left on a segment by an interrupted recycling, and syncs the directory so
//! the names it found are durable before anything is appended. Each step
//! below makes its storage calls in the order the crash tests replay.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use wal_format::{CleanMarker, LogId, Lsn, parse_segment_file_name};

use super::clean::{CLEAN_FILE, read_clean_marker};
use super::spares::{SpareQueue, spare_number};
use super::{SegmentLog, Writer, file_options};
use crate::error::{Error, Result, io_err};
use crate::options::{LogOptions, SyncMode};
use crate::segment::{SegmentInfo, one_log, read_header, segment_info};
use crate::storage::{DirEntry, DirLock, OpenOptions, Storage, is_not_regular};

/// The name of the lock file in a log directory.
pub const LOCK_FILE: &str = "LOCK";

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
        let entries = list_or_create(&*storage, &dir, options.create)?;
        let lock = lock(&*storage, &dir)?;
        probe_sync_mode(&*storage, &dir, options.sync_mode)?;
        let mut found = Found::sort(&*storage, &dir, entries)?;
        found.drop_second_names(&*storage, &dir)?;
        found.segments.sort_by_key(SegmentInfo::first_lsn);
        let (log_id, clean) = identify(&*storage, &dir, &found)?;
        // The names listed may not be durable (a failed directory sync
        // before the last process stopped, with the machine still up):
        // make them durable before new records are acknowledged in the
        // files they name.
        storage.sync_dir(&dir).map_err(io_err("sync", &dir))?;
        tracing::debug!(
            dir = %dir.display(),
            segments = found.segments.len(),
            spares = found.spares.len(),
            %log_id,
            "opened wal directory"
        );
        Ok(SegmentLog::opened(
            storage, dir, options, lock, log_id, clean, found,
        ))
    }

    /// The log as [`SegmentLog::open`] leaves it: not yet resumed if it has
    /// segments, else ready for its first batch.
    fn opened(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        options: &LogOptions,
        lock: Box<dyn DirLock>,
        log_id: LogId,
        clean: Option<CleanMarker>,
        found: Found,
    ) -> SegmentLog {
        let segments_empty = found.segments.is_empty();
        let writer = if segments_empty {
            Writer::Empty
        } else {
            Writer::NotResumed
        };
        SegmentLog {
            storage,
            dir,
            options: options.clone(),
            lock: Arc::from(lock),
            log_id,
            segments: found.segments,
            spares: Arc::new(SpareQueue {
                paths: Mutex::new(found.spares),
                next: AtomicU64::new(found.next_spare),
            }),
            foreign: found.foreign,
            writer,
            next_lsn: None,
            failed: false,
            clean,
            clean_file: found.clean_file,
            all_durable: segments_empty,
            hook: None,
            force_new_segment: false,
        }
    }
}

/// Lists `dir`; if it is missing and `create` allows, creates it (and
/// syncs its parent) first.
fn list_or_create(storage: &dyn Storage, dir: &Path, create: bool) -> Result<Vec<DirEntry>> {
    match storage.list_dir(dir) {
        Ok(listing) => Ok(listing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return Err(Error::MissingDir {
                    path: dir.to_path_buf(),
                });
            }
            storage
                .create_dir_all(dir)
                .map_err(|source| Error::Unwritable {
                    path: dir.to_path_buf(),
                    source,
                })?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                storage.sync_dir(parent).map_err(io_err("sync", parent))?;
            }
            storage.list_dir(dir).map_err(io_err("list", dir))
        }
        Err(source)
            if matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Err(Error::Unwritable {
                path: dir.to_path_buf(),
                source,
            })
        }
        Err(e) => Err(io_err("list", dir)(e)),
    }
}

/// Takes the directory's exclusive lock ([`LOCK_FILE`]).
fn lock(storage: &dyn Storage, dir: &Path) -> Result<Box<dyn DirLock>> {
    storage
        .lock_dir(dir, LOCK_FILE)
        .map_err(|source| match source.kind() {
            // A symbolic link, FIFO, ... under the lock file's name.
            _ if is_not_regular(&source) => Error::LockNotRegular {
                path: dir.join(LOCK_FILE),
            },
            std::io::ErrorKind::WouldBlock => Error::Locked {
                path: dir.to_path_buf(),
                pid: storage.lock_holder(dir, LOCK_FILE),
            },
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                Error::Unwritable {
                    path: dir.to_path_buf(),
                    source,
                }
            }
            _ => io_err("lock", dir)(source),
        })
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

/// What a log directory holds, by kind.
struct Found {
    /// Verified segments, in listing order until sorted.
    segments: Vec<SegmentInfo>,
    spares: Vec<PathBuf>,
    /// The number after every spare-like name seen.
    next_spare: u64,
    foreign: Vec<PathBuf>,
    /// Whether a regular file named [`CLEAN_FILE`] is there.
    clean_file: bool,
}

impl Found {
    /// Sorts the entries of `dir`, verifying each segment's header as it
    /// comes (in listing order).
    fn sort(storage: &dyn Storage, dir: &Path, entries: Vec<DirEntry>) -> Result<Found> {
        let mut found = Found {
            segments: Vec::new(),
            spares: Vec::new(),
            next_spare: 0,
            foreign: Vec::new(),
            clean_file: false,
        };
        for entry in entries {
            found.add(storage, dir, &entry)?;
        }
        Ok(found)
    }

    fn add(&mut self, storage: &dyn Storage, dir: &Path, entry: &DirEntry) -> Result<()> {
        let path = dir.join(&entry.name);
        if entry.name == LOCK_FILE && entry.is_file {
            return Ok(());
        }
        if entry.name == CLEAN_FILE {
            if entry.is_file {
                self.clean_file = true;
            } else {
                // Never read (no evidence), written or removed.
                tracing::warn!(path = %path.display(), "clean-close marker is not a regular file; ignored, no evidence");
                self.foreign.push(path);
            }
            return Ok(());
        }
        if parse_segment_file_name(&entry.name).is_some() {
            if let Some(info) = segment_info(storage, dir, entry)? {
                self.segments.push(info);
            }
        } else if let Some(n) = spare_number(&entry.name) {
            // Numbers already taken, by a spare or by anything else,
            // are never given to a new spare.
            self.next_spare = self.next_spare.max(n.saturating_add(1));
            if entry.is_file {
                self.spares.push(path);
            } else {
                // A symbolic link, FIFO, ... under a spare's name:
                // never reused, written or removed.
                tracing::warn!(path = %path.display(), "spare name that is not a regular file in wal directory; foreign, ignored");
                self.foreign.push(path);
            }
        } else {
            tracing::warn!(path = %path.display(), "foreign file in wal directory, ignored");
            self.foreign.push(path);
        }
        Ok(())
    }

    /// A crash between renaming a segment to a spare (recycling) and
    /// syncing the directory can leave both names on one file. Reusing
    /// that spare would overwrite the segment: drop the spare's name.
    fn drop_second_names(&mut self, storage: &dyn Storage, dir: &Path) -> Result<()> {
        let segments = &self.segments;
        let mut second_names = Vec::new();
        self.spares.retain(|spare| {
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
            storage.sync_dir(dir).map_err(io_err("sync", dir))?;
        }
        Ok(())
    }
}

/// The log's id (its segments', else its clean-close marker's, else new
/// and random) and the marker, when it is evidence for this log.
fn identify(
    storage: &dyn Storage,
    dir: &Path,
    found: &Found,
) -> Result<(LogId, Option<CleanMarker>)> {
    let segments = &found.segments;
    let log_id = match one_log(segments)? {
        Some(id) => id,
        None => LogId::new(storage.random_u64().map_err(io_err("random", dir))?),
    };
    let mut clean = if found.clean_file {
        read_clean_marker(storage, dir)
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
        clean = None;
    }
    Ok((log_id, clean))
}
