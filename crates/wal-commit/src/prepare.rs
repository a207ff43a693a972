//! Spare segments prepared on a thread of their own.
//!
//! A new segment is created, preallocated, zero-filled (by default) and
//! synced before a rotation can use it: tens of milliseconds for 64 MiB.
//! Done inline by the rotation (wal-io's `prepare_ahead`), every appender
//! waits behind it. Here the I/O side nudges the thread once the segment
//! being written is half full (by stored bytes, counting what it held when
//! the log opened) and no spare is ready, and the thread prepares the next
//! one while groups keep going. So a small log costs one segment on disk,
//! not two: its spare is made only once it is on its way to filling the
//! first. A rotation that
//! finds no spare ready (segments filling faster than they can be
//! prepared) still creates one inline, fallocated only (wal-io), so
//! nothing depends on this thread keeping up.
//!
//! With [`crate::CommitOptions::adaptive_preallocation`] (on by default), a log
//! configured to zero-fill its segments zero-fills a spare only while it
//! syncs often for the bytes it writes: when the first half of the
//! current segment took [`BULK_BYTES_PER_SYNC`] or more per sync (many
//! writers, large records, unsynced appends), the spare is only allocated
//! (`fallocate`). The
//! zeros make each small sync cheaper (the extents are already written,
//! so `fdatasync` commits no extent conversion), but they are as many
//! bytes again for the disk to write, so they pay off only when each sync
//! is small (measurements: `docs/perf/HISTORY.md`, "Zero-fill only where
//! it pays").

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use wal_format::Lsn;
use wal_io::{Preallocation, SegmentLog, SparePreparer};

use crate::error::{Error, Result};
use crate::stats::Counters;

/// Bytes per sync from which a segment counts as written in bulk: its
/// successor is fallocated rather than zero-filled.
pub(crate) const BULK_BYTES_PER_SYNC: u64 = 32 << 10;

/// The preparing thread, owned by the committer. It stops when its
/// [`Nudge`] (held by the I/O state) is dropped.
#[derive(Debug)]
pub(crate) struct PrepareThread {
    handle: JoinHandle<()>,
    done: mpsc::Receiver<()>,
}

/// The I/O side's handle: tells the thread when a spare is needed, and
/// how to reserve its space.
#[derive(Debug)]
pub(crate) struct Nudge {
    spares: SparePreparer,
    tx: mpsc::SyncSender<Preallocation>,
    /// The first LSN of the segment being written when last looked at.
    current: Option<Lsn>,
    /// Pick each spare's preallocation from how the current segment is
    /// being written (only for a log that zero-fills).
    adaptive: bool,
    /// The committer's byte and sync counts when `current` started.
    bytes_at: u64,
    syncs_at: u64,
    /// Bytes `current` already held when first seen (a reopened log's
    /// last segment); 0 for a segment begun since.
    held: u64,
    /// Whether the thread was nudged for the current segment.
    nudged: bool,
    /// Half a segment: when to nudge.
    half: u64,
}

/// Starts the thread for `log` and turns the log's own (inline)
/// preparation off; the thread prepares the first spare at once.
pub(crate) fn start(log: &mut SegmentLog, adaptive: bool) -> Result<(PrepareThread, Nudge)> {
    let spares = log.spare_preparer();
    let configured = spares.preallocation();
    let (tx, rx) = mpsc::sync_channel::<Preallocation>(1);
    let (done_tx, done) = mpsc::channel();
    let worker = spares.clone();
    let handle = std::thread::Builder::new()
        .name("groupwal-prepare".into())
        .spawn(move || {
            // Each nudge prepares at most one spare; `recv` fails once the
            // nudge is dropped (the log closed or was poisoned).
            while let Ok(how) = rx.recv() {
                if let Err(e) = worker.prepare_with(how) {
                    // Not fatal: the next rotation creates its file inline.
                    tracing::warn!(error = %e, "could not prepare the next segment");
                }
            }
            drop(worker);
            let _ = done_tx.send(());
        })
        .map_err(|e| Error::Thread(e.to_string()))?;
    log.set_prepare_ahead(false);
    let current = log.segments().last().map(|s| s.first_lsn());
    let held = log.append_position().map_or(0, |(_, offset)| offset);
    let half = spares.segment_size() / 2;
    let mut nudge = Nudge {
        spares,
        tx,
        current,
        adaptive: adaptive && configured == Preallocation::ZeroFill,
        bytes_at: 0,
        syncs_at: 0,
        held,
        nudged: false,
        half,
    };
    // A log reopened past the half of its segment gets its spare now, as
    // configured: nothing says yet how it is written.
    if nudge.due(0) {
        nudge.nudged = true;
        if nudge.spares.is_needed() {
            let _ = nudge.tx.try_send(configured);
        }
    }
    Ok((PrepareThread { handle, done }, nudge))
}

/// How to reserve the next spare, given how the current segment is being
/// written (`bytes` over `syncs`).
pub(crate) fn choose(
    configured: Preallocation,
    adaptive: bool,
    bytes: u64,
    syncs: u64,
) -> Preallocation {
    if adaptive
        && configured == Preallocation::ZeroFill
        && bytes >= BULK_BYTES_PER_SYNC.saturating_mul(syncs.max(1))
    {
        Preallocation::Allocate
    } else {
        configured
    }
}

impl Nudge {
    /// Whether the current segment, with `written` bytes since it was
    /// first seen, is half full: time for its successor.
    fn due(&self, written: u64) -> bool {
        self.held.saturating_add(written) >= self.half
    }

    /// Call after each group: once the current segment is half full and
    /// no spare is ready, wakes the thread (once per segment, so a failing
    /// preparation is not retried after every group).
    pub(crate) fn after_group(&mut self, log: &SegmentLog, counters: &Counters) {
        let (bytes, syncs) = counters.bytes_and_syncs();
        let current = log.segments().last().map(|s| s.first_lsn());
        if current != self.current {
            self.current = current;
            (self.bytes_at, self.syncs_at) = (bytes, syncs);
            self.held = 0;
            self.nudged = false;
        }
        let written = bytes.saturating_sub(self.bytes_at);
        if self.nudged || !self.due(written) {
            return;
        }
        self.nudged = true;
        if self.spares.is_needed() {
            let how = choose(
                self.spares.preallocation(),
                self.adaptive,
                written,
                syncs.saturating_sub(self.syncs_at),
            );
            let _ = self.tx.try_send(how);
        }
    }
}

impl PrepareThread {
    /// Waits for the thread to finish (its nudge must be dropped first),
    /// at most `limit` when given.
    pub(crate) fn join(self, limit: Option<Duration>) -> Result<()> {
        if let Some(limit) = limit
            && let Err(mpsc::RecvTimeoutError::Timeout) = self.done.recv_timeout(limit)
        {
            tracing::warn!("groupwal segment preparer still busy after {limit:?}; detaching it");
            return Ok(());
        }
        self.handle
            .join()
            .map_err(|_| Error::Thread("the segment preparer panicked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_segments_get_fallocated_successors() {
        let zero = Preallocation::ZeroFill;
        // Small syncs: zero-filled, as configured.
        assert_eq!(choose(zero, true, 1000 * 1024, 1000), zero);
        assert_eq!(choose(zero, true, (32 << 10) * 10 - 1, 10), zero);
        // 32 KiB or more per sync, or no sync at all: fallocated.
        assert_eq!(
            choose(zero, true, (32 << 10) * 10, 10),
            Preallocation::Allocate
        );
        assert_eq!(choose(zero, true, 64 << 20, 0), Preallocation::Allocate);
        // Off, or another configured mode: as configured.
        assert_eq!(choose(zero, false, 64 << 20, 0), zero);
        for other in [
            Preallocation::None,
            Preallocation::SetLen,
            Preallocation::Allocate,
        ] {
            assert_eq!(choose(other, true, 64 << 20, 0), other);
        }
    }
}
