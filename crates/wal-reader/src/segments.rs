//! Listing a log directory's segments without taking its lock (a reader may
//! run beside the writer).

use std::path::Path;

use wal_format::{CleanMarker, LogId};
use wal_io::Storage;

use crate::error::{Error, Result};
use crate::report::CorruptRange;

/// A segment file and its verified header: wal-io's.
pub(crate) use wal_io::SegmentInfo as Segment;

/// The segment files of `dir`, sorted by first LSN, with verified headers
/// ([`wal_io::list_segments`]: the checks `wal_io::SegmentLog::open`
/// makes), its findings in this crate's terms ([`from_listing`]).
pub(crate) fn list(storage: &dyn Storage, dir: &Path) -> Result<Vec<Segment>> {
    wal_io::list_segments(storage, dir).map_err(from_listing)
}

/// A finding of wal-io's segment listing (also `SegmentLog::open`'s) as
/// this crate reports it: an entry that is not a regular file and a
/// segment of another log are corruption; a bad header and a name that
/// disagrees with it stay wal-io's errors ([`Error::Io`]).
pub(crate) fn from_listing(e: wal_io::Error) -> Error {
    match e {
        wal_io::Error::ForeignSegment {
            path,
            expected,
            found,
        } => Error::Corruption(Box::new(CorruptRange::foreign(path, expected, found))),
        wal_io::Error::NotRegular { path } => {
            Error::Corruption(Box::new(CorruptRange::not_regular(path)))
        }
        e => e.into(),
    }
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
