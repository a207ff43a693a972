//! Reading segment files: their headers, their bytes, and a simple record
//! scan.

use std::path::{Path, PathBuf};

use wal_format::{
    LogId, Lsn, RECORD_HEADER_LEN, RecordDecoder, RecordHeader, RecordType, SEGMENT_HEADER_LEN,
    SegmentHeader, parse_segment_file_name,
};

use crate::error::{Error, Result, io_err};
use crate::storage::{DirEntry, OpenOptions, Storage, StorageFile, is_not_regular};

/// A segment of the log as found in its directory: its file and its
/// verified header. Made only by this crate ([`list_segments`],
/// [`crate::SegmentLog::segments`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// The segment's file.
    pub path: PathBuf,
    /// The segment's verified header (first LSN, salt, log id, key id).
    pub header: SegmentHeader,
}

impl SegmentInfo {
    /// The LSN of the segment's first record (from its name and header).
    #[must_use]
    pub fn first_lsn(&self) -> Lsn {
        self.header.first_lsn
    }

    /// The segment's file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's verified header (salt, log id, key id).
    #[must_use]
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }
}

/// The segments of the log in `dir`, oldest first, each header read and
/// verified: what a reader that does not take the directory's lock sees
/// (a segment removed while it is listed is left out). The one listing of
/// a log's segments; [`crate::SegmentLog::open`] makes the same checks on
/// the entries it lists.
///
/// # Errors
///
/// [`Error::NotRegular`] for an entry named like a segment that is not a
/// regular file (never followed or opened); [`Error::BadSegmentHeader`];
/// [`Error::NameMismatch`]; [`Error::ForeignSegment`] for a segment of
/// another log; [`Error::Io`].
pub fn list_segments(storage: &dyn Storage, dir: &Path) -> Result<Vec<SegmentInfo>> {
    let entries = storage.list_dir(dir).map_err(io_err("list", dir))?;
    let mut segments = Vec::new();
    for entry in &entries {
        if let Some(info) = segment_info(storage, dir, entry)? {
            segments.push(info);
        }
    }
    segments.sort_by_key(SegmentInfo::first_lsn);
    one_log(&segments)?;
    Ok(segments)
}

/// The segment `entry` of a listing of `dir` names, its header verified;
/// `None` if the entry is not named like a segment, or the file went
/// since it was listed.
pub(crate) fn segment_info(
    storage: &dyn Storage,
    dir: &Path,
    entry: &DirEntry,
) -> Result<Option<SegmentInfo>> {
    let Some(lsn) = parse_segment_file_name(&entry.name) else {
        return Ok(None);
    };
    let path = dir.join(&entry.name);
    if !entry.is_file {
        // A symlink, directory or special file under a segment's name:
        // never followed or opened (a FIFO would block).
        return Err(Error::NotRegular { path });
    }
    let file = match storage.open(&path, OpenOptions::read()) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // It became one since it was listed.
        Err(e) if is_not_regular(&e) => return Err(Error::NotRegular { path }),
        Err(e) => return Err(io_err("open", &path)(e)),
    };
    let header = read_header(&*file, &path)?;
    if header.first_lsn != lsn {
        return Err(Error::NameMismatch {
            path,
            in_header: header.first_lsn,
            in_name: lsn,
        });
    }
    Ok(Some(SegmentInfo { path, header }))
}

/// The log id `segments` share (`None` without segments).
///
/// # Errors
///
/// [`Error::ForeignSegment`]: a segment of another log among them.
pub(crate) fn one_log(segments: &[SegmentInfo]) -> Result<Option<LogId>> {
    let Some(first) = segments.first() else {
        return Ok(None);
    };
    let expected = first.header.log_id;
    match segments.iter().find(|s| s.header.log_id != expected) {
        Some(other) => Err(Error::ForeignSegment {
            path: other.path.clone(),
            expected,
            found: other.header.log_id,
        }),
        None => Ok(Some(expected)),
    }
}

/// Reads and verifies the header of the segment file at `path`.
pub(crate) fn read_header(file: &dyn StorageFile, path: &Path) -> Result<SegmentHeader> {
    let mut bytes = [0u8; SEGMENT_HEADER_LEN];
    let got = file
        .read_full_at(&mut bytes, 0)
        .map_err(io_err("read", path))?;
    SegmentHeader::decode(bytes.get(..got).unwrap_or_default()).map_err(|source| {
        Error::BadSegmentHeader {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// An open segment, for reading.
#[derive(Debug)]
pub struct SegmentReader {
    file: Box<dyn StorageFile>,
    info: SegmentInfo,
}

impl SegmentReader {
    pub(crate) fn open(storage: &dyn Storage, info: &SegmentInfo) -> Result<Self> {
        let file = storage
            .open(&info.path, OpenOptions::read())
            .map_err(io_err("open", &info.path))?;
        Ok(SegmentReader {
            file,
            info: info.clone(),
        })
    }

    /// The segment's header and path.
    #[must_use]
    pub fn info(&self) -> &SegmentInfo {
        &self.info
    }

    /// The file's current size (preallocated space included).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the size cannot be read.
    pub fn size(&self) -> Result<u64> {
        self.file.size().map_err(io_err("stat", &self.info.path))
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many were
    /// read (0 at the end of the file).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the read fails.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.file
            .read_at(buf, offset)
            .map_err(io_err("read", &self.info.path))
    }

    /// Scans the segment's records from the first, verifying each, until the
    /// end of data. A simple scan (one read for each header and payload),
    /// not the recovery reader: it does not tell a torn tail from damage,
    /// it stops at both ([`RecordIter::end`] says where and why).
    #[must_use]
    pub fn records(&self, max_payload_len: u32) -> RecordIter<'_> {
        RecordIter {
            reader: self,
            decoder: RecordDecoder::new(self.info.header.salt, max_payload_len),
            offset: SEGMENT_HEADER_LEN as u64,
            end: None,
        }
    }
}

/// One record found by [`SegmentReader::records`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedRecord {
    /// The record's offset in the segment file.
    pub offset: u64,
    /// Its verified header.
    pub header: RecordHeader,
    /// Its payload, as stored.
    pub payload: Vec<u8>,
}

impl ScannedRecord {
    /// The offset just after the record.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.offset
            .saturating_add(RECORD_HEADER_LEN as u64)
            .saturating_add(self.payload.len() as u64)
    }
}

/// Why a scan stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScanEnd {
    /// The end of the file, at a record boundary.
    EndOfFile {
        /// The file offset where the data ends.
        offset: u64,
    },
    /// Bytes that are not a record of this segment: zeros, a record of an
    /// earlier use of the file, a torn write or damage.
    NotARecord {
        /// The file offset where the data ends.
        offset: u64,
        /// What the decoder said.
        reason: wal_format::Error,
    },
}

impl ScanEnd {
    /// The offset where the segment's data ends.
    #[must_use]
    pub fn offset(&self) -> u64 {
        match self {
            ScanEnd::EndOfFile { offset } | ScanEnd::NotARecord { offset, .. } => *offset,
        }
    }

    /// Whether the data ends cleanly: at the end of the file or in
    /// zero-filled space.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        matches!(
            self,
            ScanEnd::EndOfFile { .. }
                | ScanEnd::NotARecord {
                    reason: wal_format::Error::ZeroFilled,
                    ..
                }
        )
    }
}

/// The records of a segment; see [`SegmentReader::records`].
#[derive(Debug)]
pub struct RecordIter<'a> {
    reader: &'a SegmentReader,
    decoder: RecordDecoder,
    offset: u64,
    end: Option<ScanEnd>,
}

impl RecordIter<'_> {
    /// Where and why the scan stopped, once it has.
    #[must_use]
    pub fn end(&self) -> Option<&ScanEnd> {
        self.end.as_ref()
    }

    fn read_fully(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.reader
            .file
            .read_full_at(buf, offset)
            .map_err(io_err("read", &self.reader.info.path))
    }

    fn step(&mut self) -> Result<Option<ScannedRecord>> {
        let offset = self.offset;
        let mut head = [0u8; RECORD_HEADER_LEN];
        let got = self.read_fully(&mut head, offset)?;
        if got == 0 {
            self.end = Some(ScanEnd::EndOfFile { offset });
            return Ok(None);
        }
        let verified = match self
            .decoder
            .decode_header(head.get(..got).unwrap_or_default())
        {
            Ok(v) => v,
            Err(reason) => {
                self.end = Some(ScanEnd::NotARecord { offset, reason });
                return Ok(None);
            }
        };
        // The length was checked against the decoder's maximum.
        let mut payload = vec![0u8; verified.payload_len as usize];
        let payload_at = offset.saturating_add(RECORD_HEADER_LEN as u64);
        let got = self.read_fully(&mut payload, payload_at)?;
        if got < payload.len() {
            self.end = Some(ScanEnd::NotARecord {
                offset,
                reason: wal_format::Error::Incomplete {
                    needed: payload.len() - got,
                },
            });
            return Ok(None);
        }
        if let Err(reason) = verified.verify_payload(&payload) {
            self.end = Some(ScanEnd::NotARecord { offset, reason });
            return Ok(None);
        }
        self.offset = payload_at.saturating_add(payload.len() as u64);
        Ok(Some(ScannedRecord {
            offset,
            header: verified.header,
            payload,
        }))
    }
}

impl Iterator for RecordIter<'_> {
    type Item = Result<ScannedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.end.is_some() {
            return None;
        }
        match self.step() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => None,
            Err(e) => {
                self.end = Some(ScanEnd::EndOfFile {
                    offset: self.offset,
                });
                Some(Err(e))
            }
        }
    }
}

/// Where a suffix truncation cuts a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    /// The offset from which everything goes.
    pub(crate) offset: u64,
    /// The LSN the log continues with after the cut.
    pub(crate) next_lsn: Lsn,
    /// Whether bytes at or after `offset` may hold data to remove (false:
    /// the data ends cleanly there and nothing after it needs cutting).
    pub(crate) needed: bool,
}

/// Finds where to cut the segment so that every record with an LSN at or
/// after `lsn` goes and every record before it stays.
pub(crate) fn find_cut(reader: &SegmentReader, lsn: Lsn, max_payload_len: u32) -> Result<Cut> {
    let path = reader.info().path.clone();
    let mut next_lsn = reader.info().first_lsn();
    // (LSN of the batch, offset of its marker, records still to come).
    let mut batch: Option<(Lsn, u32)> = None;
    let mut iter = reader.records(max_payload_len);
    for record in iter.by_ref() {
        let record = record?;
        let h = record.header;
        if h.lsn >= lsn {
            if let Some((batch_lsn, _)) = batch
                && batch_lsn < lsn
                && h.record_type != RecordType::Batch
            {
                return Err(Error::InsideBatch {
                    path,
                    lsn,
                    batch: batch_lsn,
                });
            }
            return Ok(Cut {
                offset: record.offset,
                next_lsn,
                needed: true,
            });
        }
        match h.record_type {
            RecordType::Batch => {
                let count = record
                    .payload
                    .first_chunk::<4>()
                    .map_or(0, |b| u32::from_le_bytes(*b));
                batch = Some((h.lsn, count));
            }
            RecordType::Full | RecordType::Last | RecordType::Checkpoint => {
                next_lsn = h.lsn.checked_next().unwrap_or(Lsn::MAX);
                if let Some((start, left)) = batch {
                    let left = left.saturating_sub(1);
                    batch = (left > 0).then_some((start, left));
                }
            }
            _ => {}
        }
    }
    let end = iter.end().cloned().unwrap_or(ScanEnd::EndOfFile {
        offset: SEGMENT_HEADER_LEN as u64,
    });
    if let ScanEnd::NotARecord { offset, reason } = &end
        && !end.is_clean()
        && !matches!(
            reason,
            // Stale records of an earlier use of the file, or the file's
            // end within a header's length (a full segment).
            wal_format::Error::WrongSalt { .. } | wal_format::Error::Incomplete { .. }
        )
    {
        // The log was recovered (any damage before its end refused or cut)
        // before it could be truncated: bytes that are not records before
        // `lsn` are a read gone wrong or new damage. Cutting there would
        // take records below `lsn` with it.
        return Err(Error::ReadBack {
            path,
            offset: *offset,
            reason: format!("{reason}, before lsn {lsn} was reached"),
        });
    }
    Ok(Cut {
        offset: end.offset(),
        next_lsn,
        needed: !end.is_clean(),
    })
}
