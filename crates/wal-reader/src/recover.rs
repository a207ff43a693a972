//! Recovery: open a log for writing, find where its valid data ends, apply
//! the recovery mode, and position the appender there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use wal_format::Lsn;
use wal_io::{LogOptions, OpenOptions, SegmentLog, Storage};

use crate::error::{Error, Result};
use crate::options::ReadOptions;
use crate::reader::{LogReader, LogRecord};
use crate::report::{Position, RecoveryReport};
use crate::segments::Segment;

/// Opens the log in `dir` for writing and recovers it: checks every
/// segment (checksums, salts, LSN continuity, fragment chains, batches),
/// classifies where the data ends, applies `options`' recovery mode, and
/// positions the appender so the returned log is ready to append at
/// [`RecoveryReport::next_lsn`].
///
/// - A torn tail is cut off durably (by `SegmentLog::resume`); a
///   zero-filled tail is left as it is.
/// - Corruption before the tail fails in the default mode, naming segment,
///   offset and LSNs, and nothing is changed;
///   [`crate::RecoveryMode::PointInTime`] discards everything from the
///   damage on (durably: later segments removed newest first, the damaged
///   segment cut) and [`crate::RecoveryMode::SkipAnyCorruptedRecords`]
///   skips it; both list what they did in [`RecoveryReport::corrupt`].
/// - Payloads are decoded as a reader decodes them: an encrypted log needs
///   its keys (checked for every segment first; [`Error::Key`] names a
///   missing or wrong one), and a record that does not authenticate or
///   decompress is corruption like any other (`docs/SECURITY.md`).
///
/// Recovery is idempotent: recovering the returned log again finds the
/// same end and changes nothing.
///
/// Memory is bounded as for [`crate::LogReader`] (recovery reads through
/// one). Every segment is scanned: see `docs/ARCHITECTURE.md`
/// for why sealed segments are not skipped.
///
/// ```
/// use std::sync::Arc;
/// use wal_io::{FileStorage, LogOptions};
/// use wal_reader::{recover, ReadOptions, TailKind};
/// # use wal_format::Lsn;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let storage = Arc::new(FileStorage::new());
/// let (log, report) = recover(storage, dir.path(), &LogOptions::new(), &ReadOptions::new())?;
/// assert_eq!(report.next_lsn, Lsn::FIRST); // a new, empty log
/// assert_eq!(report.tail, TailKind::Clean);
/// log.close()?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::Corruption`], [`Error::TornTail`] (absolute consistency),
/// [`Error::Io`] (the log cannot be opened, locked, cut or positioned; a
/// segment header that does not verify; a failed storage call),
/// [`Error::InvalidOption`].
pub fn recover(
    storage: Arc<dyn Storage>,
    dir: impl Into<PathBuf>,
    log_options: &LogOptions,
    options: &ReadOptions,
) -> Result<(SegmentLog, RecoveryReport)> {
    recover_inner(storage, dir.into(), log_options, options, &mut |_| true)
}

/// [`recover`], handing every record it finds to `replay` on the way: one
/// pass over the log instead of a recovery and then a read from the start
/// (what an application that rebuilds its state from the log on open
/// would do otherwise).
///
/// `replay` sees exactly what a [`LogReader`] over the recovered log would
/// yield, in LSN order: whole batches only, fragments reassembled,
/// payloads decrypted (so `options` needs the keys of an encrypted log)
/// and decompressed; in the skipping mode, none of the skipped records;
/// in the point-in-time mode, nothing from the damage on; never a record
/// of a torn tail. If recovery fails (corruption before the tail in the
/// default mode, a missing key, an I/O error), `replay` may already have
/// seen the records before the failure: throw away what it built.
///
/// ```
/// use std::sync::Arc;
/// use wal_io::{FileStorage, LogOptions};
/// use wal_reader::{recover_with, ReadOptions};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let storage = Arc::new(FileStorage::new());
/// let mut state = Vec::new();
/// let (log, report) = recover_with(
///     storage,
///     dir.path(),
///     &LogOptions::new(),
///     &ReadOptions::new(),
///     |record| state.push(record.to_owned_record()),
/// )?;
/// assert_eq!(state.len() as u64, report.last_lsn.get()); // nothing yet
/// log.close()?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`recover`], and as [`LogReader::next_record`] for the payloads
/// ([`Error::Key`], [`Error::Payload`]).
pub fn recover_with(
    storage: Arc<dyn Storage>,
    dir: impl Into<PathBuf>,
    log_options: &LogOptions,
    options: &ReadOptions,
    mut replay: impl FnMut(LogRecord<'_>),
) -> Result<(SegmentLog, RecoveryReport)> {
    recover_inner(storage, dir.into(), log_options, options, &mut |record| {
        replay(record);
        true
    })
}

/// [`recover_with`], where `replay` may refuse a record (it returns
/// `false`, for example for a record an index built on top of the log
/// finds inconsistent): recovery then stops with [`Error::Refused`] naming
/// it, after the walk and before anything is cut, rewritten or removed, so
/// the log on disk is as it was.
///
/// # Errors
///
/// As [`recover_with`]; [`Error::Refused`].
pub fn recover_checked(
    storage: Arc<dyn Storage>,
    dir: impl Into<PathBuf>,
    log_options: &LogOptions,
    options: &ReadOptions,
    mut replay: impl FnMut(LogRecord<'_>) -> bool,
) -> Result<(SegmentLog, RecoveryReport)> {
    recover_inner(storage, dir.into(), log_options, options, &mut replay)
}

fn recover_inner(
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    log_options: &LogOptions,
    options: &ReadOptions,
    replay: &mut dyn FnMut(LogRecord<'_>) -> bool,
) -> Result<(SegmentLog, RecoveryReport)> {
    let started = Instant::now();
    options.validate()?;
    // Opening syncs the directory (the names listed may not be durable),
    // and resuming below makes the last segment's records durable (they
    // may be only in the page cache) unless the log was closed cleanly.
    // What a reader's listing reports, reported the same way.
    let mut log = SegmentLog::open(Arc::clone(&storage), &dir, log_options)
        .map_err(crate::segments::from_listing)?;
    // The marker as it is on the disk (the log may not trust it for its
    // rewrite, say when its segment is gone: the walk still takes it as
    // evidence of what was acknowledged).
    let clean = if log.segments().is_empty() {
        wal_io::read_clean_marker(&*storage, &dir)
    } else {
        log.clean_marker().copied()
    };
    let segs: Vec<Segment> = log.segments().to_vec();
    let count = segs.len();
    let first_lsn = segs.first().map_or(Lsn::ZERO, Segment::first_lsn);
    // One walk, decoding every payload: a record that does not
    // authenticate or decompress is corruption here as it is for a reader
    // (so a reader and recovery reach one verdict); an encrypted log needs
    // its keys, checked for every segment before anything is read.
    let mut reader = LogReader::with_segments(
        Arc::clone(&storage),
        dir.clone(),
        options,
        segs.clone(),
        clean,
    )?;
    while let Some((found, decoded)) = reader.next_decoded()? {
        let lsn = found.lsn;
        if !replay(reader.view(found, decoded)) {
            // Nothing was changed yet: the log stays as it is.
            return Err(Error::Refused { lsn });
        }
    }
    let walker = reader.walker;
    let Some(end) = walker.end.clone() else {
        return Err(Error::InvalidOption {
            name: "recover",
            reason: "the scan ended without an end",
        });
    };

    // Before anything is cut, removed or skipped for good: the same walk
    // again must end in the same place. A disk whose reads go wrong (a bit
    // flipped on one read, a read error taken for data) would otherwise
    // have recovery destroy acknowledged records on its word.
    if end.cut || end.early {
        let mut again =
            LogReader::with_segments(Arc::clone(&storage), dir.clone(), options, segs, clean)?;
        while again.next_decoded()?.is_some() {}
        let same = again.walker.end.as_ref().is_some_and(|e| {
            (e.segment, e.offset, e.next_lsn, e.tail)
                == (end.segment, end.offset, end.next_lsn, end.tail)
        }) && again.walker.corrupt == walker.corrupt;
        if !same {
            let path = end
                .segment
                .and_then(|i| walker.segments.get(i))
                .map_or_else(|| dir.clone(), |s| s.path.clone());
            return Err(Error::Io(wal_io::Error::ReadBack {
                path,
                offset: end.offset,
                reason: "a second read of the log found its end elsewhere (a failing disk?); \
                         nothing was cut"
                    .into(),
            }));
        }
    }

    let mut truncated_bytes = 0;
    let mut removed_segments = 0;
    if let Some(seg) = end.segment.and_then(|i| walker.segments.get(i)) {
        if end.cut {
            let file = storage
                .open(&seg.path, OpenOptions::read())
                .map_err(wal_io::io_err("open", &seg.path))?;
            let size = file.size().map_err(wal_io::io_err("stat", &seg.path))?;
            truncated_bytes = size.saturating_sub(end.offset);
        }
        let later = count.saturating_sub(end.segment.unwrap_or(0).saturating_add(1));
        if end.early && later > 0 {
            // Point in time, with segments after the damage: drop them
            // (newest first) and cut this one exactly where this walk's
            // data ended (no second scan that a bad read could move).
            removed_segments = later;
            log.cut_at(seg.first_lsn(), end.offset, end.next_lsn)?;
        } else {
            // Ranges the skipping mode skipped in this segment stay as they
            // are (the rewrite copies them without checking them).
            let damaged: Vec<std::ops::Range<u64>> = walker
                .corrupt
                .iter()
                .filter(|r| r.segment == seg.path)
                .map(|r| r.offset..r.end_offset.max(r.offset))
                .collect();
            log.resume_over(end.offset, end.next_lsn, &damaged)?;
        }
    }

    let durable_end = log.append_position().and_then(|(first, offset)| {
        log.segments()
            .iter()
            .find(|s| s.first_lsn() == first)
            .map(|s| Position {
                segment: s.path().to_path_buf(),
                segment_first_lsn: first,
                offset,
            })
    });
    let next_lsn = end.next_lsn.max(Lsn::FIRST);
    let report = RecoveryReport {
        mode: options.mode,
        segments: log.segments().len(),
        first_lsn: log.segments().first().map_or(first_lsn, |s| s.first_lsn()),
        last_lsn: next_lsn.checked_prev().unwrap_or(Lsn::ZERO),
        next_lsn,
        durable_end,
        tail: end.tail,
        torn_detail: end.torn_detail,
        truncated_bytes,
        removed_segments,
        dropped: end.dropped,
        proven_lsn: walker.proven_lsn(),
        corrupt: walker.corrupt,
        clean_close: log.opened_clean(),
        elapsed: started.elapsed(),
    };
    if let Some(losses) = report.losses() {
        tracing::warn!(
            dir = %dir.display(),
            next_lsn = %report.next_lsn,
            truncated = report.truncated_bytes,
            corrupt = report.corrupt.len(),
            %losses,
            "recovered the wal with losses"
        );
    } else {
        tracing::info!(
            dir = %dir.display(),
            segments = report.segments,
            next_lsn = %report.next_lsn,
            elapsed_us = report.elapsed.as_micros() as u64,
            "recovered the wal"
        );
    }
    Ok((log, report))
}
