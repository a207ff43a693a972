//! The committer: the queue appenders share, and the I/O thread that turns
//! it into groups, one write and one sync each.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wal_crypto::PayloadEncoder;
use wal_format::{
    BatchMarker, CommitMarker, Flags, LogicalKind, Lsn, RECORD_HEADER_LEN, RecordHeader,
    RecordType, Salt, encode_record, split_fragments,
};
use wal_io::{SegmentLog, SyncMode};

use crate::encrypt::Encryption;
use crate::error::{Error, Result};
use crate::io_thread::{self, IoThread, lead};
use crate::metrics::Metrics;
use crate::options::CommitOptions;
use crate::prepare::{self, Nudge, PrepareThread};
use crate::queue::{Ack, Framing, Queue, Request, Shared, fail, synced_or_submitted};
use crate::records::{PACK_MAX_RECORD, PACK_POOL, Packed, Records};
use crate::scheduler::gather_for_sync;
use crate::stats::{Counters, Stats};
use crate::syncer::{Done, Syncer, Unsynced};
use crate::watermark::Watermark;

/// How long `Drop` waits for the I/O thread to drain before leaving it to
/// finish on its own.
const DROP_WAIT: Duration = Duration::from_secs(5);

/// A group is written in pieces of about this many bytes, on request
/// boundaries. Measured on the buffered workload (1 GiB of 1 KiB unsynced
/// appends, then recovery of it): one write per 8 MiB group left the
/// kernel copying from a buffer long out of the CPU's cache (the copy into
/// the page cache was a third of all samples, 4% with 256 KiB pieces);
/// but the page cache makes folios no larger than the write, and reading
/// the log back is faster from large ones (warm recovery 0.44-0.52 s
/// after 8 MiB writes, 0.45-0.49 after 2 MiB, 0.56-0.65 after 256 KiB).
/// 2 MiB (the largest folio) keeps most of both.
const WRITE_CHUNK: usize = 2 << 20;

/// When [`IoState::publish_segments`] publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Publish {
    /// After a control operation, which may have changed any segment.
    Always,
    /// After a group, only if it began a segment.
    IfChanged,
}

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
    /// The caller calls [`lead`] next, which writes the request itself or
    /// leaves it to whoever holds the I/O lock (who always looks at the
    /// queue again when done), or wakes the thread.
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
        let next_lsn = match log.next_lsn() {
            Some(next) => next,
            None if log.segments().is_empty() => Lsn::FIRST,
            None => {
                return Err(Error::InvalidOption {
                    name: "log",
                    reason: "the log has segments but was not resumed",
                });
            }
        };
        let durable = next_lsn.checked_prev().unwrap_or(Lsn::ZERO);
        // A new log gets its first segment now rather than in the first
        // append (which would wait for its preallocation: 64 MiB of zeros
        // by default).
        let background = options.prepare_in_background && log.options().get_prepare_ahead();
        if log.segments().is_empty() {
            if background {
                // The preparer thread makes the first spare, not this
                // rotation.
                log.set_prepare_ahead(false);
            }
            log.begin_batch(next_lsn, 0).map_err(from_io)?;
        }
        // Last of the checks: the preparer holds the directory lock.
        let (preparer, nudge) = if background {
            let (thread, nudge) = prepare::start(&mut log, options.adaptive_preallocation)?;
            (Some(thread), Some(nudge))
        } else {
            (None, None)
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                next_lsn,
                requests: VecDeque::new(),
                controls: VecDeque::new(),
                in_flight: 0,
                closing: false,
                paused: false,
                sync_to: Lsn::ZERO,
                sync_submitted: Lsn::ZERO,
                waiting: 0,
                peak: 0,
                writers: 0,
                gathering: 0,
                writing: false,
                pool: Vec::new(),
            }),
            work: Condvar::new(),
            gathered: Condvar::new(),
            sync_nanos: AtomicU64::new(0),
            watermark: Watermark::new(durable),
            counters: Counters::default(),
            metrics: Metrics::new(log.dir()),
            options: options.clone(),
            segments: Mutex::new(log.segments().iter().map(|s| s.first_lsn()).collect()),
            io: Mutex::new(Some(IoState::new(log, encoder, encryption, nudge, options))),
        });
        if options.pipelined_sync && matches!(sync_mode, SyncMode::Data | SyncMode::All) {
            match start_syncer(&shared) {
                Ok(syncer) => {
                    if let Some(state) = shared.io_lock().as_mut() {
                        state.syncer = Some(syncer);
                    }
                }
                // Not fatal: the I/O thread syncs inline.
                Err(e) => tracing::debug!(error = %e, "no sync thread; syncing inline"),
            }
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
    /// # Errors
    ///
    /// [`Error::InvalidBatch`] for no record, too many, or
    /// [`LogicalKind::Checkpoint`] (see [`Committer::checkpoint`]);
    /// [`Error::TooLarge`], [`Error::Closed`], [`Error::Poisoned`].
    pub fn submit_owned(&self, kind: LogicalKind, payloads: Vec<Vec<u8>>) -> Result<Pending> {
        let records = self.owned(kind, payloads)?;
        let framing = Framing::of(records.len());
        let t = self.enqueue(records, framing, Wake::Thread)?;
        Ok(self.pending(t))
    }

    /// [`Committer::submit_owned`] that never waits: `Ok(Err(payloads))`,
    /// the payloads handed back, while the in-flight bound is reached
    /// (await [`Committer::room_async`] for their bytes and try again). For
    /// async callers that queue under a lock of their own.
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
        match self.try_enqueue(&mut records, framing, Ack::Durable, bytes, Wake::Thread)? {
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
        self.shared
            .watermark
            .wait_until_async(|| self.has_room(bytes))
            .await
    }

    /// Owned payloads of `kind` as records to queue, checked.
    fn owned(&self, kind: LogicalKind, payloads: Vec<Vec<u8>>) -> Result<Records> {
        if kind == LogicalKind::Checkpoint {
            return Err(Error::InvalidBatch(
                "checkpoints go through Committer::checkpoint",
            ));
        }
        match <[Vec<u8>; 1]>::try_from(payloads) {
            Ok([payload]) => {
                self.check_len(payload.len())?;
                Ok(Records::One(kind, payload))
            }
            Err(payloads) => {
                self.check_batch(payloads.iter().map(Vec::len))?;
                Ok(Records::Many(
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
            records: Records::Packed(packed),
            ack: Ack::Unsynced,
            bytes,
            ..
        }) = q.requests.back_mut()
            && packed.fits(payload, opts.max_group_records)
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
        let mut records = Records::Packed(packed);
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

    fn one(&self, kind: LogicalKind, payload: &[u8]) -> Result<Records> {
        self.check_len(payload.len())?;
        Ok(Records::One(kind, payload.to_vec()))
    }

    fn many<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<Records> {
        self.check_batch(payloads.iter().map(|p| p.as_ref().len()))?;
        Ok(Records::Many(
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
    fn enqueue(&self, records: Records, framing: Framing, wake: Wake) -> Result<Ticket> {
        self.enqueue_with(records, framing, Ack::Durable, wake)
    }

    fn enqueue_with(
        &self,
        mut records: Records,
        framing: Framing,
        ack: Ack,
        wake: Wake,
    ) -> Result<Ticket> {
        let bytes = records.bytes();
        loop {
            if let Some(t) = self.try_enqueue(&mut records, framing, ack, bytes, wake)? {
                return Ok(t);
            }
            self.shared.watermark.wait_until(|| self.has_room(bytes))?;
        }
    }

    async fn enqueue_async(&self, mut records: Records, framing: Framing) -> Result<Ticket> {
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
        Ok(!q.paused
            && (q.in_flight == 0 || q.in_flight + bytes <= self.shared.options.max_in_flight_bytes))
    }

    fn try_enqueue(
        &self,
        records: &mut Records,
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
        let gathering = q.gathering > 0;
        q.requests.push_back(Request {
            first_lsn,
            records: std::mem::replace(records, Records::Many(Vec::new())),
            framing,
            ack,
            bytes,
            enqueued: Instant::now(),
        });
        // Read under the queue lock, which a truncation holds to bump it.
        let generation = self.shared.watermark.generation();
        drop(q);
        if gathering {
            self.shared.gathered.notify_all();
        }
        if wake == Wake::Thread {
            self.shared.work.notify_one();
        }
        Ok(next.checked_prev().map(|last| Ticket { last, generation }))
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown(Some(DROP_WAIT)) {
            tracing::warn!(error = %e, "groupwal log dropped with an error; call close() to see it");
        }
    }
}

/// The log and what encodes records for it, behind `Shared::io`: the I/O
/// thread holds the lock to write a group, and so does an appender that
/// finds it free ("leading"), so a lone writer pays no thread hand-off.
/// Whoever holds it takes the next group from the queue only while holding
/// it, so groups are written in LSN order.
pub(crate) struct IoState {
    pub(crate) log: SegmentLog,
    encoder: PayloadEncoder,
    encryption: Encryption,
    /// Wakes the segment preparer after a rotation (`None`: the log
    /// prepares inline, or not at all).
    nudge: Option<Nudge>,
    /// The last LSN written to the log (durable or not).
    pub(crate) written: Lsn,
    buf: Vec<u8>,
    fragment: NonZeroUsize,
    /// Syncs written groups while the next are written
    /// ([`CommitOptions::pipelined_sync`]); `None`: syncs are inline.
    pub(crate) syncer: Option<Syncer>,
    /// The segments last published ([`segments_shape`]).
    segments_seen: SegmentsShape,
}

/// A log's segments in brief: their count and the first LSN of the first
/// and of the last. A group can only add segments, so a change shows here.
type SegmentsShape = (usize, Option<Lsn>, Option<Lsn>);

fn segments_shape(log: &SegmentLog) -> SegmentsShape {
    let segments = log.segments();
    (
        segments.len(),
        segments.first().map(|s| s.first_lsn()),
        segments.last().map(|s| s.first_lsn()),
    )
}

impl std::fmt::Debug for IoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoState")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl IoState {
    fn new(
        log: SegmentLog,
        encoder: PayloadEncoder,
        encryption: Encryption,
        nudge: Option<Nudge>,
        options: &CommitOptions,
    ) -> Self {
        let fragment = NonZeroUsize::new(options.fragment_size).unwrap_or(NonZeroUsize::MIN);
        let log_written = log
            .next_lsn()
            .and_then(Lsn::checked_prev)
            .unwrap_or(Lsn::ZERO);
        IoState {
            segments_seen: segments_shape(&log),
            log,
            encoder,
            encryption,
            nudge,
            written: log_written,
            buf: Vec::new(),
            fragment,
            syncer: None,
        }
    }

    /// Commits one group; a failure poisons the log.
    pub(crate) fn run_group(&mut self, shared: &Shared, group: &mut [Request]) {
        let taken = Instant::now();
        let span = tracing::trace_span!("group", records = group.len()).entered();
        match self.commit(shared, group, taken) {
            Ok(()) => {
                if let Some(nudge) = &mut self.nudge {
                    nudge.after_group(&self.log, &shared.counters);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed; the log is poisoned");
                fail(shared, e);
            }
        }
        self.publish_segments(shared, Publish::IfChanged);
        drop(span);
    }

    /// Syncs what was written unsynced and publishes it as durable; a
    /// failure poisons the log.
    pub(crate) fn run_sync(&mut self, shared: &Shared) {
        let everything = Unsynced {
            last: self.written,
            enqueued: Vec::new(),
            acked: 0,
        };
        if let Err(e) = self.sync_through(shared, everything) {
            tracing::error!(error = %e, "sync failed; the log is poisoned");
            fail(shared, e);
        }
    }

    /// Publishes the log's segments ([`Committer::segment_starts`]) if
    /// they may have changed: always after a control operation; after a
    /// group only if it began a segment (the first, the last or the count
    /// differs), which costs no lock otherwise.
    pub(crate) fn publish_segments(&mut self, shared: &Shared, when: Publish) {
        let seen = segments_shape(&self.log);
        if when == Publish::IfChanged && seen == self.segments_seen {
            return;
        }
        self.segments_seen = seen;
        let starts = self.log.segments().iter().map(|s| s.first_lsn()).collect();
        *shared
            .segments
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = starts;
    }

    /// Encodes, writes and syncs one group, then publishes it as durable.
    fn commit(&mut self, shared: &Shared, group: &mut [Request], taken: Instant) -> Result<()> {
        let counters = &shared.counters;
        for r in group.iter() {
            let waited = taken.saturating_duration_since(r.enqueued);
            counters.queue_wait.record(waited);
            shared.metrics.queued(waited);
        }
        let Some(first) = group.first() else {
            return Ok(());
        };
        let first_lsn = first.first_lsn;
        let records: usize = group.iter().map(|r| r.records.len()).sum();
        let bytes: usize = group.iter().map(|r| r.bytes).sum();
        let next_lsn = Lsn::new(first_lsn.get() + records as u64);

        // The group's length must be known before `begin_batch` picks the
        // segment, its salt and its key. Plain payloads (no compression,
        // no encryption) are stored as they are: their length is known,
        // and they are encoded straight from the requests. Otherwise the
        // payloads are compressed first (compression does not depend on
        // the segment; encryption adds a fixed tag) and sealed once the
        // segment is known.
        let overhead = self.encryption.overhead();
        let plain = overhead == 0 && !self.encoder.compresses();
        let fragment = self.fragment;
        let stored_len = |n: usize| {
            let stored = n + overhead;
            (stored.div_ceil(fragment.get()).max(1) * RECORD_HEADER_LEN + stored) as u64
        };
        let mut stored: Vec<(Lsn, LogicalKind, Flags, Vec<u8>)> = Vec::new();
        // The group starts with its commit marker (`docs/FORMAT.md`,
        // "Evidence of durability"): the LSN through which the log is
        // durable now, every earlier group's sync having returned.
        let marker = CommitMarker::new(shared.watermark.durable());
        let marker_overhead = self.encryption.marker_overhead();
        let mut len = (RECORD_HEADER_LEN + CommitMarker::ENCODED_LEN + marker_overhead) as u64;
        let mut stored_bytes = 0u64;
        for r in group.iter() {
            if r.framing == Framing::Batch {
                len += (RECORD_HEADER_LEN + BatchMarker::ENCODED_LEN + marker_overhead) as u64;
            }
            for (i, (kind, payload)) in r.records.iter().enumerate() {
                if plain {
                    len += stored_len(payload.len());
                    stored_bytes += payload.len() as u64;
                    continue;
                }
                let lsn = Lsn::new(r.first_lsn.get() + i as u64);
                let (flags, bytes) = self
                    .encoder
                    .encode(lsn, kind, payload, None)
                    .map_err(Error::Crypto)?;
                len += stored_len(bytes.len());
                stored_bytes += (bytes.len() + overhead) as u64;
                let mut owned = Vec::with_capacity(bytes.len() + overhead);
                owned.extend_from_slice(bytes);
                stored.push((lsn, kind, flags, owned));
            }
        }
        self.encryption
            .before_group(&mut self.log, records as u64, stored_bytes);
        let salt = self.log.begin_batch(first_lsn, len).map_err(from_io)?;
        self.encryption.after_begin();
        self.buf.clear();
        self.buf.reserve((len as usize).min(WRITE_CHUNK * 2));
        self.push_marker(first_lsn, salt, RecordType::Commit, &marker.encode())?;
        let mut stored = stored.into_iter();
        let mut flushed = 0u64;
        for r in group.iter() {
            // Large groups go out a chunk at a time, on request boundaries
            // (see `WRITE_CHUNK`).
            if self.buf.len() >= WRITE_CHUNK {
                flushed += self.buf.len() as u64;
                self.log
                    .write(&self.buf, r.first_lsn)
                    .map_err(|e| Error::Io(Arc::new(e)))?;
                self.buf.clear();
            }
            if r.framing == Framing::Batch {
                let count = u32::try_from(r.records.len())
                    .map_err(|_| Error::InvalidBatch("too many records"))?;
                let marker = BatchMarker::new(count)
                    .map_err(|_| Error::InvalidBatch("a batch marker needs two records"))?;
                self.push_marker(r.first_lsn, salt, RecordType::Batch, &marker.encode())?;
            }
            if plain {
                for (i, (kind, payload)) in r.records.iter().enumerate() {
                    let lsn = Lsn::new(r.first_lsn.get() + i as u64);
                    push_logical(
                        &mut self.buf,
                        lsn,
                        salt,
                        kind,
                        kind.flags(),
                        payload,
                        fragment,
                    )?;
                }
                continue;
            }
            for (lsn, kind, flags, mut bytes) in stored.by_ref().take(r.records.len()) {
                let flags = self.encryption.seal(lsn, kind, flags, &mut bytes)?;
                push_logical(&mut self.buf, lsn, salt, kind, flags, &bytes, fragment)?;
            }
        }
        debug_assert_eq!(flushed + self.buf.len() as u64, len);
        self.log
            .write(&self.buf, next_lsn)
            .map_err(|e| Error::Io(Arc::new(e)))?;
        let last = Lsn::new(next_lsn.get() - 1);
        self.written = last;
        let written = Instant::now();
        counters.write.record(written - taken);
        // A group of unsynced appends goes without a sync unless one was
        // asked for up to a record in it (the sync then covers everything
        // written before). Records up to `sync_to` were all queued when
        // it was set, so a group that ends below it is followed by one
        // that reaches it: one sync, not one per group.
        let asked = group.iter().any(|r| r.ack == Ack::Durable);
        // Counters first, so a caller that sees its record durable also
        // sees it counted.
        counters
            .appends
            .fetch_add(records as u64, Ordering::Relaxed);
        counters.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        counters.groups.fetch_add(1, Ordering::Relaxed);
        counters
            .max_group
            .fetch_max(records as u64, Ordering::Relaxed);
        shared
            .metrics
            .written(records as u64, bytes as u64, written - taken);
        let must_sync = {
            let mut q = shared.lock();
            q.writing = false;
            if q.gathering > 0 {
                shared.gathered.notify_all();
            }
            q.in_flight = q.in_flight.saturating_sub(bytes);
            for r in group.iter_mut() {
                if let Records::Packed(packed) = &mut r.records
                    && q.pool.len() < PACK_POOL
                {
                    let mut packed = std::mem::take(packed);
                    packed.clear();
                    q.pool.push(packed);
                }
            }
            asked || (q.sync_to > synced_or_submitted(shared, &q) && last >= q.sync_to)
        };
        if !must_sync {
            // Not durable yet; appenders waiting for room wake on the
            // watermark.
            shared.watermark.wake_all();
            tracing::trace!(first = %first_lsn, %last, records, bytes = len, "group written, not synced");
            return Ok(());
        }
        tracing::trace!(first = %first_lsn, %last, records, bytes = len, "group written");
        self.sync_through(
            shared,
            Unsynced {
                last,
                enqueued: group.iter().map(|r| r.enqueued).collect(),
                acked: group.iter().filter(|r| r.ack == Ack::Durable).count(),
            },
        )
    }
}

impl IoState {
    /// Makes everything written through `group.last` durable and then
    /// acknowledges `group`: hands it to the sync thread if there is one
    /// (it acknowledges once its sync returns), else syncs here.
    fn sync_through(&mut self, shared: &Shared, group: Unsynced) -> Result<()> {
        if let Some(syncer) = &self.syncer
            && let Some(handle) = self.log.sync_handle()
        {
            let last = group.last;
            syncer.submit(handle, group);
            let mut q = shared.lock();
            q.sync_submitted = q.sync_submitted.max(last);
            return Ok(());
        }
        let started = Instant::now();
        self.log.sync().map_err(|e| Error::Io(Arc::new(e)))?;
        acknowledge(
            shared,
            started,
            Instant::now(),
            std::slice::from_ref(&group),
        );
        Ok(())
    }

    /// Waits for every sync handed to the sync thread.
    pub(crate) fn drain_syncs(&self) {
        if let Some(syncer) = &self.syncer {
            syncer.drain();
        }
    }

    /// Encodes a batch or commit marker into the group buffer: plain, or
    /// authenticated in an encrypted segment.
    fn push_marker(&mut self, lsn: Lsn, salt: Salt, ty: RecordType, body: &[u8]) -> Result<()> {
        let header = RecordHeader {
            lsn,
            salt,
            record_type: ty,
            flags: Flags::EMPTY,
        };
        let (flags, payload) = self.encryption.seal_marker(header, body)?;
        push_record(&mut self.buf, lsn, salt, ty, flags, &payload)
    }
}

/// Folds one sync's duration into `Shared::sync_nanos` (weight 1/8).
fn record_sync_time(shared: &Shared, took: Duration) {
    let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
    let old = shared.sync_nanos.load(Ordering::Relaxed);
    let new = if old == 0 {
        took
    } else {
        old - old / 8 + took / 8
    };
    shared.sync_nanos.store(new, Ordering::Relaxed);
}

/// Starts the sync thread ([`crate::syncer`]): after each sync, it counts
/// it and acknowledges the groups it covers; a failed one poisons the log.
fn start_syncer(shared: &Arc<Shared>) -> std::io::Result<Syncer> {
    let shared = Arc::clone(shared);
    let before = Arc::clone(&shared);
    Syncer::start(
        move || gather_for_sync(&before),
        move |done: Done| {
            let shared = &*shared;
            if let Err(e) = done.result {
                let e = Error::Io(Arc::new(e));
                tracing::error!(error = %e, "sync failed; the log is poisoned");
                fail(shared, e);
                return;
            }
            acknowledge(shared, done.started, done.at, &done.covered);
        },
    )
}

/// After a sync that began at `started` and returned at `at`: counts it
/// and acknowledges the groups it covers (the durable watermark moves to
/// the last of them).
fn acknowledge(shared: &Shared, started: Instant, at: Instant, covered: &[Unsynced]) {
    let counters = &shared.counters;
    let took = at.saturating_duration_since(started);
    counters.sync.record(took);
    record_sync_time(shared, took);
    counters.syncs.fetch_add(1, Ordering::Relaxed);
    shared.metrics.synced(took);
    let mut last = Lsn::ZERO;
    let mut acked = 0usize;
    for group in covered {
        for &enqueued in &group.enqueued {
            let took = at.saturating_duration_since(enqueued);
            counters.append.record(took);
            shared.metrics.acknowledged(took);
        }
        acked += group.acked;
        last = last.max(group.last);
    }
    {
        let mut q = shared.lock();
        q.waiting = q.waiting.saturating_sub(acked);
    }
    shared.watermark.publish(last);
    tracing::trace!(%last, groups = covered.len(), "durable");
}

/// An error of the segment log; a refusal of the encryption hook (a
/// missing key, say) keeps its own type.
pub(crate) fn from_io(e: wal_io::Error) -> Error {
    match e {
        wal_io::Error::Hook { source, path } => match source.downcast::<wal_crypto::Error>() {
            Ok(crypto) => Error::Crypto(*crypto),
            Err(source) => Error::Io(Arc::new(wal_io::Error::Hook { path, source })),
        },
        other => Error::Io(Arc::new(other)),
    }
}

/// Encodes one logical record: a checkpoint whole, data in fragments of
/// at most `fragment` bytes.
fn push_logical(
    buf: &mut Vec<u8>,
    lsn: Lsn,
    salt: Salt,
    kind: LogicalKind,
    flags: Flags,
    bytes: &[u8],
    fragment: NonZeroUsize,
) -> Result<()> {
    if kind == LogicalKind::Checkpoint {
        return push_record(buf, lsn, salt, RecordType::Checkpoint, flags, bytes);
    }
    for (ty, part) in split_fragments(bytes, fragment) {
        push_record(buf, lsn, salt, ty, flags, part)?;
    }
    Ok(())
}

fn push_record(
    buf: &mut Vec<u8>,
    lsn: Lsn,
    salt: Salt,
    ty: RecordType,
    flags: Flags,
    payload: &[u8],
) -> Result<()> {
    let header = RecordHeader {
        lsn,
        salt,
        record_type: ty,
        flags,
    };
    // Payloads are at most 2 GiB (checked by the options), so this cannot
    // fail; map it all the same rather than panic.
    encode_record(buf, &header, payload)
        .map(|_| ())
        .map_err(|_| Error::TooLarge {
            len: payload.len(),
            max: u32::MAX as usize,
        })
}
