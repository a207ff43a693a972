//! Positioning the appender on an existing log's end
//! ([`SegmentLog::resume`]) and the steps it shares with suffix
//! truncation: the tail check, the rewrite of the records kept, the cut.
//!
//! Every read that can fail comes before the first change. What the log
//! resumes on is made durable by rewriting and syncing the last segment's
//! records (checked as they are read), unless it is already known durable.

use std::ops::Range;
use std::path::Path;

use wal_format::{Lsn, RecordDecoder, SEGMENT_HEADER_LEN};

use super::prealloc::{ZERO_CHUNK, chunk_for, preallocate};
use super::{SegmentLog, Writer};
use crate::error::{Error, Result, io_err};
use crate::segment::SegmentInfo;
use crate::storage::{OpenOptions, StorageFile};

impl SegmentLog {
    /// Positions the appender at the end of the log's data: `end_offset` in
    /// the last segment, where the next record will have LSN `next_lsn`.
    ///
    /// Whatever follows `end_offset` in the file (a torn write, stale
    /// records) is cut off durably first, unless it is all zeros, so that it
    /// can never be mistaken for records written later.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] if the offset is before the records or past
    /// the file's end, [`Error::Io`].
    pub fn resume(&mut self, end_offset: u64, next_lsn: Lsn) -> Result<()> {
        self.resume_over(end_offset, next_lsn, &[])
    }

    /// [`SegmentLog::resume`] on a last segment that holds damage a
    /// recovery skipped: the byte ranges in `damaged` are rewritten as they
    /// are, every other byte before `end_offset` must read back as records
    /// (else [`Error::ReadBack`]).
    ///
    /// # Errors
    ///
    /// As [`SegmentLog::resume`].
    pub fn resume_over(
        &mut self,
        end_offset: u64,
        next_lsn: Lsn,
        damaged: &[Range<u64>],
    ) -> Result<()> {
        self.guard(|log| {
            let Some(last) = log.segments.last().cloned() else {
                return Err(Error::InvalidOption {
                    name: "resume",
                    reason: "the log has no segment",
                });
            };
            if end_offset < SEGMENT_HEADER_LEN as u64 || next_lsn < last.first_lsn() {
                return Err(Error::InvalidOption {
                    name: "resume",
                    reason: "offset before the first record, or lsn before the segment's first",
                });
            }
            // Resuming exactly where a clean close left the data: every
            // byte of it is on the disk, nothing to rewrite.
            let clean_end = log.clean.is_some_and(|c| {
                c.segment == last.first_lsn()
                    && c.salt == last.header.salt
                    && c.end_offset == end_offset
                    && c.next_lsn == next_lsn
            });
            log.all_durable |= clean_end;
            // Every read that can fail comes before the first change, so a
            // failed resume leaves the log (and its marker) as it was: the
            // check of the tail, then the rewrite of the records (the same
            // bytes, each checked as it is read, so it changes nothing
            // anyone can see), then the marker, then the cut.
            let cut = !log.tail_is_clean(&last.path, end_offset)?;
            log.writer = Writer::NotResumed;
            log.make_durable(&last, end_offset, damaged)?;
            log.take_clean_marker()?;
            if cut {
                log.cut_file(&last.path, end_offset)?;
            }
            log.activate(&last, end_offset)?;
            log.next_lsn = Some(next_lsn);
            // A segment of an older format version is not appended to:
            // what this build writes may need the current version (a
            // stream record in a version 2 segment would read as damage).
            log.force_new_segment |=
                log.hook.is_some() || last.header.version < wal_format::FORMAT_VERSION;
            Ok(())
        })
    }

    /// Unless everything is known to be durable already, reads the
    /// records of segment `info` (up to `end`), checks each, and writes it
    /// back where it was, then syncs. What a resume builds on may be only
    /// in the page cache: a write whose sync failed (the process stopped,
    /// the machine did not) either stays dirty (and nothing syncs that file
    /// again if the next append goes to a new segment, as with
    /// encryption), or, where a failed fsync marks its pages clean (Linux),
    /// is never written at all though it reads back fine. Rewritten, the
    /// bytes are dirty again, so the sync writes them. (Earlier segments
    /// were synced before the next one was created.) Each record is checked
    /// as it is read, before it is written back: a read that goes wrong
    /// ([`Error::ReadBack`]) is never made durable.
    pub(super) fn make_durable(
        &mut self,
        info: &SegmentInfo,
        end: u64,
        damaged: &[Range<u64>],
    ) -> Result<()> {
        if self.all_durable {
            return Ok(());
        }
        let file = self
            .storage
            .open(&info.path, OpenOptions::write())
            .map_err(io_err("open", &info.path))?;
        self.each_record_chunk(&*file, info, end, damaged, &mut |at, bytes| {
            file.write_all_at(bytes, at)
                .map_err(io_err("rewrite", &info.path))
        })?;
        file.sync_data().map_err(io_err("sync", &info.path))?;
        self.all_durable = true;
        Ok(())
    }

    /// Reads the records of segment `info` from its first up to `end`, in
    /// chunks of whole records (about 64 KiB, or one record), checks every
    /// record (checksums, salt, length) and hands each chunk to `f` with
    /// its offset. Fails with [`Error::ReadBack`] where the bytes are not
    /// records ending exactly at `end`.
    fn each_record_chunk(
        &self,
        file: &dyn StorageFile,
        info: &SegmentInfo,
        end: u64,
        damaged: &[Range<u64>],
        f: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        const CHUNK: usize = 64 << 10;
        let damaged_at = |offset: u64| damaged.iter().find(|r| r.contains(&offset)).cloned();
        let decoder = RecordDecoder::new(info.header.salt, self.options.max_payload_len);
        let path = &info.path;
        let read_back = |offset: u64, reason: String| Error::ReadBack {
            path: path.clone(),
            offset,
            reason,
        };
        let mut at = SEGMENT_HEADER_LEN as u64;
        let mut buf: Vec<u8> = Vec::new();
        while at < end {
            if let Some(range) = damaged_at(at) {
                // Damage recovery reported and skipped: copied as it is.
                let stop = range.end.min(end);
                buf.resize(usize::try_from(stop - at).unwrap_or(0), 0);
                file.read_exact_at(&mut buf, at)
                    .map_err(io_err("read", path))?;
                f(at, &buf)?;
                at = stop;
                continue;
            }
            // Read a chunk (or at least the next record whole).
            let want = usize::try_from(end - at).unwrap_or(usize::MAX).min(CHUNK);
            buf.resize(want, 0);
            file.read_exact_at(&mut buf, at)
                .map_err(io_err("read", path))?;
            let mut used = 0usize;
            loop {
                let rest = buf.get(used..).unwrap_or_default();
                if rest.is_empty() {
                    break;
                }
                match decoder.decode(rest) {
                    Ok(record) => used += record.encoded_len(),
                    Err(wal_format::Error::Incomplete { needed }) if used == 0 => {
                        // One record larger than the chunk: read it whole.
                        let whole = rest.len().saturating_add(needed);
                        if at.saturating_add(whole as u64) > end {
                            return Err(read_back(
                                at,
                                "a record runs past the end of the data".into(),
                            ));
                        }
                        buf.resize(whole, 0);
                        file.read_exact_at(&mut buf, at)
                            .map_err(io_err("read", path))?;
                    }
                    Err(wal_format::Error::Incomplete { .. }) => break,
                    Err(_) if used > 0 && damaged_at(at.saturating_add(used as u64)).is_some() => {
                        break;
                    }
                    Err(e) => {
                        return Err(read_back(at.saturating_add(used as u64), e.to_string()));
                    }
                }
            }
            if used == 0 {
                return Err(read_back(at, "no whole record".into()));
            }
            f(at, buf.get(..used).unwrap_or_default())?;
            at = at.saturating_add(used as u64);
        }
        Ok(())
    }

    /// Whether nothing but zeros follows `offset` in the file at `path`
    /// (or nothing at all): then a resume need not cut it. Only reads.
    pub(super) fn tail_is_clean(&self, path: &Path, offset: u64) -> Result<bool> {
        let (file, len) = self.open_at(path, OpenOptions::read(), offset)?;
        Ok(offset == len || all_zero(&*file, path, offset, len)?)
    }

    /// Opens the segment file at `path` and its length, which `offset`
    /// must not pass.
    fn open_at(
        &self,
        path: &Path,
        how: OpenOptions,
        offset: u64,
    ) -> Result<(Box<dyn StorageFile>, u64)> {
        let file = self.storage.open(path, how).map_err(io_err("open", path))?;
        let len = file.size().map_err(io_err("stat", path))?;
        if offset > len {
            return Err(Error::InvalidOption {
                name: "offset",
                reason: "past the end of the segment file",
            });
        }
        Ok((file, len))
    }

    /// Cuts the file at `offset` durably (everything from it on goes), then
    /// reserves the rest of the segment again.
    pub(super) fn cut_file(&self, path: &Path, offset: u64) -> Result<()> {
        let (file, len) = self.open_at(path, OpenOptions::write(), offset)?;
        if offset == len {
            return Ok(());
        }
        file.set_len(offset).map_err(io_err("set_len", path))?;
        file.sync_all().map_err(io_err("sync", path))?;
        preallocate(&self.options, &*file, path, offset)?;
        file.sync_all().map_err(io_err("sync", path))?;
        Ok(())
    }
}

/// Whether `offset..len` of the file reads as zeros.
fn all_zero(file: &dyn StorageFile, path: &Path, mut offset: u64, len: u64) -> Result<bool> {
    // No larger than the range: a small segment needs no 1 MiB buffer.
    let mut buf = vec![0u8; chunk_for(len.saturating_sub(offset), ZERO_CHUNK)];
    while offset < len {
        let n = (len - offset).min(ZERO_CHUNK as u64) as usize;
        let chunk = buf.get_mut(..n).unwrap_or_default();
        file.read_exact_at(chunk, offset)
            .map_err(io_err("read", path))?;
        if wal_format::first_nonzero(chunk).is_some() {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}
