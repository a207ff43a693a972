//! The clean-close marker ([`CLEAN_FILE`]): read at open, removed durably
//! before the first change, written by [`SegmentLog::close`].
//!
//! The marker is evidence only while it verifies and names this log; it is
//! never synced (a lost one costs a rewrite) and never written in place
//! (removed, then created exclusively).

use std::path::Path;

use wal_format::{CleanMarker, Lsn, Salt};

use super::{SegmentLog, Writer};
use crate::error::{Result, io_err};
use crate::options::SyncMode;
use crate::storage::{OpenOptions, Storage, is_not_regular};

/// The name of the clean-close marker: a file that [`SegmentLog::close`]
/// writes once everything in the log is durable, holding a
/// [`CleanMarker`] (where the data ends, the next LSN), and that the next
/// opener removes (durably) before it changes anything. Found at open and
/// valid, it is evidence that every record below its next LSN was durable
/// (so none of them can be a torn tail), and, if the log still ends where
/// it says, resuming need not rewrite the last segment's records. A marker
/// that does not verify (cut short by a power loss, or left by format
/// version 1) is no evidence: it is ignored, with a warning.
pub const CLEAN_FILE: &str = "CLEAN";

impl SegmentLog {
    /// Whether the log was closed cleanly before this open: a valid
    /// clean-close marker ([`CLEAN_FILE`]) of this log was there. Resuming
    /// exactly where it says the data ends rewrites nothing.
    #[must_use]
    pub fn opened_clean(&self) -> bool {
        self.clean.is_some()
    }

    /// The clean-close marker found at open, if it verified and names this
    /// log: every record below its next LSN was durable at the close.
    #[must_use]
    pub fn clean_marker(&self) -> Option<&CleanMarker> {
        self.clean.as_ref()
    }

    /// Removes the clean-close marker, durably, if it is still there.
    /// Every call that changes the log does this first (its claims about
    /// where the data ends would no longer hold), so an open that fails
    /// before changing anything leaves it in place. Idempotent.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io).
    pub fn take_clean_marker(&mut self) -> Result<()> {
        if !self.clean_file {
            return Ok(());
        }
        let marker = self.dir.join(CLEAN_FILE);
        match self.storage.remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &marker)(e)),
        }
        self.sync_dir()?;
        self.clean_file = false;
        Ok(())
    }

    /// Syncs what was written and releases the directory. If everything in
    /// the log is then known to be durable, leaves the clean-close marker
    /// ([`CLEAN_FILE`]) for the next open. Dropping the log instead leaves
    /// none: the next resume rewrites the last segment's records. So does
    /// [`SyncMode::None`], which syncs nothing (a later session in another
    /// mode must not take its writes for durable).
    ///
    /// # Errors
    ///
    /// As [`SegmentLog::sync`]. A marker that cannot be created is not an
    /// error (the next open rewrites instead).
    pub fn close(mut self) -> Result<()> {
        self.sync()?;
        if self.all_durable
            && self.options.sync_mode != SyncMode::None
            && let Some(content) = self.clean_content()
        {
            // Not synced: a marker lost to a power loss (or cut short: its
            // checksum then fails) only costs the next open a rewrite and
            // the evidence it holds.
            //
            // Never written in place: this log's old marker (if still
            // there) is removed and a new file created exclusively, so
            // nothing is ever created or written through a symbolic link
            // or a hard link planted under the name. A name found at open
            // that is not a regular file is foreign: left alone, no marker.
            let marker = self.dir.join(CLEAN_FILE);
            let written = if self.foreign.contains(&marker) {
                Err(crate::storage::not_regular())
            } else {
                let removed = if self.clean_file {
                    match self.storage.remove_file(&marker) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                        _ => Ok(()),
                    }
                } else {
                    Ok(())
                };
                removed
                    .and_then(|()| self.storage.open(&marker, OpenOptions::create_new()))
                    .and_then(|f| f.write_all_at(&content.encode(), 0))
            };
            if let Err(e) = written {
                tracing::debug!(path = %marker.display(), error = %e, "could not leave the clean-close marker");
            }
        }
        Ok(())
    }

    /// What a clean-close marker written now would say: where the data
    /// ends and the next LSN. `None` when that is not known (a log with
    /// segments that was never resumed).
    fn clean_content(&self) -> Option<CleanMarker> {
        let (segment, salt, end_offset) = match (&self.writer, self.segments.last()) {
            (Writer::Active(a), Some(last)) => (last.first_lsn(), a.salt, a.offset),
            (Writer::Empty, None) => (Lsn::ZERO, Salt::new(0), 0),
            // Unresumed, the old marker (if any) is still in place.
            _ => return None,
        };
        let next_lsn = match self.next_lsn {
            Some(next) => next,
            None if segment == Lsn::ZERO => Lsn::FIRST,
            None => return None,
        };
        Some(CleanMarker {
            log_id: self.log_id,
            next_lsn,
            segment,
            salt,
            end_offset,
        })
    }
}

/// Reads and verifies the clean-close marker in `dir`. A marker that cannot
/// be read or does not verify (cut short by a power loss; the empty file of
/// format version 1) is no evidence: `None`, with a warning. So is a
/// marker that is not a regular file (a symbolic link, a FIFO, ...): it is
/// never followed or read, and never blocks. Which log it names is the
/// caller's to check (a marker of another log is a finding, not something
/// to ignore).
pub fn read_clean_marker(storage: &dyn Storage, dir: &Path) -> Option<CleanMarker> {
    let path = dir.join(CLEAN_FILE);
    let mut buf = [0u8; CleanMarker::ENCODED_LEN + 1];
    let read = storage
        .open(&path, OpenOptions::read())
        .and_then(|f| f.read_full_at(&mut buf, 0));
    let marker = match read {
        Ok(n) => CleanMarker::decode(buf.get(..n).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) if is_not_regular(&e) => {
            tracing::warn!(path = %path.display(), "clean-close marker is not a regular file; never read, no evidence");
            return None;
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "clean-close marker unreadable; ignored");
            return None;
        }
    };
    match marker {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "clean-close marker does not verify; ignored");
            None
        }
    }
}
