//! Who holds the I/O lock and runs the scheduler's work: the I/O thread's
//! loop, and [`lead`], in which a blocking appender that finds the lock
//! free writes (and, with inline syncs, syncs) the queued groups on its
//! own thread. The I/O lock is taken before the queue lock, and a leader
//! only tries it (`try_lock`), so it never waits behind a group.

use std::sync::mpsc;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use wal_format::Lsn;

use crate::error::{Error, Result};
use crate::group::{IoState, Runner};
use crate::queue::{Shared, pending_bytes, synced_or_submitted};
use crate::scheduler::{Work, sync_owed, take_work, wait_while};

/// The I/O thread, joined by close; `done` says it finished, for a close
/// that waits a limited time.
#[derive(Debug)]
pub(crate) struct IoThread {
    pub(crate) handle: JoinHandle<Result<()>>,
    pub(crate) done: mpsc::Receiver<()>,
}

/// Starts the I/O thread (`groupwal-io`) on `shared`.
pub(crate) fn spawn(shared: Arc<Shared>) -> Result<IoThread> {
    let (done_tx, done) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("groupwal-io".into())
        .spawn(move || {
            let result = IoLoop { shared }.run();
            let _ = done_tx.send(());
            result
        })
        .map_err(|e| Error::Thread(e.to_string()))?;
    Ok(IoThread { handle, done })
}

/// The I/O thread's loop.
struct IoLoop {
    shared: Arc<Shared>,
}

impl IoLoop {
    /// Runs work until closing and drained, or poisoned; then closes the
    /// log.
    fn run(self) -> Result<()> {
        let shared = &*self.shared;
        while self.wait_for_work() {
            let mut io = shared.io_lock();
            let Some(state) = io.as_mut() else {
                break;
            };
            let Some(work) = take_work(shared) else {
                continue;
            };
            match work {
                Work::Control(c) => state.control(shared, c),
                Work::Group(mut group) => state.run_group(shared, &mut group, Runner::IoThread),
                Work::Sync => state.run_sync(shared, Runner::IoThread),
            }
            drop(io);
            if shared.watermark.poison().is_some() {
                break;
            }
        }
        close(shared)
    }

    /// Waits until there is work (and, with `max_delay`, until the group
    /// fills or the delay passes); `false` once closing and drained, or
    /// poisoned.
    fn wait_for_work(&self) -> bool {
        let shared = &*self.shared;
        let opts = &shared.options;
        let mut q = shared.lock();
        loop {
            if shared.watermark.poison().is_some() {
                return false;
            }
            if !q.controls.is_empty() {
                return true;
            }
            if !q.requests.is_empty() {
                break;
            }
            if sync_owed(q.sync_to, synced_or_submitted(shared, &q)) {
                return true;
            }
            if q.closing {
                return false;
            }
            q.io_idle = true;
            q = shared.work.wait(q).unwrap_or_else(PoisonError::into_inner);
            q.io_idle = false;
        }
        if let Some(delay) = opts.max_delay {
            q.io_idle = true;
            q = wait_while(&shared.work, q, Instant::now() + delay, |q| {
                !q.closing && pending_bytes(&q.requests) < opts.max_group_bytes
            });
            // The caller takes the lock again under the I/O lock.
            q.io_idle = false;
        }
        true
    }
}

/// Closes the log after the I/O thread's last work (its last syncs
/// first), unless poisoned, and marks the watermark closed.
fn close(shared: &Shared) -> Result<()> {
    let state = shared.io_lock().take();
    let result = match (shared.watermark.poison(), state) {
        (Some(cause), _) => Err(Error::Poisoned(cause.clone())),
        (None, Some(mut state)) => {
            // Its last syncs first (dropping it waits for them).
            drop(state.syncer.take());
            let written = state.written;
            let closed = state.log.close().map_err(|e| Error::Io(Arc::new(e)));
            // Closing synced what was written unsynced.
            if closed.is_ok() {
                shared.watermark.publish(written);
            }
            closed
        }
        (None, None) => Ok(()),
    };
    // Anyone still waiting for room or durability must wake and see
    // that nothing more will come; controls still queued get no reply
    // (their senders drop) and report the log closed.
    shared.lock().controls.clear();
    shared.watermark.set_closed();
    result
}

/// An appender that finds the I/O lock free writes the queued groups
/// itself (syncing them, or handing them to the sync thread) until `lsn`
/// is durable (blocking callers only, never async ones, and not with
/// `max_delay`, whose waiting is the I/O thread's). If the lock is busy,
/// the holder will get to `lsn`. What is left is the thread's.
pub(crate) fn lead(shared: &Shared, lsn: Lsn, generation: u64) {
    if shared.options.max_delay.is_some() {
        shared.work.notify_one();
        return;
    }
    let mut io = match shared.io.try_lock() {
        Ok(io) => io,
        // Busy: the holder looks at the queue again when it is done.
        Err(std::sync::TryLockError::WouldBlock) => return,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
    };
    if let Some(state) = io.as_mut() {
        lead_with(shared, state, lsn, generation);
    }
    drop(io);
    if thread_has_work(shared) {
        shared.work.notify_one();
    }
}

/// [`lead`]'s work under the I/O lock: groups and syncs until `lsn` is
/// durable, leaving controls and closing to the I/O thread.
fn lead_with(shared: &Shared, state: &mut IoState, lsn: Lsn, generation: u64) {
    while shared.watermark.poison().is_none()
        && shared.watermark.durable() < lsn
        && shared.watermark.generation() == generation
    {
        let work = {
            let q = shared.lock();
            // Controls (and closing) are the I/O thread's.
            if !q.controls.is_empty() || q.closing {
                break;
            }
            drop(q);
            take_work(shared)
        };
        match work {
            Some(Work::Group(mut group)) => state.run_group(shared, &mut group, Runner::Appender),
            Some(Work::Sync) => state.run_sync(shared, Runner::Appender),
            // Not reached: controls were checked under the same lock
            // (the I/O lock keeps the thread from taking them, and
            // only it runs them); leave it to the thread.
            Some(Work::Control(c)) => {
                shared.lock().controls.push_front(c);
                break;
            }
            None => break,
        }
    }
}

/// Whether anything is left for the I/O thread after a leader let go:
/// requests queued behind it, a control, a close, or a sync owed.
fn thread_has_work(shared: &Shared) -> bool {
    let q = shared.lock();
    !q.requests.is_empty()
        || !q.controls.is_empty()
        || q.closing
        || sync_owed(q.sync_to, synced_or_submitted(shared, &q))
}
