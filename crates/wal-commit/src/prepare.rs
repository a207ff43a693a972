//! Spare segments prepared on a thread of their own.
//!
//! A new segment is created, preallocated, zero-filled (by default) and
//! synced before a rotation can use it: tens of milliseconds for 64 MiB.
//! Done inline by the rotation (wal-io's `prepare_ahead`), every appender
//! waits behind it. Here the I/O side only notices a rotation that used up
//! the last spare and nudges this thread, which prepares the next one
//! while groups keep going. A rotation that finds no spare ready (segments
//! filling faster than they can be prepared) still creates one inline, so
//! nothing depends on this thread keeping up.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use wal_format::Lsn;
use wal_io::{SegmentLog, SparePreparer};

use crate::error::{Error, Result};

/// The preparing thread, owned by the committer. It stops when its
/// [`Nudge`] (held by the I/O state) is dropped.
#[derive(Debug)]
pub(crate) struct PrepareThread {
    handle: JoinHandle<()>,
    done: mpsc::Receiver<()>,
}

/// The I/O side's handle: tells the thread when a spare is needed.
#[derive(Debug)]
pub(crate) struct Nudge {
    spares: SparePreparer,
    tx: mpsc::SyncSender<()>,
    /// The first LSN of the segment being written when last looked at.
    current: Option<Lsn>,
}

/// Starts the thread for `log` and turns the log's own (inline)
/// preparation off; the thread prepares the first spare at once.
pub(crate) fn start(log: &mut SegmentLog) -> Result<(PrepareThread, Nudge)> {
    let spares = log.spare_preparer();
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    let (done_tx, done) = mpsc::channel();
    let worker = spares.clone();
    let handle = std::thread::Builder::new()
        .name("groupwal-prepare".into())
        .spawn(move || {
            // Each nudge prepares at most one spare; `recv` fails once the
            // nudge is dropped (the log closed or was poisoned).
            while rx.recv().is_ok() {
                if let Err(e) = worker.prepare() {
                    // Not fatal: the next rotation creates its file inline.
                    tracing::warn!(error = %e, "could not prepare the next segment");
                }
            }
            drop(worker);
            let _ = done_tx.send(());
        })
        .map_err(|e| Error::Thread(e.to_string()))?;
    log.set_prepare_ahead(false);
    let _ = tx.try_send(());
    let current = log.segments().last().map(|s| s.first_lsn());
    Ok((
        PrepareThread { handle, done },
        Nudge {
            spares,
            tx,
            current,
        },
    ))
}

impl Nudge {
    /// Call after each group: after a rotation that left no spare ready,
    /// wakes the thread (once per rotation, so a failing preparation is
    /// not retried after every group).
    pub(crate) fn after_group(&mut self, log: &SegmentLog) {
        let current = log.segments().last().map(|s| s.first_lsn());
        if current != self.current {
            self.current = current;
            if self.spares.is_needed() {
                let _ = self.tx.try_send(());
            }
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
