//! The durable watermark: appenders wait until it passes their LSN, from a
//! thread (a futex word) or from any async executor (`Notify`, which needs
//! no runtime).
//!
//! A blocked thread sleeps on `epoch`, which every change of state bumps
//! after making the change; it reads the epoch, then checks the state, and
//! sleeps only if the epoch is still the one it read, so no change is
//! missed. Unlike a condition variable, a woken thread takes no lock on
//! its way out: with a condition variable, the 64 waiters a sync
//! acknowledged woke one after another, each handing the condition
//! variable's mutex to the next (`docs/PERFORMANCE.md`). With
//! [`crate::CommitOptions::wait_yields`] it first yields its CPU a few
//! times while the epoch stays the same, and sleeps only after.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::Notify;
use wal_format::Lsn;

use crate::callbacks::{Callback, Callbacks, Readiness};
use crate::error::{Error, Result};

/// The highest durable LSN and the poison, with both kinds of waiters.
#[derive(Debug, Default)]
pub(crate) struct Watermark {
    durable: AtomicU64,
    poison: OnceLock<Arc<Error>>,
    /// The I/O thread has stopped: nothing more becomes durable.
    closed: AtomicBool,
    /// Bumped by every suffix truncation. A waiter from an earlier
    /// generation is done: a truncation first waits until every LSN
    /// assigned so far is durable, so its record was durable before it
    /// was cut (as its caller asked), and its LSN may now name another
    /// record.
    generation: AtomicU64,
    /// Makes the first poison's `on_first` and its setting one step.
    lock: Mutex<()>,
    /// Bumped after every change of state; blocked waiters sleep on it.
    epoch: AtomicU32,
    /// How many times a blocked thread yields while the epoch stays the
    /// same before it sleeps ([`crate::CommitOptions::wait_yields`]).
    yields: u32,
    notify: Notify,
    /// Run when records become durable ([`crate::Pending::on_durable`]).
    callbacks: Callbacks,
}

impl Watermark {
    /// A watermark at `durable`, whose blocked waiters yield `yields`
    /// times before they sleep.
    pub(crate) fn new(durable: Lsn, yields: u32) -> Self {
        Watermark {
            durable: AtomicU64::new(durable.get()),
            yields,
            ..Default::default()
        }
    }

    pub(crate) fn durable(&self) -> Lsn {
        Lsn::new(self.durable.load(Ordering::Acquire))
    }

    pub(crate) fn poison(&self) -> Option<&Arc<Error>> {
        self.poison.get()
    }

    /// The poison as an error for a caller.
    pub(crate) fn poisoned(&self) -> Option<Error> {
        self.poison
            .get()
            .map(|cause| Error::Poisoned(cause.clone()))
    }

    /// Raises the watermark and wakes every waiter.
    pub(crate) fn publish(&self, durable: Lsn) {
        self.durable.fetch_max(durable.get(), Ordering::SeqCst);
        self.changed();
    }

    /// After a change of state: wakes every blocked thread, every async
    /// waiter, and runs the callbacks the change made ready.
    fn changed(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        atomic_wait::wake_all(&self.epoch);
        self.notify.notify_waiters();
        self.run_callbacks();
    }

    /// Blocks until `decided` returns a value: read the epoch, check, and
    /// sleep only while the epoch is the one read before the check (after
    /// yielding up to `yields` times while it is).
    fn block_until<T>(&self, mut decided: impl FnMut() -> Option<T>) -> T {
        loop {
            let epoch = self.epoch.load(Ordering::SeqCst);
            if let Some(r) = decided() {
                return r;
            }
            if self.yielded_past(epoch) {
                continue;
            }
            atomic_wait::wait(&self.epoch, epoch);
        }
    }

    /// How many times a blocked thread yields before it sleeps.
    #[cfg(test)]
    pub(crate) fn yields(&self) -> u32 {
        self.yields
    }

    /// Yields the CPU up to `yields` times while the epoch is `epoch`;
    /// whether it moved.
    fn yielded_past(&self, epoch: u32) -> bool {
        for _ in 0..self.yields {
            if self.epoch.load(Ordering::SeqCst) != epoch {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    /// The current truncation generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// After a suffix truncation: sets the watermark to `durable` (down as
    /// well as up) and starts a new generation. Takes no lock (the caller
    /// may hold the queue's); call [`Watermark::wake_all`] afterwards.
    pub(crate) fn reset(&self, durable: Lsn) {
        self.durable.store(durable.get(), Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Marks the log closed (nothing more will become durable) and wakes
    /// every waiter.
    pub(crate) fn set_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.changed();
    }

    /// Records the first failure (later ones are consequences) and wakes
    /// every waiter. `on_first` runs for the first one only, before any
    /// waiter can see it (so what it counts is counted by the time a
    /// caller gets the error).
    pub(crate) fn set_poison(&self, cause: Error, on_first: impl FnOnce()) -> bool {
        let first = {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            let first = self.poison.get().is_none();
            if first {
                on_first();
                let _ = self.poison.set(Arc::new(cause));
            }
            first
        };
        self.changed();
        first
    }

    /// Wakes every waiter without a change (for space waiters; after a
    /// truncation's [`Watermark::reset`]).
    pub(crate) fn wake_all(&self) {
        self.changed();
    }

    /// Calls `callback` once `lsn` (assigned in truncation generation
    /// `generation`) is durable, with what [`Watermark::wait`] would
    /// return: at once, on this thread, if it is already decided; else on
    /// the thread that decides it.
    pub(crate) fn on_durable(&self, lsn: Lsn, generation: u64, callback: Callback) {
        self.callbacks.register(lsn, generation, callback);
        // Pairs with the fence in `Callbacks::any` after a publish: this
        // thread sees the new state, or the publisher sees the callback.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.callbacks
            .run(|| self.readiness(), |l, g| self.outcome(l, g));
    }

    /// Runs the callbacks a change of state made ready (nothing but a
    /// fence and a load when none is registered).
    fn run_callbacks(&self) {
        if self.callbacks.any() {
            self.callbacks
                .run(|| self.readiness(), |l, g| self.outcome(l, g));
        }
    }

    fn readiness(&self) -> Readiness {
        // The terminal flags first: a close publishes what it synced
        // before it sets `closed`, so the durable LSN read after them is
        // final.
        let terminal = self.poison.get().is_some() || self.closed.load(Ordering::Acquire);
        // A truncation lowers the durable LSN, then starts a new
        // generation: a durable LSN read within one generation belongs to
        // it (or is the lowered one, below which every record is durable).
        loop {
            let generation = self.generation();
            let durable = self.durable();
            if self.generation() == generation {
                return Readiness {
                    durable,
                    generation,
                    terminal,
                };
            }
        }
    }

    /// A callback's outcome, as [`Watermark::check`] decides it (`None`:
    /// not yet).
    fn outcome(&self, lsn: Lsn, generation: u64) -> Option<Result<Lsn>> {
        self.check(lsn, generation)
    }

    fn check(&self, lsn: Lsn, generation: u64) -> Option<Result<Lsn>> {
        if self.durable() >= lsn || self.generation() != generation {
            return Some(Ok(lsn));
        }
        if let Some(e) = self.poisoned() {
            return Some(Err(e));
        }
        self.closed
            .load(Ordering::Acquire)
            .then_some(Err(Error::Closed))
    }

    /// Blocks until `lsn` is durable, or the log is poisoned or closed.
    /// `generation` is the truncation generation `lsn` was assigned in.
    pub(crate) fn wait(&self, lsn: Lsn, generation: u64) -> Result<Lsn> {
        self.block_until(|| self.check(lsn, generation))
    }

    /// Waits, without blocking a thread, until `lsn` is durable or the log
    /// is poisoned.
    pub(crate) async fn wait_async(&self, lsn: Lsn, generation: u64) -> Result<Lsn> {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Register before checking, so a publish in between is not lost.
            notified.as_mut().enable();
            if let Some(r) = self.check(lsn, generation) {
                return r;
            }
            notified.await;
        }
    }

    fn check_past(&self, lsn: Lsn) -> Option<Result<Lsn>> {
        let durable = self.durable();
        if durable > lsn {
            return Some(Ok(durable));
        }
        if let Some(e) = self.poisoned() {
            return Some(Err(e));
        }
        self.closed
            .load(Ordering::Acquire)
            .then_some(Err(Error::Closed))
    }

    /// Blocks until the watermark is above `lsn` (whatever the generation);
    /// returns it. For readers following the log.
    pub(crate) fn wait_past(&self, lsn: Lsn) -> Result<Lsn> {
        self.block_until(|| self.check_past(lsn))
    }

    /// The async form of [`Watermark::wait_past`].
    pub(crate) async fn wait_past_async(&self, lsn: Lsn) -> Result<Lsn> {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.check_past(lsn) {
                return r;
            }
            notified.await;
        }
    }

    /// Blocks until `ready()` holds (checked again after every publish
    /// and wake: whoever changes what it reads calls
    /// [`Watermark::wake_all`] after the change), or the log is poisoned.
    pub(crate) fn wait_until(&self, mut ready: impl FnMut() -> bool) -> Result<()> {
        self.block_until(|| match self.poisoned() {
            Some(e) => Some(Err(e)),
            None => ready().then_some(Ok(())),
        })
    }

    /// The async form of [`Watermark::wait_until`].
    pub(crate) async fn wait_until_async(&self, mut ready: impl FnMut() -> bool) -> Result<()> {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(e) = self.poisoned() {
                return Err(e);
            }
            if ready() {
                return Ok(());
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waiters_see_publishes_and_poison() {
        for yields in [0, 16] {
            waiters_see_publishes_and_poison_yielding(yields);
        }
    }

    fn waiters_see_publishes_and_poison_yielding(yields: u32) {
        let w = Arc::new(Watermark::new(Lsn::new(3), yields));
        assert_eq!(w.wait(Lsn::new(2), 0).unwrap(), Lsn::new(2));
        let waiter = {
            let w = w.clone();
            std::thread::spawn(move || w.wait(Lsn::new(10), 0))
        };
        w.publish(Lsn::new(10));
        assert_eq!(waiter.join().unwrap().unwrap(), Lsn::new(10));
        // The watermark never goes down.
        w.publish(Lsn::new(5));
        assert_eq!(w.durable(), Lsn::new(10));

        let waiter = {
            let w = w.clone();
            std::thread::spawn(move || w.wait(Lsn::new(11), 0))
        };
        w.set_poison(Error::Closed, || {});
        assert!(matches!(waiter.join().unwrap(), Err(Error::Poisoned(_))));
        // What was durable before stays acknowledged.
        assert_eq!(w.wait(Lsn::new(10), 0).unwrap(), Lsn::new(10));
    }

    /// A waiter that yields goes to sleep once its yields are spent while
    /// nothing changes, and stops yielding as soon as something does.
    #[test]
    fn yielding_ends_at_a_change_or_after_its_yields() {
        let w = Watermark::new(Lsn::ZERO, 8);
        let epoch = w.epoch.load(Ordering::SeqCst);
        assert!(!w.yielded_past(epoch), "nothing changed: sleep");
        w.publish(Lsn::new(1));
        assert!(w.yielded_past(epoch), "the epoch moved");
        let none = Watermark::new(Lsn::ZERO, 0);
        assert!(
            !none.yielded_past(epoch.wrapping_add(1)),
            "no yields: sleep at once"
        );
    }

    #[test]
    fn async_waiters_need_no_runtime_of_ours() {
        let w = Arc::new(Watermark::new(Lsn::ZERO, 0));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let task = {
            let w = w.clone();
            std::thread::spawn(move || rt.block_on(w.wait_async(Lsn::new(4), 0)))
        };
        // Publish repeatedly: a publish before the waiter registers is seen
        // by its check, one after it by the notification.
        for i in 1..=4 {
            w.publish(Lsn::new(i));
        }
        assert_eq!(task.join().unwrap().unwrap(), Lsn::new(4));
    }
}
