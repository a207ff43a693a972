//! The appender: [`SegmentLog::begin_batch`], [`SegmentLog::write`],
//! [`SegmentLog::sync`], the active segment ([`Active`]) and the syncs of
//! its file from any thread ([`SyncHandle`]).
//!
//! Writes go at the end of the active segment only; a buffered write that
//! ends inside a page within the preallocated space is padded with zeros
//! to the page's end. Every sync of a segment goes through its one
//! [`SyncGate`]: none succeeds once one failed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use wal_format::{Lsn, SEGMENT_HEADER_LEN, Salt};

use super::{SegmentLog, Writer, file_options};
use crate::aligned::{AlignedBuf, DIRECT_ALIGN, round_down, round_up};
use crate::error::{Error, Result, io_err};
use crate::options::SyncMode;
use crate::segment::SegmentInfo;
use crate::storage::{OpenOptions, StorageFile};

/// The segment being appended to.
#[derive(Debug)]
pub(super) struct Active {
    /// Shared with the [`SyncHandle`]s given out for it.
    file: Arc<dyn StorageFile>,
    /// Every sync of the file goes through it, the log's own and its
    /// handles' alike.
    gate: Arc<SyncGate>,
    path: PathBuf,
    pub(super) salt: Salt,
    /// Where the next byte goes.
    pub(super) offset: u64,
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

impl SegmentLog {
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
        let call = match self.options.sync_mode {
            SyncMode::Data => SyncCall::Data,
            SyncMode::All => SyncCall::All,
            SyncMode::None | SyncMode::Dsync | SyncMode::Direct => return None,
        };
        match &self.writer {
            Writer::Active(a) if !self.failed => Some(SyncHandle {
                file: Arc::clone(&a.file),
                gate: Arc::clone(&a.gate),
                path: a.path.clone(),
                call,
            }),
            _ => None,
        }
    }

    /// Makes `info` the segment being appended to, at `offset`.
    pub(super) fn activate(&mut self, info: &SegmentInfo, offset: u64) -> Result<()> {
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
    call: SyncCall,
}

impl SyncHandle {
    /// Makes every byte written to the segment before this call durable.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the segment; also when an earlier sync of the
    /// segment failed, by whoever made it.
    pub fn sync(&self) -> Result<()> {
        self.gate.sync(&*self.file, self.call, &self.path)
    }
}

/// Which system call syncs a segment file.
#[derive(Clone, Copy, Debug)]
enum SyncCall {
    /// `fdatasync`: the data, and the metadata needed to read it.
    Data,
    /// `fsync`: the data and all the metadata.
    All,
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
    fn sync(&self, file: &dyn StorageFile, call: SyncCall, path: &Path) -> Result<()> {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        if *failed {
            return Err(io_err("sync", path)(std::io::Error::other(
                "an earlier sync of this segment failed: what it held may be lost",
            )));
        }
        let synced = match call {
            SyncCall::All => file.sync_all(),
            SyncCall::Data => file.sync_data(),
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

    pub(super) fn sync(&mut self, mode: SyncMode) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        match mode {
            SyncMode::None | SyncMode::Dsync | SyncMode::Direct => {}
            SyncMode::Data => self.gate.sync(&*self.file, SyncCall::Data, &self.path)?,
            SyncMode::All => self.gate.sync(&*self.file, SyncCall::All, &self.path)?,
        }
        self.dirty = false;
        self.unstarted = self.offset;
        Ok(())
    }
}
