//! Rotation: starting a new segment on a batch boundary.
//!
//! The order is what keeps a segment name's header valid and durable: the
//! current segment synced, a spare (or a new file) preallocated, its header
//! written and synced, then renamed to the segment's name and the directory
//! synced.

use std::path::{Path, PathBuf};

use wal_format::{Lsn, SEGMENT_HEADER_LEN, Salt, SegmentHeader, segment_file_name};

use super::prealloc::preallocate;
use super::spares::create_spare;
use super::{SegmentLog, Writer, file_options};
use crate::aligned::{AlignedBuf, DIRECT_ALIGN};
use crate::error::{Error, Result, io_err};
use crate::options::Preallocation;
use crate::segment::SegmentInfo;
use crate::storage::OpenOptions;

impl SegmentLog {
    /// Starts a new segment whose first record has LSN `first_lsn`: the
    /// current one is synced, a spare (recycled or prepared) or a new file
    /// gets a header with a new salt, synced, then is renamed to the
    /// segment's name and the directory synced.
    pub(super) fn rotate(&mut self, first_lsn: Lsn) -> Result<()> {
        // The header first: if the hook refuses, nothing has changed.
        let header = self.new_header(first_lsn)?;
        if let Writer::Active(active) = &mut self.writer {
            active.sync(self.options.sync_mode)?;
        }
        self.writer = Writer::NotResumed;
        let spare = self.take_spare()?;
        let path = self.install(&spare, &header, first_lsn)?;
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
        tracing::debug!(dir = %self.dir.display(), %first_lsn, salt = %header.salt, "started a new segment");
        if self.options.prepare_ahead
            && let Err(e) = self.prepare_next()
        {
            // Not fatal: the next rotation tries again.
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not prepare the next segment");
        }
        Ok(())
    }

    /// The header of a new segment named `first_lsn`: a new salt, then
    /// the hook's fields (see [`SegmentLog::set_segment_hook`]).
    fn new_header(&mut self, first_lsn: Lsn) -> Result<SegmentHeader> {
        let salt = Salt::new(
            self.storage
                .random_u64()
                .map_err(io_err("random", &self.dir))?,
        );
        let mut header = SegmentHeader::new(first_lsn, salt, self.log_id);
        // The segment before it: the last one, unless the new segment
        // takes the name of an empty last one (see `rotate`).
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
        Ok(header)
    }

    /// A spare ready (recycled or prepared), else a new one made here.
    fn take_spare(&self) -> Result<PathBuf> {
        let popped = self.spares.lock().pop();
        match popped {
            Some(spare) => Ok(spare),
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
                create_spare(&*self.storage, &self.dir, &options, &self.spares)
            }
            None => create_spare(&*self.storage, &self.dir, &self.options, &self.spares),
        }
    }

    /// Writes `header` into `spare` and syncs it, then renames the spare to
    /// the segment's name and syncs the directory. Returns the new path.
    fn install(&self, spare: &Path, header: &SegmentHeader, first_lsn: Lsn) -> Result<PathBuf> {
        let mode = self.options.sync_mode;
        let file = self
            .storage
            .open(spare, file_options(OpenOptions::write(), mode))
            .map_err(io_err("open", spare))?;
        // A spare from an interrupted preparation may be short.
        preallocate(&self.options, &*file, spare, 0)?;
        let encoded = header.encode();
        if mode.is_direct() {
            let mut block = AlignedBuf::new(DIRECT_ALIGN);
            if let Some(dst) = block.get_mut(..SEGMENT_HEADER_LEN) {
                dst.copy_from_slice(&encoded);
            }
            file.write_all_at(&block, 0)
                .map_err(io_err("write", spare))?;
        } else {
            file.write_all_at(&encoded, 0)
                .map_err(io_err("write", spare))?;
        }
        file.sync_all().map_err(io_err("sync", spare))?;
        drop(file);
        let path = self.dir.join(segment_file_name(first_lsn));
        self.storage
            .rename(spare, &path)
            .map_err(io_err("rename", spare))?;
        self.sync_dir()?;
        Ok(path)
    }
}
