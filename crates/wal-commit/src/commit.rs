//! The committer's API and admission: appenders take LSNs and queue
//! requests under the queue lock, waiting for room while the in-flight
//! bound is reached; blocking ones then try to lead ([`lead`]).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wal_crypto::PayloadEncoder;
use wal_format::{LogicalKind, Lsn};
use wal_io::{SegmentLog, SyncMode};

use crate::encrypt::Encryption;
use crate::error::{Error, Result};
use crate::group::{IoState, from_io, start_syncer};
use crate::io_thread::{self, IoThread, lead};
use crate::metrics::Metrics;
use crate::options::CommitOptions;
use crate::prepare::{self, PrepareThread};
use crate::queue::{Ack, Framing, Queue, Request, SegmentFit, Shared};
use crate::records::{PACK_MAX_RECORD, Packed, RequestRecords};
use crate::scheduler::gather_may_end;
use crate::stats::{Counters, Stats};
use crate::watermark::Watermark;

/// How long `Drop` waits for the I/O thread to drain before leaving it to
/// finish on its own.
const DROP_WAIT: Duration = Duration::from_secs(5);

/// A log that many threads and tasks append to at once, acknowledging each
/// record once a sync covering it has succeeded.
///
/// All methods take `&self`; share it in an `Arc`. Blocking I/O happens on
/// the committer's own threads (the I/O thread, the sync thread), and on a
/// blocking appender's thread when it finds the I/O lock free and writes
/// (with inline syncs, also syncs) its own group; never on an async
/// caller's, so async appends never block an executor's worker.
#[derive(Debug)]
pub struct Committer {
    pub(crate) shared: Arc<Shared>,
    io: Mutex<Option<IoThread>>,
    preparer: Mutex<Option<PrepareThread>>,
}

/// An append that was queued; wait on it for its LSN once durable.
#[derive(Debug)]
#[must_use = "an append is durable only once waited on"]
pub struct Pending {
    shared: Arc<Shared>,
    lsn: Lsn,
    generation: u64,
}

/// Who writes a queued request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    /// Wake the I/O thread (the caller will not write).
    Thread,
    /// Wake nothing: the caller calls [`lead`] next, which writes the
    /// request itself or leaves it to whoever holds the I/O lock (who
    /// always looks at the queue again when done), or wakes the thread;
    /// or, having queued under a lock of its own, calls
    /// [`Committer::kick`] once that lock is released.
    Lead,
}

/// Where queued records went: the LSN of the last, and the truncation
/// generation it was assigned in.
#[derive(Clone, Copy, Debug)]
struct Ticket {
    last: Lsn,
    generation: u64,
}

impl Pending {
    /// The LSN the record got (not yet durable).
    #[must_use]
    pub fn lsn(&self) -> Lsn {
        self.lsn
    }

    /// Blocks until the record is durable. (If a suffix truncation cut the
    /// record since, it was durable before the cut and this returns `Ok`.)
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if its group failed.
    pub fn wait(self) -> Result<Lsn> {
        lead(&self.shared, self.lsn, self.generation);
        self.shared.watermark.wait(self.lsn, self.generation)
    }

    /// Waits, without blocking the thread, until the record is durable.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if its group failed.
    pub async fn wait_async(self) -> Result<Lsn> {
        self.shared
            .watermark
            .wait_async(self.lsn, self.generation)
            .await
    }

    /// Calls `callback` once the record is durable, with what
    /// [`Pending::wait`] would have returned, without a thread or task
    /// waiting meanwhile: the log keeps the callback and runs it right
    /// after the sync that covers the record returned, or with the error
    /// when the log is poisoned ([`Error::Poisoned`]) or closed first
    /// ([`Error::Closed`]). It is called exactly once, never dropped
    /// uncalled. Callbacks run one at a time, in LSN order (one registered
    /// once its record is already durable runs right away, possibly after
    /// those of later records).
    ///
    /// **It runs on the log's own thread** (the sync thread, the I/O
    /// thread, or a blocking appender's thread that wrote the group), or
    /// at once on this thread if the record's fate is already decided. It
    /// must be quick and must not block: hand the result on (a channel
    /// send, a oneshot, an atomic) and return. Calling anything of the log
    /// that waits (appends that block, [`Pending::wait`],
    /// [`Committer::sync`], [`Committer::truncate_from`], [`Committer::close`])
    /// from it can deadlock the log. A panic in it is caught and logged.
    ///
    /// Nothing is paid for this when no callback is registered.
    pub fn on_durable(self, callback: impl FnOnce(Result<Lsn>) + Send + 'static) {
        self.shared
            .watermark
            .on_durable(self.lsn, self.generation, Box::new(callback));
    }
}

/// The durable watermark of a [`Committer`], for readers that follow the
/// log (see [`Committer::durability`]). It outlives the committer: once the
/// committer is closed, waits that cannot be met return [`Error::Closed`].
#[derive(Clone, Debug)]
pub struct Durability {
    shared: Arc<Shared>,
}

impl Durability {
    /// The highest durable LSN.
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        self.shared.watermark.durable()
    }

    /// Blocks until the durable LSN is above `lsn`; returns it.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`], [`Error::Closed`].
    pub fn wait_past(&self, lsn: Lsn) -> Result<Lsn> {
        self.shared.watermark.wait_past(lsn)
    }

    /// Waits, without blocking the thread, until the durable LSN is above
    /// `lsn`; returns it. Usable from any executor.
    ///
    /// # Errors
    ///
    /// As [`Durability::wait_past`].
    pub async fn wait_past_async(&self, lsn: Lsn) -> Result<Lsn> {
        self.shared.watermark.wait_past_async(lsn).await
    }
}

impl Committer {
    /// Starts a committer on a log that is ready to append: an empty log
    /// (a new directory opened with [`SegmentLog::open`]), or one a
    /// recovery has positioned with [`SegmentLog::resume`]. Appends
    /// continue at the log's next LSN.
    ///
    /// Opening an existing log goes through `wal_reader::recover` (or the
    /// `groupwal` facade's `Wal::open`, which does both): only recovery
    /// knows where the log's data ends and whether damage before it is a
    /// torn write or corruption. Given a log with segments that was never
    /// resumed, this fails.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`], [`Error::Crypto`], [`Error::Thread`].
    pub fn from_log(mut log: SegmentLog, options: &CommitOptions) -> Result<Committer> {
        options.validate()?;
        let sync_mode = log.options().get_sync_mode();
        let encoder = PayloadEncoder::new(options.compression_level).map_err(Error::Crypto)?;
        // With keys, the next append starts a new segment of its own.
        let encryption = Encryption::install(&mut log, options);
        let next_lsn = resume_point(&log)?;
        let durable = next_lsn.checked_prev().unwrap_or(Lsn::ZERO);
        let background = options.prepare_in_background && log.options().get_prepare_ahead();
        if background && log.segments().is_empty() {
            // The preparer thread makes the first spare, not the rotation
            // that begins the first segment.
            log.set_prepare_ahead(false);
        }
        begin_first_segment(&mut log, next_lsn)?;
        // Last of the checks: the preparer holds the directory lock.
        let (preparer, nudge) = if background {
            let (thread, nudge) = prepare::start(&mut log, options.adaptive_preallocation)?;
            (Some(thread), Some(nudge))
        } else {
            (None, None)
        };
        let fit = SegmentFit::new(
            log.new_segment_room(),
            encryption.overhead(),
            encryption.marker_overhead(),
            options.fragment_size,
        );
        fit.publish(log.room());
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(next_lsn)),
            work: Condvar::new(),
            gathered: Condvar::new(),
            sync_nanos: AtomicU64::new(0),
            watermark: Watermark::new(durable, options.wait_yields),
            counters: Counters::default(),
            metrics: Metrics::new(log.dir()),
            options: options.clone(),
            segments: Mutex::new(log.segments().iter().map(|s| s.first_lsn()).collect()),
            io: Mutex::new(Some(IoState::new(log, encoder, encryption, nudge, options))),
            fit,
        });
        if options.pipelined_sync && matches!(sync_mode, SyncMode::Data | SyncMode::All) {
            attach_sync_thread(&shared);
        }
        let io = match io_thread::spawn(shared.clone()) {
            Ok(io) => io,
            Err(e) => {
                // Stop the sync thread and the preparer (its nudge goes
                // with the log) so the directory is unlocked when this
                // returns.
                drop(shared.io_lock().take());
                drop(shared);
                if let Some(preparer) = preparer {
                    let _ = preparer.join(None);
                }
                return Err(e);
            }
        };
        Ok(Committer {
            shared,
            io: Mutex::new(Some(io)),
            preparer: Mutex::new(preparer),
        })
    }

    /// Appends one record and blocks until it is durable.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::Closed`], [`Error::Poisoned`].
    pub fn append(&self, payload: &[u8]) -> Result<Lsn> {
        let records = self.one(LogicalKind::Data, payload)?;
        let t = self.enqueue(records, Framing::Single, Wake::Lead)?;
        lead(&self.shared, t.last, t.generation);
        self.shared.watermark.wait(t.last, t.generation)
    }

    /// Appends one record and waits, without blocking the thread, until it
    /// is durable. Usable from any executor.
    ///
    /// # Errors
    ///
    /// As [`Committer::append`].
    pub async fn append_async(&self, payload: &[u8]) -> Result<Lsn> {
        let records = self.one(LogicalKind::Data, payload)?;
        let t = self.enqueue_async(records, Framing::Single).await?;
        self.shared.watermark.wait_async(t.last, t.generation).await
    }

    /// Queues one record and returns at once with a handle to wait on. It
    /// blocks only while the in-flight bound is reached.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::Closed`], [`Error::Poisoned`].
    pub fn submit(&self, payload: &[u8]) -> Result<Pending> {
        let records = self.one(LogicalKind::Data, payload)?;
        let t = self.enqueue(records, Framing::Single, Wake::Thread)?;
        Ok(Pending {
            shared: self.shared.clone(),
            lsn: t.last,
            generation: t.generation,
        })
    }

    /// Queues owned records of `kind` to be written and synced without
    /// waiting (several as one atomic batch) and returns a handle on the
    /// last one: the form for layers above that build their payloads
    /// themselves (streams, whose payloads start with a
    /// [`wal_format::StreamHeader`]), with no copy on the way in.
    ///
    /// It does not wake the I/O thread, so that a caller queueing under a
    /// lock of its own makes no system call under it: wait on the handle
    /// ([`Pending::wait`] writes the group itself, or leaves it to whoever
    /// is writing), or call [`Committer::kick`] once the lock is released.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBatch`] for no record, too many, or
    /// [`LogicalKind::Checkpoint`] (see [`Committer::checkpoint`]);
    /// [`Error::TooLarge`], [`Error::Closed`], [`Error::Poisoned`].
    pub fn submit_owned(&self, kind: LogicalKind, payloads: Vec<Vec<u8>>) -> Result<Pending> {
        let records = self.owned(kind, payloads)?;
        let framing = Framing::of(records.len());
        let t = self.enqueue(records, framing, Wake::Lead)?;
        Ok(self.pending(t))
    }

    /// Wakes the I/O thread if records are queued and it waits: after
    /// [`Committer::submit_owned`] or [`Committer::try_submit_owned`] for
    /// a handle that is not waited on at once (or waited on from async
    /// code, which never writes itself).
    pub fn kick(&self) {
        let wake = self.shared.lock().io_thread_idle_with_work();
        if wake {
            self.shared.work.notify_one();
        }
    }

    /// [`Committer::submit_owned`] that never waits: `Ok(Err(payloads))`,
    /// the payloads handed back, while the in-flight bound is reached
    /// (await [`Committer::room_async`] for their bytes and try again). For
    /// async callers that queue under a lock of their own; like it, it does
    /// not wake the I/O thread ([`Committer::kick`]).
    ///
    /// # Errors
    ///
    /// As [`Committer::submit_owned`].
    pub fn try_submit_owned(
        &self,
        kind: LogicalKind,
        payloads: Vec<Vec<u8>>,
    ) -> Result<std::result::Result<Pending, Vec<Vec<u8>>>> {
        let mut records = self.owned(kind, payloads)?;
        let framing = Framing::of(records.len());
        let bytes = records.bytes();
        match self.try_enqueue(&mut records, framing, Ack::Durable, bytes, Wake::Lead)? {
            Some(t) => Ok(Ok(self.pending(t))),
            None => Ok(Err(records.into_payloads())),
        }
    }

    /// Waits, without blocking the thread, until `bytes` more may be
    /// queued (or the log is poisoned or closing).
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`], [`Error::Closed`].
    pub async fn room_async(&self, bytes: usize) -> Result<()> {
        // Room comes only from writing what is queued.
        self.kick();
        self.shared
            .watermark
            .wait_until_async(|| self.has_room(bytes))
            .await
    }

    /// Owned payloads of `kind` as records to queue, checked.
    fn owned(&self, kind: LogicalKind, payloads: Vec<Vec<u8>>) -> Result<RequestRecords> {
        if kind == LogicalKind::Checkpoint {
            return Err(Error::InvalidBatch(
                "checkpoints go through Committer::checkpoint",
            ));
        }
        match <[Vec<u8>; 1]>::try_from(payloads) {
            Ok([payload]) => {
                self.check_len(payload.len())?;
                Ok(RequestRecords::One(kind, payload))
            }
            Err(payloads) => {
                self.check_batch(payloads.iter().map(Vec::len))?;
                Ok(RequestRecords::Many(
                    payloads.into_iter().map(|p| (kind, p)).collect(),
                ))
            }
        }
    }

    fn pending(&self, t: Ticket) -> Pending {
        Pending {
            shared: self.shared.clone(),
            lsn: t.last,
            generation: t.generation,
        }
    }

    /// Queues one record to be written without a sync of its own and
    /// returns its LSN at once (blocking only while the in-flight bound is
    /// reached). It is not durable, and not acknowledged to readers
    /// following the log, until a later sync covers it: [`Committer::sync`],
    /// a wait for its LSN, or any durable append after it (whose sync
    /// covers everything written before). A crash can lose it, and every
    /// unsynced record after the last sync; what survives is still a
    /// gap-free prefix of the log. Groups of unsynced records are written
    /// as they fill, so the page cache, not the queue, holds them.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::Closed`], [`Error::Poisoned`] (a
    /// write that failed before this call).
    pub fn append_unsynced(&self, payload: &[u8]) -> Result<Lsn> {
        if payload.len() > PACK_MAX_RECORD {
            let records = self.one(LogicalKind::Data, payload)?;
            let t = self.enqueue_with(records, Framing::Single, Ack::Unsynced, Wake::Thread)?;
            return Ok(t.last);
        }
        loop {
            if let Some(lsn) = self.try_pack(payload)? {
                return Ok(lsn);
            }
            self.shared
                .watermark
                .wait_until(|| self.has_room(payload.len()))?;
        }
    }

    /// Queues a small unsynced record, packed behind the unsynced records
    /// queued last if they still wait (no allocation, and no wake-up: the
    /// I/O thread already knows of them), else in a new request; returns
    /// its LSN, or `None` while there is no room.
    fn try_pack(&self, payload: &[u8]) -> Result<Option<Lsn>> {
        let mut guard = self.shared.lock();
        if !self.admits(&guard, payload.len())? {
            return Ok(None);
        }
        let q = &mut *guard;
        let lsn = q.next_lsn;
        let Some(next) = lsn.checked_add(1) else {
            return Err(Error::InvalidBatch("the log has run out of LSNs"));
        };
        let opts = &self.shared.options;
        if let Some(Request {
            records: RequestRecords::Packed(packed),
            ack: Ack::Unsynced,
            bytes,
            ..
        }) = q.requests.back_mut()
            && packed.fits(
                payload,
                opts.max_group_records,
                self.shared.fit.pack_bytes(),
            )
            && *bytes + payload.len() <= opts.max_group_bytes
        {
            packed.push(payload);
            *bytes += payload.len();
            q.next_lsn = next;
            q.in_flight += payload.len();
            return Ok(Some(lsn));
        }
        let mut packed = q.pool.pop().unwrap_or_else(Packed::with_room);
        packed.push(payload);
        drop(guard);
        let mut records = RequestRecords::Packed(packed);
        let t = self.try_enqueue(
            &mut records,
            Framing::Single,
            Ack::Unsynced,
            payload.len(),
            Wake::Thread,
        )?;
        Ok(t.map(|t| t.last))
    }

    /// Makes every record appended so far durable (unsynced ones
    /// included) and returns the durable LSN.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if a write or sync failed, [`Error::Closed`].
    pub fn sync(&self) -> Result<Lsn> {
        let (target, generation) = {
            let q = self.shared.lock();
            (
                q.next_lsn.checked_prev(),
                self.shared.watermark.generation(),
            )
        };
        let Some(target) = target else {
            return Ok(Lsn::ZERO);
        };
        self.request_sync(target);
        lead(&self.shared, target, generation);
        self.shared.watermark.wait(target, generation)
    }

    /// Asks for records up to `lsn` to be synced, appended unsynced or not.
    pub(crate) fn request_sync(&self, lsn: Lsn) {
        let mut q = self.shared.lock();
        if q.sync_to < lsn {
            q.sync_to = lsn;
            drop(q);
            self.shared.work.notify_one();
        }
    }

    /// Appends a checkpoint record (a logical record of its own kind, at
    /// most one fragment long) and blocks until it is durable.
    ///
    /// # Errors
    ///
    /// As [`Committer::append`]; [`Error::TooLarge`] above the fragment size.
    pub fn checkpoint(&self, payload: &[u8]) -> Result<Lsn> {
        if payload.len() > self.shared.options.fragment_size {
            return Err(Error::TooLarge {
                len: payload.len(),
                max: self.shared.options.fragment_size,
            });
        }
        let records = self.one(LogicalKind::Checkpoint, payload)?;
        let t = self.enqueue(records, Framing::Single, Wake::Lead)?;
        lead(&self.shared, t.last, t.generation);
        self.shared.watermark.wait(t.last, t.generation)
    }

    /// Appends records as one atomic batch: after a crash all of them are
    /// there or none. Blocks until durable; returns the first and last LSN.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBatch`] for an empty batch, and as
    /// [`Committer::append`].
    pub fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<(Lsn, Lsn)> {
        let records = self.many(payloads)?;
        let n = records.len() as u64;
        let framing = Framing::of(records.len());
        let t = self.enqueue(records, framing, Wake::Lead)?;
        lead(&self.shared, t.last, t.generation);
        self.shared.watermark.wait(t.last, t.generation)?;
        Ok((Lsn::new(t.last.get() + 1 - n), t.last))
    }

    /// The async form of [`Committer::append_batch`].
    ///
    /// # Errors
    ///
    /// As [`Committer::append_batch`].
    pub async fn append_batch_async<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<(Lsn, Lsn)> {
        let records = self.many(payloads)?;
        let n = records.len() as u64;
        let framing = Framing::of(records.len());
        let t = self.enqueue_async(records, framing).await?;
        self.shared
            .watermark
            .wait_async(t.last, t.generation)
            .await?;
        Ok((Lsn::new(t.last.get() + 1 - n), t.last))
    }

    /// The highest LSN known durable.
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        self.shared.watermark.durable()
    }

    /// The LSN the next record will take.
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.shared.lock().next_lsn
    }

    /// Blocks until `lsn` is durable.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`]; [`Error::InvalidOption`] for an LSN not yet
    /// assigned (it would wait forever).
    pub fn wait_for(&self, lsn: Lsn) -> Result<Lsn> {
        let generation = self.check_assigned(lsn)?;
        self.request_sync(lsn);
        self.shared.watermark.wait(lsn, generation)
    }

    /// Waits, without blocking the thread, until `lsn` is durable.
    ///
    /// # Errors
    ///
    /// As [`Committer::wait_for`].
    pub async fn wait_for_async(&self, lsn: Lsn) -> Result<Lsn> {
        let generation = self.check_assigned(lsn)?;
        self.request_sync(lsn);
        self.shared.watermark.wait_async(lsn, generation).await
    }

    /// A handle on the durable watermark that does not keep the log open:
    /// for readers that follow the log as it becomes durable.
    #[must_use]
    pub fn durability(&self) -> Durability {
        Durability {
            shared: self.shared.clone(),
        }
    }

    /// The error that poisoned the log, if any.
    #[must_use]
    pub fn poisoned(&self) -> Option<Error> {
        self.shared.watermark.poisoned()
    }

    /// The first LSN of each segment the log holds, oldest first, as the
    /// I/O thread last saw them (after its latest group or control
    /// operation): no directory listing, no wait, safe from a callback.
    #[must_use]
    pub fn segment_starts(&self) -> Vec<Lsn> {
        self.shared
            .segments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Drains what is queued, syncs, stops the I/O thread and releases the
    /// log directory. Takes `&self`, so a shared committer can be closed
    /// without unwrapping it: every later call gets [`Error::Closed`]. A
    /// second close returns `Ok` at once, even while the first is still
    /// draining.
    ///
    /// # Errors
    ///
    /// The error that poisoned the log, if any; [`Error::Thread`].
    pub fn close(&self) -> Result<()> {
        self.shutdown(None)
    }

    fn shutdown(&self, wait: Option<Duration>) -> Result<()> {
        {
            let mut q = self.shared.lock();
            q.closing = true;
        }
        self.shared.work.notify_all();
        self.shared.gathered.notify_all();
        let io = self
            .io
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(io) = io else {
            return Ok(());
        };
        if let Some(limit) = wait
            && io.done.recv_timeout(limit).is_err()
        {
            tracing::warn!("groupwal i/o thread still draining after {limit:?}; detaching it");
            return Ok(());
        }
        let result = match io.handle.join() {
            Ok(result) => result,
            Err(_) => Err(Error::Thread("the i/o thread panicked".into())),
        };
        // The I/O thread dropped the preparer's nudge when it finished.
        let preparer = self
            .preparer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match preparer {
            Some(preparer) => {
                let prepared = preparer.join(wait);
                result.and(prepared)
            }
            None => result,
        }
    }

    /// Checks that `lsn` was assigned; returns the current truncation
    /// generation.
    fn check_assigned(&self, lsn: Lsn) -> Result<u64> {
        let q = self.shared.lock();
        if lsn >= q.next_lsn {
            return Err(Error::InvalidOption {
                name: "lsn",
                reason: "not assigned yet",
            });
        }
        Ok(self.shared.watermark.generation())
    }

    fn one(&self, kind: LogicalKind, payload: &[u8]) -> Result<RequestRecords> {
        self.check_len(payload.len())?;
        Ok(RequestRecords::One(kind, payload.to_vec()))
    }

    fn many<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<RequestRecords> {
        self.check_batch(payloads.iter().map(|p| p.as_ref().len()))?;
        Ok(RequestRecords::Many(
            payloads
                .iter()
                .map(|p| (LogicalKind::Data, p.as_ref().to_vec()))
                .collect(),
        ))
    }

    /// Checks a batch of records of the given lengths: at least one, at
    /// most what one group holds (a batch is written whole in one group),
    /// each within the record size.
    fn check_batch(&self, lens: impl ExactSizeIterator<Item = usize>) -> Result<()> {
        let o = &self.shared.options;
        if lens.len() == 0 {
            return Err(Error::InvalidBatch("a batch needs at least one record"));
        }
        if lens.len() > o.max_group_records {
            return Err(Error::InvalidBatch(
                "a batch holds at most max_group_records records",
            ));
        }
        let mut total = 0usize;
        for len in lens {
            self.check_len(len)?;
            total = total.saturating_add(len);
        }
        let max = o.max_batch_bytes();
        if total > max {
            return Err(Error::TooLarge { len: total, max });
        }
        Ok(())
    }

    fn check_len(&self, len: usize) -> Result<()> {
        let max = self.shared.options.max_record_len;
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        Ok(())
    }

    /// Queues records to be synced; returns where the last went. Blocks
    /// for room.
    fn enqueue(&self, records: RequestRecords, framing: Framing, wake: Wake) -> Result<Ticket> {
        self.enqueue_with(records, framing, Ack::Durable, wake)
    }

    fn enqueue_with(
        &self,
        mut records: RequestRecords,
        framing: Framing,
        ack: Ack,
        wake: Wake,
    ) -> Result<Ticket> {
        let bytes = records.bytes();
        loop {
            if let Some(t) = self.try_enqueue(&mut records, framing, ack, bytes, wake)? {
                return Ok(t);
            }
            // Room comes only from writing what is queued, which may have
            // been queued without waking the I/O thread.
            self.kick();
            self.shared.watermark.wait_until(|| self.has_room(bytes))?;
        }
    }

    async fn enqueue_async(&self, mut records: RequestRecords, framing: Framing) -> Result<Ticket> {
        let bytes = records.bytes();
        loop {
            let t = self.try_enqueue(&mut records, framing, Ack::Durable, bytes, Wake::Thread)?;
            if let Some(t) = t {
                return Ok(t);
            }
            self.shared
                .watermark
                .wait_until_async(|| self.has_room(bytes))
                .await?;
        }
    }

    fn has_room(&self, bytes: usize) -> bool {
        // An error (poisoned, closing) ends the wait too.
        self.admits(&self.shared.lock(), bytes).unwrap_or(true)
    }

    /// Whether `bytes` more may be queued now (`false`: wait for room);
    /// an error once the log is poisoned or closing.
    fn admits(&self, q: &Queue, bytes: usize) -> Result<bool> {
        if let Some(e) = self.shared.watermark.poisoned() {
            return Err(e);
        }
        if q.closing {
            return Err(Error::Closed);
        }
        let max = self.shared.options.max_in_flight_bytes;
        Ok(!q.paused && has_room(q.in_flight, bytes, max))
    }

    fn try_enqueue(
        &self,
        records: &mut RequestRecords,
        framing: Framing,
        ack: Ack,
        bytes: usize,
        wake: Wake,
    ) -> Result<Option<Ticket>> {
        let mut q = self.shared.lock();
        if !self.admits(&q, bytes)? {
            return Ok(None);
        }
        let first_lsn = q.next_lsn;
        let Some(next) = first_lsn.checked_add(records.len() as u64) else {
            return Err(Error::InvalidBatch("the log has run out of LSNs"));
        };
        q.next_lsn = next;
        q.in_flight += bytes;
        if ack == Ack::Durable {
            q.waiting += 1;
            q.peak = q.peak.max(q.waiting);
        }
        q.requests.push_back(Request {
            first_lsn,
            records: std::mem::replace(records, RequestRecords::Many(Vec::new())),
            framing,
            ack,
            bytes,
            enqueued: Instant::now(),
        });
        let gather_ends = gather_may_end(&q, &self.shared.options);
        let wake_io = wake == Wake::Thread && q.io_thread_idle_with_work();
        // Read under the queue lock, which a truncation holds to bump it.
        let generation = self.shared.watermark.generation();
        drop(q);
        if gather_ends {
            self.shared.gathered.notify_all();
        }
        if wake_io {
            self.shared.work.notify_one();
        }
        Ok(next.checked_prev().map(|last| Ticket { last, generation }))
    }
}

/// Whether `bytes` more may be in flight beside `in_flight`, under the
/// bound `max`: always when nothing is (so a record larger than the bound
/// still goes, alone).
fn has_room(in_flight: usize, bytes: usize, max: usize) -> bool {
    in_flight == 0 || in_flight + bytes <= max
}

/// The LSN the next append to `log` gets: after its last record, or the
/// first for a new log; an error for a log with segments never resumed.
fn resume_point(log: &SegmentLog) -> Result<Lsn> {
    match log.next_lsn() {
        Some(next) => Ok(next),
        None if log.segments().is_empty() => Ok(Lsn::FIRST),
        None => Err(Error::InvalidOption {
            name: "log",
            reason: "the log has segments but was not resumed",
        }),
    }
}

/// Gives a new log its first segment now rather than in the first append
/// (which would wait for its preallocation).
fn begin_first_segment(log: &mut SegmentLog, next_lsn: Lsn) -> Result<()> {
    if !log.segments().is_empty() {
        return Ok(());
    }
    log.begin_batch(next_lsn, 0).map_err(from_io)?;
    Ok(())
}

/// Starts the sync thread and hands it to the I/O state; if it cannot
/// start, syncs stay inline (not fatal).
fn attach_sync_thread(shared: &Arc<Shared>) {
    match start_syncer(shared) {
        Ok(syncer) => {
            if let Some(state) = shared.io_lock().as_mut() {
                state.syncer = Some(syncer);
            }
        }
        Err(e) => tracing::debug!(error = %e, "no sync thread; syncing inline"),
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown(Some(DROP_WAIT)) {
            tracing::warn!(error = %e, "groupwal log dropped with an error; call close() to see it");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wal_io::sim::SimStorage;
    use wal_io::{LogOptions, SegmentLog};

    use super::{CommitOptions, Committer, has_room};

    /// The option reaches the waiters it is for.
    #[test]
    fn wait_yields_reaches_the_watermark() {
        for yields in [0, 7] {
            let log = SegmentLog::open(
                Arc::new(SimStorage::new(1)),
                "/wal",
                LogOptions::new().segment_size(64 * 1024),
            )
            .unwrap();
            let mut options = CommitOptions::new();
            options.prepare_in_background(false).wait_yields(yields);
            let committer = Committer::from_log(log, &options).unwrap();
            assert_eq!(committer.shared.watermark.yields(), yields);
            committer.close().unwrap();
        }
    }

    #[test]
    fn the_in_flight_bound_admits_up_to_it_and_anything_alone() {
        assert!(has_room(60, 40, 100));
        assert!(!has_room(61, 40, 100));
        assert!(has_room(0, 500, 100));
        assert!(!has_room(1, 500, 100));
    }
}
