//! Tailing a live log: [`TailReader`] follows new records as they become
//! durable, told by a [`DurableWatermark`].

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use tokio::sync::Notify;
use wal_format::Lsn;
use wal_io::Storage;

use crate::error::{Error, Result};
use crate::options::ReadOptions;
use crate::reader::{LogReader, LogRecord};

/// A boxed future, as returned by [`DurableWatermark::wait_past_async`].
pub type WaitFuture<'a> = Pin<Box<dyn Future<Output = Result<Lsn>> + Send + 'a>>;

/// The source of a live log's durable watermark: the highest LSN whose
/// record is durable. The writer implements it (the `groupwal` facade with
/// its committer's watermark); [`Watermark`] is a ready-made one.
pub trait DurableWatermark: Send + Sync {
    /// The highest durable LSN ([`Lsn::ZERO`]: none yet).
    fn durable_lsn(&self) -> Lsn;

    /// Blocks until the durable LSN is above `lsn`; returns it.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the writer goes away first.
    fn wait_past(&self, lsn: Lsn) -> Result<Lsn>;

    /// Waits, without blocking the thread, until the durable LSN is above
    /// `lsn`; returns it.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the writer goes away first.
    fn wait_past_async(&self, lsn: Lsn) -> WaitFuture<'_>;
}

#[derive(Debug, Default)]
struct State {
    durable: Lsn,
    closed: bool,
}

/// A durable watermark a writer publishes to and tailers wait on, from
/// threads (a condition variable) or from any async executor (tokio's
/// runtime-free `Notify`).
///
/// ```
/// use wal_format::Lsn;
/// use wal_reader::{DurableWatermark, Watermark};
/// let mark = Watermark::new(Lsn::ZERO);
/// mark.publish(Lsn::new(5));
/// assert_eq!(mark.wait_past(Lsn::new(4)).unwrap(), Lsn::new(5));
/// ```
#[derive(Debug, Default)]
pub struct Watermark {
    state: Mutex<State>,
    cond: Condvar,
    notify: Notify,
}

impl Watermark {
    /// A watermark at `durable`.
    #[must_use]
    pub fn new(durable: Lsn) -> Self {
        Watermark {
            state: Mutex::new(State {
                durable,
                closed: false,
            }),
            ..Default::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Raises the watermark to `durable` (never lowers it) and wakes the
    /// waiters.
    pub fn publish(&self, durable: Lsn) {
        {
            let mut state = self.lock();
            state.durable = state.durable.max(durable);
        }
        self.cond.notify_all();
        self.notify.notify_waiters();
    }

    /// Marks the writer gone: waiters get [`Error::Closed`] (once they have
    /// read everything durable).
    pub fn close(&self) {
        self.lock().closed = true;
        self.cond.notify_all();
        self.notify.notify_waiters();
    }

    fn check(&self, lsn: Lsn) -> Option<Result<Lsn>> {
        let state = self.lock();
        if state.durable > lsn {
            Some(Ok(state.durable))
        } else if state.closed {
            Some(Err(Error::Closed))
        } else {
            None
        }
    }
}

impl DurableWatermark for Watermark {
    fn durable_lsn(&self) -> Lsn {
        self.lock().durable
    }

    fn wait_past(&self, lsn: Lsn) -> Result<Lsn> {
        let mut state = self.lock();
        loop {
            if state.durable > lsn {
                return Ok(state.durable);
            }
            if state.closed {
                return Err(Error::Closed);
            }
            state = self
                .cond
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn wait_past_async(&self, lsn: Lsn) -> WaitFuture<'_> {
        Box::pin(async move {
            loop {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                // Register before checking, so a publish in between wakes us.
                notified.as_mut().enable();
                if let Some(out) = self.check(lsn) {
                    return out;
                }
                notified.await;
            }
        })
    }
}

/// Follows a live log: yields every record from a starting LSN on, in
/// order, as it becomes durable, waiting (blocking or async) for more.
///
/// It sees only durable records: it never reads past the
/// [`DurableWatermark`]. It follows rotations (it lists the directory again
/// when a segment ends) and fails with [`Error::Purged`] if the records it
/// needs were purged. It takes no lock on the log.
///
/// **I/O and executors.** [`TailReader::next_record`] blocks the calling
/// thread, and there is deliberately no async form that reads: file reads
/// never run on an executor. wal-reader starts no thread for this (its
/// only thread is the read-ahead, which blocks its reader too); async callers
/// use `groupwal::Wal::tail_async` (a reader thread feeding a channel) or
/// run the blocking form on a thread of their own.
///
/// ```
/// use std::sync::Arc;
/// use wal_format::Lsn;
/// use wal_reader::{ReadOptions, TailReader, Watermark};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let storage: Arc<dyn wal_io::Storage> = Arc::new(wal_io::FileStorage::new());
/// # let (segments, _) = wal_reader::recover(storage.clone(), dir.path(), &wal_io::LogOptions::new(), &ReadOptions::new())?;
/// # let log = wal_commit::Committer::from_log(segments, &wal_commit::CommitOptions::new())?;
/// let mark = Arc::new(Watermark::new(Lsn::ZERO));
/// let mut tail = TailReader::open(storage, dir.path(), Lsn::FIRST, &ReadOptions::new(), mark.clone())?;
/// let lsn = log.append(b"hello")?;
/// mark.publish(lsn); // the writer publishes what is durable
/// assert_eq!(tail.next_record()?.payload, b"hello");
/// # log.close()?;
/// # Ok(())
/// # }
/// ```
pub struct TailReader {
    reader: LogReader,
    watermark: Arc<dyn DurableWatermark>,
    /// The LSN of the next record to hand out.
    next: Lsn,
}

impl std::fmt::Debug for TailReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailReader")
            .field("dir", &self.reader.dir())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl TailReader {
    /// A tailer of the log in `dir` whose first record is `from` (at least
    /// [`Lsn::FIRST`]).
    ///
    /// # Errors
    ///
    /// [`Error::Purged`] if `from` is older than the log's oldest segment;
    /// those of [`LogReader::open`].
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: impl Into<PathBuf>,
        from: Lsn,
        options: &ReadOptions,
        watermark: Arc<dyn DurableWatermark>,
    ) -> Result<TailReader> {
        let from = from.max(Lsn::FIRST);
        let mut reader = LogReader::open(storage, dir, options)?;
        reader.walker.live.limit = Some(watermark.durable_lsn());
        reader.seek(from)?;
        Ok(TailReader {
            reader,
            watermark,
            next: from,
        })
    }

    /// The LSN of the next record this tailer hands out.
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.next
    }

    /// The next record if it is durable already, else `None` (never
    /// waits).
    ///
    /// # Errors
    ///
    /// [`Error::Purged`], [`Error::Missing`], [`Error::Corruption`], and
    /// those of [`LogReader::next_record`].
    pub fn try_next(&mut self) -> Result<Option<LogRecord<'_>>> {
        self.reader.walker.live.limit = Some(self.watermark.durable_lsn());
        match self.reader.next_decoded()? {
            Some((found, decoded)) => {
                self.next = found.lsn.checked_next().unwrap_or(Lsn::MAX);
                Ok(Some(self.reader.view(found, decoded)))
            }
            None => Ok(None),
        }
    }

    /// The next record, waiting (blocking the thread) until it is durable.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the writer is gone and every durable record
    /// was read; those of [`TailReader::try_next`].
    pub fn next_record(&mut self) -> Result<LogRecord<'_>> {
        loop {
            let durable = self.watermark.durable_lsn();
            self.reader.walker.live.limit = Some(durable);
            if let Some((found, decoded)) = self.reader.next_decoded()? {
                self.next = found.lsn.checked_next().unwrap_or(Lsn::MAX);
                return Ok(self.reader.view(found, decoded));
            }
            self.wait_after(durable)?;
        }
    }

    fn wait_after(&self, durable: Lsn) -> Result<()> {
        // Wait for more than what was looked at (at least the next LSN).
        let past = durable.max(self.next.checked_prev().unwrap_or(Lsn::ZERO));
        self.watermark.wait_past(past).map(drop)
    }
}
