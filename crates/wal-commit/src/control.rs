//! Operations on the log itself: purge and suffix truncation. Callers
//! queue a [`Control`]; whoever holds the I/O lock runs it between groups
//! (the I/O thread: a leading appender leaves controls to it), after the
//! syncs handed to the sync thread, and replies.

use std::sync::mpsc;

use wal_format::Lsn;

use crate::commit::Committer;
use crate::error::{Error, Result};
use crate::group::{IoState, Publish, from_io};
use crate::queue::{Shared, fail};
use crate::scheduler::gather_may_end;

/// An operation on the log itself, run by the I/O thread between groups.
#[derive(Debug)]
pub(crate) enum Control {
    PurgeBelow(Lsn, mpsc::Sender<Result<usize>>),
    TruncateFrom(Lsn, mpsc::Sender<Result<Lsn>>),
}

impl Committer {
    /// Removes whole segments whose records all have LSNs below `lsn`
    /// (after a checkpoint made them unnecessary), recycling or deleting
    /// the files; returns how many went. The segment being written always
    /// stays. `lsn` is capped at the durable LSN + 1.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] (which poisons the log), [`Error::Poisoned`],
    /// [`Error::Closed`].
    pub fn purge_below(&self, lsn: Lsn) -> Result<usize> {
        let cap = Lsn::new(self.durable_lsn().get().saturating_add(1));
        let (tx, rx) = mpsc::channel();
        self.control(Control::PurgeBelow(lsn.min(cap), tx))?;
        self.reply(&rx)
    }

    /// Discards every record with an LSN at or after `lsn` (a Raft follower
    /// overwriting a suffix): waits until everything appended so far is
    /// durable (appenders wait meanwhile), cuts the log durably, and
    /// returns the LSN the next append gets (`lsn`, or just after the last
    /// record kept). Records at `lsn` and after are gone when this returns,
    /// even after a crash.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for an LSN past the next one or while
    /// another truncation runs; [`Error::Io`] with `wal_io::Error::InsideBatch`
    /// if `lsn` falls inside an atomic batch (nothing changes); any other
    /// [`Error::Io`] poisons the log; [`Error::Poisoned`], [`Error::Closed`].
    pub fn truncate_from(&self, lsn: Lsn) -> Result<Lsn> {
        {
            let mut q = self.shared.lock();
            if q.paused {
                return Err(Error::InvalidOption {
                    name: "truncate_from",
                    reason: "another truncation is under way",
                });
            }
            if lsn > q.next_lsn || lsn == Lsn::ZERO {
                return Err(Error::InvalidOption {
                    name: "lsn",
                    reason: "a truncation point must be between 1 and the next lsn",
                });
            }
            q.paused = true;
        }
        let result = self.truncate_paused(lsn);
        self.shared.lock().paused = false;
        self.shared.watermark.wake_all();
        result
    }

    fn truncate_paused(&self, lsn: Lsn) -> Result<Lsn> {
        // Everything assigned so far becomes durable first, so no record
        // is in flight while the log is cut.
        let last = self.shared.lock().next_lsn.checked_prev();
        if let Some(last) = last {
            self.request_sync(last);
        }
        self.shared.watermark.wait_until(|| {
            let next = self.shared.lock().next_lsn;
            self.shared.watermark.durable().get().saturating_add(1) >= next.get()
        })?;
        let (tx, rx) = mpsc::channel();
        self.control(Control::TruncateFrom(lsn, tx))?;
        self.reply(&rx)
    }

    fn control(&self, c: Control) -> Result<()> {
        {
            let mut q = self.shared.lock();
            if let Some(e) = self.shared.watermark.poisoned() {
                return Err(e);
            }
            if q.closing {
                return Err(Error::Closed);
            }
            q.controls.push_back(c);
            if gather_may_end(&q, &self.shared.options) {
                self.shared.gathered.notify_all();
            }
        }
        self.shared.work.notify_one();
        Ok(())
    }

    fn reply<T>(&self, rx: &mpsc::Receiver<Result<T>>) -> Result<T> {
        match rx.recv() {
            Ok(result) => result,
            // The I/O thread stopped before running it.
            Err(_) => Err(self.shared.watermark.poisoned().unwrap_or(Error::Closed)),
        }
    }
}

impl IoState {
    /// Runs a control operation and replies to its caller. An I/O error
    /// poisons the log (the segment log refuses writes after one anyway).
    pub(crate) fn control(&mut self, shared: &Shared, c: Control) {
        // No sync runs under a change of the log's files, and none
        // acknowledges across a truncation.
        self.drain_syncs();
        match c {
            Control::PurgeBelow(lsn, reply) => {
                let result = self.log.purge_below(lsn);
                self.publish_segments(shared, Publish::Always);
                let _ = reply.send(Self::control_result(shared, result));
            }
            Control::TruncateFrom(lsn, reply) => {
                let result = self.log.truncate_from(lsn).map(|()| {
                    let next = self.log.next_lsn().unwrap_or(lsn);
                    self.written = next.checked_prev().unwrap_or(Lsn::ZERO);
                    {
                        let mut q = shared.lock();
                        q.next_lsn = next;
                        q.sync_to = q.sync_to.min(self.written);
                        q.sync_submitted = q.sync_submitted.min(self.written);
                        shared
                            .watermark
                            .reset(next.checked_prev().unwrap_or(Lsn::ZERO));
                    }
                    shared.watermark.wake_all();
                    tracing::debug!(from = %lsn, %next, "truncated the log's suffix");
                    next
                });
                self.publish_segments(shared, Publish::Always);
                let _ = reply.send(Self::control_result(shared, result));
            }
        }
    }

    fn control_result<T>(shared: &Shared, result: wal_io::Result<T>) -> Result<T> {
        result.map_err(|e| {
            let poisons = matches!(e, wal_io::Error::Io { .. } | wal_io::Error::Failed { .. });
            let e = from_io(e);
            if poisons {
                tracing::error!(error = %e, "log operation failed; the log is poisoned");
                fail(shared, e.clone());
            }
            e
        })
    }
}
