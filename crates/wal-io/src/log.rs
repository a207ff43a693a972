//! [`SegmentLog`]: a locked log directory, its segments, and the appender.
//!
//! This module holds the log's state and its small accessors; each idea
//! lives in a module of its own, with its `impl SegmentLog` block: opening
//! ([`open`]), the clean-close marker ([`clean`]), appending ([`append`]),
//! rotation ([`rotate`]), resuming ([`resume`]), purge and suffix
//! truncation ([`truncate`]), spare files ([`spares`]) and preallocation
//! ([`prealloc`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::{CleanMarker, LogId, Lsn, SegmentHeader, segment_file_name};

use crate::error::{Error, Result, io_err};
use crate::options::{LogOptions, SyncMode};
use crate::segment::{SegmentInfo, SegmentReader};
use crate::storage::{DirLock, OpenOptions, Storage};

mod append;
mod clean;
mod open;
mod prealloc;
mod resume;
mod rotate;
mod spares;
mod truncate;

use append::Active;
pub use append::SyncHandle;
pub use clean::{CLEAN_FILE, read_clean_marker};
pub use open::LOCK_FILE;

use spares::SpareQueue;
pub use spares::{SPARE_EXTENSION, SPARE_PREFIX, SparePreparer, is_spare_name};

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

    /// The most bytes the next batch can take and still go where
    /// [`SegmentLog::begin_batch`] would put it without leaving space
    /// behind: what is left of the current segment, or a whole segment's
    /// room (less its header) when the next batch begins a new one anyway.
    /// A writer that sizes its batches to this leaves no more unused at the
    /// end of a segment than its last batch's slack.
    #[must_use]
    pub fn room(&self) -> u64 {
        match &self.writer {
            Writer::Active(a)
                if !self.force_new_segment && a.offset > wal_format::SEGMENT_HEADER_LEN as u64 =>
            {
                self.options.segment_size.saturating_sub(a.offset)
            }
            _ => self.new_segment_room(),
        }
    }

    /// The bytes a new segment takes after its header.
    #[must_use]
    pub fn new_segment_room(&self) -> u64 {
        self.options
            .segment_size
            .saturating_sub(wal_format::SEGMENT_HEADER_LEN as u64)
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
