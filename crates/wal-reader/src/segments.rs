//! Listing a log directory's segments without taking its lock (a reader may
//! run beside the writer).

use std::path::{Path, PathBuf};

use wal_format::{
    CleanMarker, LogId, Lsn, SEGMENT_HEADER_LEN, SegmentHeader, parse_segment_file_name,
};
use wal_io::{OpenOptions, Storage, StorageFile};

use crate::error::{Error, Result, io_err};
use crate::report::CorruptRange;

/// A segment file and its verified header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    pub(crate) header: SegmentHeader,
}

impl Segment {
    pub(crate) fn first_lsn(&self) -> Lsn {
        self.header.first_lsn
    }
}

/// The segment files of `dir`, sorted by first LSN, with verified headers.
/// Other files are ignored. A segment that disappears while it is listed
/// (purged by the writer) is left out.
///
/// The same checks as `wal_io::SegmentLog::open`, reported the same way
/// (recovery turns that one's errors into these): an entry named like a
/// segment that is not a regular file (never followed or opened), and a
/// segment of another log (its log id differs from the first segment's),
/// are corruption.
pub(crate) fn list(storage: &dyn Storage, dir: &Path) -> Result<Vec<Segment>> {
    let entries = storage.list_dir(dir).map_err(io_err("list", dir))?;
    let mut out = Vec::new();
    for entry in entries {
        let Some(lsn) = parse_segment_file_name(&entry.name) else {
            continue;
        };
        let path = dir.join(&entry.name);
        if !entry.is_file {
            return Err(Error::Corruption(Box::new(CorruptRange::not_regular(path))));
        }
        let file = match storage.open(&path, OpenOptions::read()) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("open", path)(e)),
        };
        let header = read_header(&*file, &path)?;
        if header.first_lsn != lsn {
            return Err(Error::NameMismatch {
                path,
                in_header: header.first_lsn,
                in_name: lsn,
            });
        }
        out.push(Segment { path, header });
    }
    out.sort_by_key(Segment::first_lsn);
    if let Some(first) = out.first() {
        let expected = first.header.log_id;
        if let Some(other) = out.iter().find(|s| s.header.log_id != expected) {
            return Err(Error::Corruption(Box::new(CorruptRange::foreign(
                other.path.clone(),
                expected,
                other.header.log_id,
            ))));
        }
    }
    Ok(out)
}

/// The clean-close marker of the log whose segments are `segments`, when
/// it verifies (see `wal_io::CLEAN_FILE`). A marker of another log is a
/// finding, as `wal_io::SegmentLog::open` reports it.
pub(crate) fn clean_marker(
    storage: &dyn Storage,
    dir: &Path,
    segments: &[Segment],
) -> Result<Option<CleanMarker>> {
    let Some(marker) = wal_io::read_clean_marker(storage, dir) else {
        return Ok(None);
    };
    let expected: Option<LogId> = segments.first().map(|s| s.header.log_id);
    match expected {
        Some(id) if id != marker.log_id => Err(Error::Corruption(Box::new(CorruptRange::foreign(
            dir.join(wal_io::CLEAN_FILE),
            id,
            marker.log_id,
        )))),
        _ => Ok(Some(marker)),
    }
}

/// Reads and verifies a segment header.
pub(crate) fn read_header(file: &dyn StorageFile, path: &Path) -> Result<SegmentHeader> {
    let mut bytes = [0u8; SEGMENT_HEADER_LEN];
    let got = read_fully(file, path, &mut bytes, 0)?;
    SegmentHeader::decode(bytes.get(..got).unwrap_or_default()).map_err(|source| {
        Error::BadSegmentHeader {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub(crate) fn read_fully(
    file: &dyn StorageFile,
    path: &Path,
    buf: &mut [u8],
    offset: u64,
) -> Result<usize> {
    file.read_full_at(buf, offset).map_err(io_err("read", path))
}
