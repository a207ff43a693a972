//! Callbacks run when a record becomes durable ([`crate::Pending::on_durable`]):
//! the acknowledgement without a thread or task parked per append.
//!
//! The queue lives with the durable watermark ([`crate::watermark`]): every
//! change of the watermark's state (a publish after a sync, a poison, the
//! close, a truncation's new generation) runs the callbacks it made ready,
//! in LSN order, on the thread that made the change. When none is
//! registered that costs one fence and one atomic load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use wal_format::Lsn;

use crate::error::{Error, Result};

/// A callback: told the record's LSN once it is durable, or the error that
/// means it never will be.
pub(crate) type Callback = Box<dyn FnOnce(Result<Lsn>) + Send>;

/// Registered callbacks, keyed by (truncation generation, LSN, arrival):
/// those of earlier generations first (a truncation made every record
/// assigned before it durable), then by LSN.
#[derive(Default)]
pub(crate) struct Callbacks {
    /// How many are queued: the publishers' fast path skips the lock at 0.
    queued: AtomicUsize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    queue: BTreeMap<(u64, u64, u64), (Lsn, Callback)>,
    /// Arrival order among callbacks for the same LSN.
    seq: u64,
    /// Someone is running callbacks: others leave the new ready ones to
    /// it, so they run one at a time, in order.
    running: bool,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What decides whether a callback is ready, read from the watermark.
pub(crate) struct Readiness {
    pub(crate) durable: Lsn,
    pub(crate) generation: u64,
    /// Poisoned or closed: nothing more becomes durable, every callback
    /// is ready (with an error unless its record was durable before).
    pub(crate) terminal: bool,
}

impl Callbacks {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `callback` for the record at `lsn` of truncation generation
    /// `generation`. Run [`Callbacks::run`] afterwards: it may be ready
    /// already.
    pub(crate) fn register(&self, lsn: Lsn, generation: u64, callback: Callback) {
        let mut inner = self.lock();
        inner.seq += 1;
        let key = (generation, lsn.get(), inner.seq);
        inner.queue.insert(key, (lsn, callback));
        self.queued.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether any callback is queued. Call after the change of state
    /// that may make some ready; the fence pairs with the one in
    /// [`Callbacks::run`]'s caller after [`Callbacks::register`], so a
    /// callback is never left queued once ready: either the registrant
    /// sees the new state, or the one who changed it sees the callback.
    pub(crate) fn any(&self) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.queued.load(Ordering::SeqCst) > 0
    }

    /// Runs every callback that is ready, in order, until none is left
    /// ready; `state` reads the watermark and `outcome` gives a callback
    /// its outcome (`None`: not decided after all; it stays queued). If
    /// another thread is running callbacks, leaves them to it (it looks
    /// again before it stops).
    pub(crate) fn run(
        &self,
        state: impl Fn() -> Readiness,
        outcome: impl Fn(Lsn, u64) -> Option<Result<Lsn>>,
    ) {
        let mut inner = self.lock();
        if inner.running {
            return;
        }
        loop {
            let now = state();
            let rest = if now.terminal {
                BTreeMap::new()
            } else {
                // Everything before (current generation, durable, MAX):
                // earlier generations, and LSNs up to the durable one.
                inner
                    .queue
                    .split_off(&(now.generation, now.durable.get(), u64::MAX))
            };
            let candidates = std::mem::replace(&mut inner.queue, rest);
            // Outcomes are decided under the lock, in order.
            let mut ready: Vec<(Result<Lsn>, Callback)> = Vec::with_capacity(candidates.len());
            for (key, (lsn, cb)) in candidates {
                match outcome(lsn, key.0) {
                    Some(result) => ready.push((result, cb)),
                    None => {
                        inner.queue.insert(key, (lsn, cb));
                    }
                }
            }
            if ready.is_empty() {
                inner.running = false;
                return;
            }
            inner.running = true;
            self.queued.fetch_sub(ready.len(), Ordering::SeqCst);
            drop(inner);
            for (result, cb) in ready {
                call(cb, result);
            }
            inner = self.lock();
        }
    }
}

impl Drop for Callbacks {
    /// Never dropped uncalled: whatever is still queued when the log is
    /// gone is told it is closed.
    fn drop(&mut self) {
        let queue = std::mem::take(
            &mut self
                .inner
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .queue,
        );
        for (_, (_, cb)) in queue {
            call(cb, Err(Error::Closed));
        }
    }
}

/// Runs one callback; a panic in it is reported and goes no further (it
/// would otherwise stop the log's thread).
fn call(cb: Callback, outcome: Result<Lsn>) {
    let run = std::panic::AssertUnwindSafe(move || cb(outcome));
    if std::panic::catch_unwind(run).is_err() {
        tracing::error!("an on_durable callback panicked");
    }
}
