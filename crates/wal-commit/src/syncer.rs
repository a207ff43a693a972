//! The sync thread: syncs written groups while the I/O thread writes the
//! next ones.
//!
//! Without it, one thread writes a group and then waits for its sync, so a
//! group's cycle is the write (the copy into the page cache: most of it for
//! large records) plus the sync. With it, the I/O thread hands each written
//! group that must be synced to this thread ([`Syncer::submit`]) and goes
//! on writing; this thread syncs the segment file and acknowledges every
//! group written before the sync began. One sync is in flight at a time:
//! the groups written while it runs are covered by the next one, which
//! starts as soon as it returns.
//!
//! Only an acknowledgement moves: the commit marker at the start of each
//! group still carries the LSN through which the log was durable when the
//! group was written, so evidence on disk never claims more than a sync
//! that returned (`docs/FORMAT.md`, "Evidence of durability").

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use wal_format::Lsn;
use wal_io::SyncHandle;

/// A written group (or a plain sync request) waiting for a sync.
#[derive(Debug)]
pub(crate) struct Unsynced {
    /// The last LSN the group wrote: durable once the sync returns.
    pub(crate) last: Lsn,
    /// When each of its requests was queued (for the append latency).
    pub(crate) enqueued: Vec<Instant>,
    /// How many of its requests wait for the sync.
    pub(crate) acked: usize,
}

/// What one sync did, handed to the completion callback.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) result: wal_io::Result<()>,
    /// When it began.
    pub(crate) started: Instant,
    /// When it returned.
    pub(crate) at: Instant,
    /// The groups it covers, in LSN order.
    pub(crate) covered: Vec<Unsynced>,
}

/// Groups written and not yet covered by a sync that began.
#[derive(Debug)]
struct Batch {
    /// The segment the newest of them was written to. A group in an
    /// earlier segment was synced by the log when it rotated away from it.
    target: SyncHandle,
    groups: Vec<Unsynced>,
}

#[derive(Debug, Default)]
struct State {
    pending: Option<Batch>,
    /// A sync is running.
    busy: bool,
    /// A sync failed: nothing more is synced (the log is poisoned).
    failed: bool,
    stop: bool,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    cond: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sync thread; stopped (after its last sync) when dropped.
#[derive(Debug)]
pub(crate) struct Syncer {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts the thread. `before` runs on it when a group is waiting,
    /// before the sync starts (it may wait a little for more); `done` runs
    /// after every sync, before the next one starts; after a failed one,
    /// nothing more is synced.
    pub(crate) fn start(
        before: impl Fn() + Send + 'static,
        done: impl Fn(Done) + Send + 'static,
    ) -> std::io::Result<Syncer> {
        let inner = Arc::new(Inner::default());
        let thread_inner = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("groupwal-sync".into())
            .spawn(move || run(&thread_inner, &before, &done))?;
        Ok(Syncer {
            inner,
            thread: Some(thread),
        })
    }

    /// Hands over a group written to the segment `handle` syncs: it is
    /// acknowledged by the first sync that starts after this call.
    pub(crate) fn submit(&self, handle: SyncHandle, group: Unsynced) {
        let mut state = self.inner.lock();
        match &mut state.pending {
            Some(batch) => {
                batch.target = handle;
                batch.groups.push(group);
            }
            None => {
                state.pending = Some(Batch {
                    target: handle,
                    groups: vec![group],
                });
            }
        }
        drop(state);
        self.inner.cond.notify_all();
    }

    /// Waits until every group handed over was synced (or a sync failed).
    /// Call before anything that changes the log's files or LSNs other than
    /// an append, so no sync runs under it or acknowledges across it.
    pub(crate) fn drain(&self) {
        let mut state = self.inner.lock();
        while (state.busy || state.pending.is_some()) && !state.failed && !state.stop {
            state = self
                .inner
                .cond
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.inner.lock().stop = true;
        self.inner.cond.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(inner: &Inner, before: &dyn Fn(), done: &dyn Fn(Done)) {
    loop {
        {
            let mut state = inner.lock();
            // Groups handed over before a stop are still synced.
            while state.pending.is_none() && !state.stop {
                state = inner
                    .cond
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.pending.is_none() {
                return;
            }
            // Busy from here: a drain also waits for the groups handed
            // over while `before` waits.
            state.busy = true;
        }
        before();
        let batch = {
            let mut state = inner.lock();
            match state.pending.take() {
                Some(batch) => batch,
                // Not reached: only this thread takes the batch.
                None => {
                    state.busy = false;
                    continue;
                }
            }
        };
        let started = Instant::now();
        let result = batch.target.sync();
        let failed = result.is_err();
        done(Done {
            result,
            started,
            at: Instant::now(),
            covered: batch.groups,
        });
        let mut state = inner.lock();
        state.busy = false;
        if failed {
            state.failed = true;
            state.pending = None;
        }
        drop(state);
        inner.cond.notify_all();
        if failed {
            return;
        }
    }
}
