//! [`Wal`]: an open log, and the readers it hands out.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use wal_commit::{Committer, Durability, Stats};
use wal_format::Lsn;
use wal_io::Storage;
use wal_reader::{
    DurableWatermark, OwnedRecord, ReadOptions, RecoveryReport, TailReader, WaitFuture,
};

use crate::error::{Error, Result};
use crate::options::WalOptions;
use crate::streams::Streams;

/// An open write-ahead log: appends from any number of threads and tasks,
/// reads, tails, truncation.
///
/// Open one with [`Wal::open`], which recovers the log first. All methods
/// take `&self`, and a `Wal` is a handle: [`Clone`] it to share the log
/// between threads and tasks (a clone costs a few reference counts and a
/// copy of the directory's path; every clone is the same log). The log
/// stays open until [`Wal::close`] is called on any clone, or the last
/// clone is dropped.
///
/// # LSNs of a running log
///
/// | call | what it returns |
/// |---|---|
/// | [`Wal::first_lsn`] | the oldest record the log holds: where a replay of everything starts |
/// | [`Wal::durable_lsn`] | the last durable record: readers ([`Wal::read_from`], tails) see up to it |
/// | [`Wal::last_lsn`] | the last record appended, durable or not yet (it is durable once [`Wal::durable_lsn`] reaches it) |
/// | [`Wal::next_lsn`] | the LSN the next append takes: [`Wal::last_lsn`] + 1 |
///
/// `first_lsn <= durable_lsn + 1` and `durable_lsn <= last_lsn`; a log
/// without records has `first_lsn == next_lsn`. Right after
/// [`Wal::open`], `last_lsn` and `durable_lsn` are the recovery report's
/// `last_lsn`.
#[derive(Clone, Debug)]
pub struct Wal {
    pub(crate) committer: Arc<Committer>,
    pub(crate) streams: Arc<Streams>,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) dir: PathBuf,
    shared: Arc<Shared>,
}

/// What every clone of a [`Wal`] shares besides the committer and the
/// streams.
#[derive(Debug)]
struct Shared {
    read: ReadOptions,
    /// Held while closing, so that a close on one clone waits for a close
    /// running on another to finish.
    closing: Mutex<()>,
}

impl Wal {
    /// Opens (creating it if the options allow) the log in `dir`: recovers
    /// it as the recovery mode says, then starts its I/O thread. Returns the
    /// log and what recovery found (last LSN, what was cut from a torn
    /// tail, any corruption skipped, time taken).
    ///
    /// Blocking: call it from a thread, or from `spawn_blocking` in async
    /// code.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] when recovery refuses the log (damage before
    /// the tail, naming segment, offset and LSNs); [`Error::Locked`] when
    /// another opener holds the directory; [`Error::MissingDir`],
    /// [`Error::Io`] when the directory cannot be opened;
    /// [`Error::InvalidOption`] for invalid options; [`Error::Other`] for a
    /// missing feature.
    pub fn open(dir: impl AsRef<Path>, options: &WalOptions) -> Result<(Wal, RecoveryReport)> {
        Self::open_inner(dir.as_ref(), options, None)
    }

    /// [`Wal::open`], handing every record recovery finds to `replay` on
    /// the way, in LSN order: one pass over the log to rebuild an
    /// application's state, instead of opening and then reading it all
    /// (see [`wal_reader::recover_with`] for what `replay` sees). If the
    /// open fails, `replay` may have seen the records before the failure.
    ///
    /// ```
    /// use groupwal::{Wal, WalOptions};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
    /// wal.append(b"one")?;
    /// wal.append(b"two")?;
    /// wal.close()?;
    ///
    /// let mut state = Vec::new();
    /// let (wal, report) = Wal::open_with(dir.path(), &WalOptions::new(), |record| {
    ///     state.push(record.payload.to_vec());
    /// })?;
    /// assert_eq!(state, [b"one".to_vec(), b"two".to_vec()]);
    /// assert_eq!(report.last_lsn.get(), 2);
    /// # wal.close()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Wal::open`]; also [`Error::MissingKey`] or [`Error::WrongKey`]
    /// when a payload cannot be decrypted, [`Error::Corruption`] when one
    /// does not authenticate or decompress.
    pub fn open_with(
        dir: impl AsRef<Path>,
        options: &WalOptions,
        mut replay: impl FnMut(wal_reader::LogRecord<'_>),
    ) -> Result<(Wal, RecoveryReport)> {
        Self::open_inner(dir.as_ref(), options, Some(&mut replay))
    }

    fn open_inner(
        dir: &Path,
        options: &WalOptions,
        mut replay: Option<&mut dyn FnMut(wal_reader::LogRecord<'_>)>,
    ) -> Result<(Wal, RecoveryReport)> {
        let dir = dir.to_path_buf();
        let read = options.read.clone();
        let storage = options.storage.clone();
        // One pass: recovery checks the log, rebuilds the streams' index
        // and hands the plain records to `replay`.
        let mut streams = Streams::new(options.rewrite_segments);
        // A stream record the index refuses stops recovery before it
        // changes anything (the open fails with the index's error).
        let mut invalid = None;
        let recovered = wal_reader::recover_checked(storage, &dir, &options.log, &read, |record| {
            if record.after_damage {
                streams.skipped_damage();
            }
            if let Err(e) = streams.replay(record.lsn, record.kind, record.payload) {
                invalid = Some(e);
                return false;
            }
            if record.kind != wal_format::LogicalKind::Stream
                && let Some(replay) = replay.as_mut()
            {
                replay(record);
            }
            true
        });
        let (log, report) = match (recovered, invalid) {
            (Err(wal_reader::Error::Refused { .. }), Some(e)) => return Err(e),
            (recovered, _) => recovered?,
        };
        // Copies whose originals are gone join at the end; a log whose
        // copies do not join is refused here, after recovery (a forged
        // log: no writer leaves one), unless damage was skipped.
        if !report.corrupt.is_empty() {
            streams.skipped_damage();
        }
        if let Err(e) = streams.finish_replay() {
            drop(log);
            return Err(e);
        }
        let committer = Committer::from_log(log, &options.commit)?;
        tracing::info!(
            dir = %dir.display(),
            last_lsn = %report.last_lsn,
            truncated = report.truncated_bytes,
            corrupt_ranges = report.corrupt.len(),
            "groupwal log opened"
        );
        Ok((
            Wal {
                committer: Arc::new(committer),
                streams: Arc::new(streams),
                storage: options.storage.clone(),
                dir,
                shared: Arc::new(Shared {
                    read,
                    closing: Mutex::new(()),
                }),
            },
            report,
        ))
    }

    /// The log directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and blocks until it is durable; returns its LSN.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::Poisoned`] after a failed write or
    /// sync, [`Error::Closed`].
    pub fn append(&self, payload: &[u8]) -> Result<Lsn> {
        // Noted before the append, so no reclamation runs past it; the
        // record's LSN is at least this.
        let plain = self.streams.plain_append();
        let r = self.committer.append(payload)?;
        plain.done(r);
        Ok(r)
    }

    /// Appends one record and waits, without blocking the thread, until it
    /// is durable. Usable from any executor; the I/O runs on the log's own
    /// thread.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub async fn append_async(&self, payload: &[u8]) -> Result<Lsn> {
        let plain = self.streams.plain_append();
        let r = self.committer.append_async(payload).await?;
        plain.done(r);
        Ok(r)
    }

    /// Queues one record and returns at once with its LSN in a handle to
    /// wait on ([`Pending::wait`] or [`Pending::wait_async`]). Blocks only
    /// while the in-flight bound is reached.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub fn submit(&self, payload: &[u8]) -> Result<Pending> {
        let plain = self.streams.plain_append();
        let r = self.committer.submit(payload)?;
        plain.done(r.lsn());
        Ok(Pending(r))
    }

    /// Appends one record without waiting for a sync, and without asking
    /// for one: it returns its LSN at once and the record is written with
    /// the next group. It becomes durable (and visible to [`Wal::read_from`]
    /// and tailing readers) only when a later sync covers it:
    /// [`Wal::sync`], a wait for its LSN, or any durable append after it.
    /// A crash can lose the unsynced records after the last sync; what
    /// recovery returns is still a gap-free prefix. For bulk loads and
    /// for callers that acknowledge at their own sync points.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`] (a failed write of an earlier group poisons the
    /// log and shows here or at the next sync).
    pub fn append_unsynced(&self, payload: &[u8]) -> Result<Lsn> {
        let plain = self.streams.plain_append();
        let r = self.committer.append_unsynced(payload)?;
        plain.done(r);
        Ok(r)
    }

    /// Makes every record appended so far durable, unsynced ones included;
    /// returns the durable LSN.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if a write or sync failed, [`Error::Closed`].
    pub fn sync(&self) -> Result<Lsn> {
        Ok(self.committer.sync()?)
    }

    /// Appends records as one atomic batch (after a crash all or none are
    /// there); blocks until durable; returns the first and last LSN.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBatch`] for an empty batch, and as [`Wal::append`].
    pub fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<(Lsn, Lsn)> {
        let plain = self.streams.plain_append();
        let r = self.committer.append_batch(payloads)?;
        plain.done(r.1);
        Ok(r)
    }

    /// The async form of [`Wal::append_batch`].
    ///
    /// # Errors
    ///
    /// As [`Wal::append_batch`].
    pub async fn append_batch_async<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<(Lsn, Lsn)> {
        let plain = self.streams.plain_append();
        let r = self.committer.append_batch_async(payloads).await?;
        plain.done(r.1);
        Ok(r)
    }

    /// Appends a checkpoint record (at most one fragment long); readers see
    /// it with `kind == LogicalKind::Checkpoint`. Blocks until durable.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub fn checkpoint(&self, payload: &[u8]) -> Result<Lsn> {
        let plain = self.streams.plain_append();
        let r = self.committer.checkpoint(payload)?;
        plain.done(r);
        Ok(r)
    }

    /// The LSN of the last durable record ([`Lsn::ZERO`] if none): the
    /// last one [`Wal::read_from`] and tails hand out now, and the last one
    /// a crash cannot lose. See [the table of a running log's
    /// LSNs](Wal#lsns-of-a-running-log).
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        self.committer.durable_lsn()
    }

    /// The LSN of the last record appended, durable or not yet
    /// ([`Lsn::ZERO`] if none): [`Wal::next_lsn`] − 1. An append that
    /// returned is durable, so with only durable appends this is
    /// [`Wal::durable_lsn`] once they returned; records from
    /// [`Wal::submit`] and [`Wal::append_unsynced`] count here at once,
    /// and in the durable LSN once a sync covers them. After a failed
    /// write or sync (the log is poisoned) the records above the durable
    /// LSN never become durable.
    #[must_use]
    pub fn last_lsn(&self) -> Lsn {
        self.next_lsn().saturating_sub(1)
    }

    /// The LSN the next append takes.
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.committer.next_lsn()
    }

    /// The oldest LSN the log still holds: where a replay of everything
    /// starts once [`Wal::purge_below`] removed segments
    /// (`read_from(wal.first_lsn())`). [`Wal::next_lsn`] for a log with
    /// no record.
    #[must_use]
    pub fn first_lsn(&self) -> Lsn {
        let next = self.next_lsn();
        self.segment_starts()
            .first()
            .map_or(next, |&first| first.min(next))
    }

    /// Blocks until `lsn` (already assigned) is durable.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for an LSN not assigned yet;
    /// [`Error::Poisoned`], [`Error::Closed`].
    pub fn wait_for(&self, lsn: Lsn) -> Result<Lsn> {
        Ok(self.committer.wait_for(lsn)?)
    }

    /// The async form of [`Wal::wait_for`].
    ///
    /// # Errors
    ///
    /// As [`Wal::wait_for`].
    pub async fn wait_for_async(&self, lsn: Lsn) -> Result<Lsn> {
        Ok(self.committer.wait_for_async(lsn).await?)
    }

    /// The durable records from `from` on, up to the durable LSN at the
    /// time each is reached, then the iterator ends. Streams in bounded
    /// memory. Blocking I/O: iterate from a thread. Stream records come
    /// too, as they are stored (kind [`crate::LogicalKind::Stream`], the
    /// payload starting with its [`crate::format::StreamHeader`]); read a
    /// stream with [`crate::Stream::read`].
    ///
    /// # Errors
    ///
    /// [`Error::Purged`] if `from` was purged; those of opening a reader
    /// ([`Error::Io`], [`Error::Corruption`], key errors).
    pub fn read_from(&self, from: Lsn) -> Result<Records> {
        Ok(Records {
            tail: self.tail(from)?,
        })
    }

    /// A reader that follows the log from `from`: it hands out records as
    /// they become durable, waiting for more (blocking) at the end, and
    /// survives rotation and purges of records it already passed.
    ///
    /// # Errors
    ///
    /// As [`Wal::read_from`].
    pub fn tail(&self, from: Lsn) -> Result<Tail> {
        let watermark: Arc<dyn DurableWatermark> =
            Arc::new(CommitDurability(self.committer.durability()));
        Ok(Tail {
            reader: TailReader::open(
                self.storage.clone(),
                &self.dir,
                from,
                &self.shared.read,
                watermark,
            )?,
        })
    }

    /// An async tail: a reader thread of its own follows the log from
    /// `from` and hands records over through a channel of `capacity`
    /// records, so no file I/O runs on the caller's executor. The thread
    /// stops when the receiver is dropped (after the next record or the
    /// log's close) or at the first error (which it delivers).
    ///
    /// # Errors
    ///
    /// As [`Wal::read_from`]; [`Error::InvalidOption`] for a zero capacity.
    pub fn tail_async(&self, from: Lsn, capacity: usize) -> Result<AsyncTail> {
        if capacity == 0 {
            return Err(Error::InvalidOption {
                name: "capacity",
                reason: "must be at least 1",
            });
        }
        let mut tail = self.tail(from)?;
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        std::thread::Builder::new()
            .name("groupwal-tail".into())
            .spawn(move || {
                loop {
                    let item = tail.reader.next_record().map(|r| r.to_owned_record());
                    let failed = item.is_err();
                    if tx.blocking_send(item).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(|e| wal_commit::Error::Thread(e.to_string()))?;
        Ok(AsyncTail { rx })
    }

    /// Removes whole segments whose records all lie below `lsn` (after a
    /// checkpoint made them unnecessary); returns how many. The segment
    /// being written stays; `lsn` is capped at the durable LSN + 1, and at
    /// the first live entry of any stream (streams purge their own entries:
    /// [`crate::Stream::purge_below`]). Blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] (a failed I/O operation poisons the log),
    /// [`Error::Closed`].
    pub fn purge_below(&self, lsn: Lsn) -> Result<usize> {
        self.streams.raise_plain_floor(lsn);
        self.reclaim(lsn)
    }

    /// Discards every record at or after `lsn` (a Raft follower overwriting
    /// a suffix) durably, after everything appended so far is durable;
    /// returns the LSN the next append gets. Blocking. Refused once the
    /// log holds streams (each is truncated on its own).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for an LSN past the next, or in a log with
    /// streams; [`Error::InsideBatch`] when `lsn` falls inside an atomic
    /// batch (nothing changes); [`Error::Poisoned`], [`Error::Closed`].
    pub fn truncate_from(&self, lsn: Lsn) -> Result<Lsn> {
        if self.streams.any() {
            return Err(Error::InvalidOption {
                name: "truncate_from",
                reason: "the log holds streams: truncate a stream instead (Stream::truncate_from)",
            });
        }
        Ok(self.committer.truncate_from(lsn)?)
    }

    /// Counters and latency percentiles since the log was opened.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.committer.stats()
    }

    /// [`Error::Poisoned`], with the failure that poisoned the log as its
    /// cause, if the log is poisoned.
    #[must_use]
    pub fn poisoned(&self) -> Option<Error> {
        self.committer.poisoned().map(Error::poisoned)
    }

    /// Closes the log for every clone: drains what is queued, syncs, stops
    /// the I/O thread, releases the directory. Every later call on any
    /// clone that writes or waits gets [`Error::Closed`];
    /// readers already open hand out what is durable and then end. Closing
    /// again (on any clone) waits for a close under way and returns what
    /// it returned, `Ok` or the error that poisoned the log.
    ///
    /// Dropping the last clone without closing does the same but cannot
    /// report errors and waits at most a few seconds.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if the log is poisoned.
    pub fn close(&self) -> Result<()> {
        let _closing = self
            .shared
            .closing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.committer.close()?;
        match self.committer.poisoned() {
            Some(e) => Err(Error::poisoned(e)),
            None => Ok(()),
        }
    }
}

/// A record queued by [`Wal::submit`]: its LSN now, its durability to
/// wait for.
#[derive(Debug)]
pub struct Pending(wal_commit::Pending);

impl Pending {
    /// The LSN the record got (not yet durable).
    #[must_use]
    pub fn lsn(&self) -> Lsn {
        self.0.lsn()
    }

    /// Blocks until the record is durable; returns its LSN. (If a suffix
    /// truncation cut the record since, it was durable before the cut and
    /// this returns `Ok`.)
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if its group failed, [`Error::Closed`].
    pub fn wait(self) -> Result<Lsn> {
        Ok(self.0.wait()?)
    }

    /// Waits, without blocking the thread, until the record is durable.
    ///
    /// # Errors
    ///
    /// As [`Pending::wait`].
    pub async fn wait_async(self) -> Result<Lsn> {
        Ok(self.0.wait_async().await?)
    }

    /// Calls `callback` once the record is durable, with what
    /// [`Pending::wait`] would have returned, without a thread or task
    /// waiting meanwhile; with the error if a write or sync fails first or
    /// the log is closed. Called exactly once.
    ///
    /// It runs on the log's own thread, right after the sync that covers
    /// the record (or at once on this thread if that is decided already):
    /// it must be quick and must not block, nor call anything of the log
    /// that waits. See [`wal_commit::Pending::on_durable`].
    pub fn on_durable(self, callback: impl FnOnce(Result<Lsn>) + Send + 'static) {
        self.0.on_durable(move |r| callback(r.map_err(Error::from)));
    }
}

/// The committer's durable LSN as the reader layer wants it told.
struct CommitDurability(Durability);

impl DurableWatermark for CommitDurability {
    fn durable_lsn(&self) -> Lsn {
        self.0.durable_lsn()
    }

    fn wait_past(&self, lsn: Lsn) -> wal_reader::Result<Lsn> {
        self.0.wait_past(lsn).map_err(closed)
    }

    fn wait_past_async(&self, lsn: Lsn) -> WaitFuture<'_> {
        Box::pin(async move { self.0.wait_past_async(lsn).await.map_err(closed) })
    }
}

/// A writer that stopped (closed, or poisoned) is a closed writer to a
/// reader; the cause is logged.
fn closed(e: wal_commit::Error) -> wal_reader::Error {
    if !matches!(e, wal_commit::Error::Closed) {
        tracing::warn!(error = %e, "the log's writer stopped");
    }
    wal_reader::Error::Closed
}

/// The durable records of a log from some LSN on: see [`Wal::read_from`].
#[derive(Debug)]
pub struct Records {
    tail: Tail,
}

impl Iterator for Records {
    type Item = Result<OwnedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.tail.reader.try_next() {
            Ok(Some(r)) => Some(Ok(r.to_owned_record())),
            Ok(None) => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}

/// A reader following a live log: see [`Wal::tail`].
#[derive(Debug)]
pub struct Tail {
    reader: TailReader,
}

impl Tail {
    /// The LSN of the next record it hands out.
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.reader.next_lsn()
    }

    /// The next record, blocking until it is durable.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the log is closed and every durable record
    /// was read; [`Error::Purged`] if the next record was purged
    /// meanwhile; [`Error::Corruption`].
    pub fn next_record(&mut self) -> Result<OwnedRecord> {
        Ok(self.reader.next_record()?.to_owned_record())
    }

    /// The next record if it is durable already (never waits).
    ///
    /// # Errors
    ///
    /// As [`Tail::next_record`].
    pub fn try_next(&mut self) -> Result<Option<OwnedRecord>> {
        Ok(self.reader.try_next()?.map(|r| r.to_owned_record()))
    }
}

/// The records as they become durable, blocking for each; the iterator
/// ends once the log is closed and every durable record was handed out
/// (the first other error is its last item).
impl Iterator for Tail {
    type Item = Result<OwnedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.next_record() {
            Ok(r) => Some(Ok(r.to_owned_record())),
            Err(wal_reader::Error::Closed) => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}

/// An async tail: see [`Wal::tail_async`].
#[derive(Debug)]
pub struct AsyncTail {
    rx: tokio::sync::mpsc::Receiver<wal_reader::Result<OwnedRecord>>,
}

impl AsyncTail {
    /// The next record once durable; `None` after the reader thread ended
    /// (its last item was the error that ended it:
    /// [`Error::Closed`] once the log was closed and every
    /// durable record handed out).
    pub async fn recv(&mut self) -> Option<Result<OwnedRecord>> {
        self.rx.recv().await.map(|r| r.map_err(Into::into))
    }
}

/// The records as they become durable (feature `futures-core`); like
/// [`Tail`]'s iterator, the stream ends once the log is closed and every
/// durable record was handed out (the first other error is its last
/// item).
#[cfg(feature = "futures-core")]
impl futures_core::Stream for AsyncTail {
    type Item = Result<OwnedRecord>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|item| match item {
            Some(Err(wal_reader::Error::Closed)) | None => None,
            Some(r) => Some(r.map_err(Into::into)),
        })
    }
}
