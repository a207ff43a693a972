//! The group writer: [`IoState`], the log and what encodes records for
//! it, held under the I/O lock. A group is encoded (its length known
//! before a segment is picked), written in chunks, then synced (handed to
//! the sync thread, or inline) and acknowledged. Under the I/O lock it
//! takes the queue lock only briefly (lock order: [`crate::queue`]).

use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use wal_crypto::PayloadEncoder;
use wal_format::{
    BatchMarker, CommitMarker, Flags, LogicalKind, Lsn, RECORD_HEADER_LEN, RecordHeader,
    RecordType, Salt, encode_record, split_fragments,
};
use wal_io::SegmentLog;

use crate::encrypt::Encryption;
use crate::error::{Error, Result};
use crate::options::CommitOptions;
use crate::prepare::Nudge;
use crate::queue::{Ack, Framing, Request, Shared, fail, synced_or_submitted};
use crate::records::{PACK_POOL, RequestRecords};
use crate::scheduler::{averaged_sync_nanos, gather_for_sync, gather_may_end, syncs_after_write};
use crate::syncer::{Done, Syncer, Unsynced};

/// A group is written in pieces of about this many bytes, on request
/// boundaries: small enough that the kernel copies from a buffer still in
/// the CPU's cache, as large as the largest folio so the page cache keeps
/// large folios for readers of the log (measurements: `docs/perf/HISTORY.md`,
/// "Large groups are written in 2 MiB pieces").
const WRITE_CHUNK: usize = 2 << 20;

/// When [`IoState::publish_segments`] publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Publish {
    /// After a control operation, which may have changed any segment.
    Always,
    /// After a group, only if it began a segment.
    IfChanged,
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
    pub(crate) fn new(
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
    pub(crate) fn run_group(&mut self, shared: &Shared, group: &mut [Request], runner: Runner) {
        let taken = Instant::now();
        let span = tracing::trace_span!("group", records = group.len()).entered();
        match self.commit(shared, group, taken, runner) {
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
    pub(crate) fn run_sync(&mut self, shared: &Shared, runner: Runner) {
        let everything = Unsynced {
            last: self.written,
            enqueued: Vec::new(),
            acked: 0,
        };
        if let Err(e) = self.sync_through(shared, everything, runner) {
            tracing::error!(error = %e, "sync failed; the log is poisoned");
            fail(shared, e);
        }
    }

    /// Publishes the room left in the current segment (for sizing the
    /// next group), and the log's segments ([`Committer::segment_starts`](crate::Committer::segment_starts)) if
    /// they may have changed: always after a control operation; after a
    /// group only if it began a segment (the first, the last or the count
    /// differs), which costs no lock otherwise.
    pub(crate) fn publish_segments(&mut self, shared: &Shared, when: Publish) {
        shared.fit.publish(self.log.room());
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
    fn commit(
        &mut self,
        shared: &Shared,
        group: &mut [Request],
        taken: Instant,
        runner: Runner,
    ) -> Result<()> {
        record_queue_waits(shared, group, taken);
        let Some(extent) = Extent::of(group) else {
            return Ok(());
        };
        // The group starts with its commit marker (`docs/FORMAT.md`,
        // "Evidence of durability"): the LSN through which the log is
        // durable now, every earlier group's sync having returned.
        let marker = CommitMarker::new(shared.watermark.durable());
        let encoded = self.encode(group)?;
        let len = encoded.len;
        self.write(group, extent, &marker, encoded)?;
        let (first, last) = (extent.first, extent.last());
        self.written = last;
        count_written(shared, extent, taken.elapsed());
        if !release(shared, group, extent) {
            // Not durable yet; appenders waiting for room wake on the
            // watermark.
            shared.watermark.wake_all();
            let records = extent.records;
            tracing::trace!(%first, %last, records, bytes = len, "group written, not synced");
            return Ok(());
        }
        let records = extent.records;
        tracing::trace!(%first, %last, records, bytes = len, "group written");
        self.sync_through(
            shared,
            Unsynced {
                last,
                enqueued: group.iter().map(|r| r.enqueued).collect(),
                acked: group.iter().filter(|r| r.ack == Ack::Durable).count(),
            },
            runner,
        )
    }

    /// Sizes a group before `begin_batch` picks its segment, its salt and
    /// its key. Plain payloads (no compression, no encryption) are stored
    /// as they are: their length is known, and they are encoded straight
    /// from the requests. Otherwise each payload is compressed here
    /// (compression does not depend on the segment; encryption adds a
    /// fixed tag) and sealed once the segment is known.
    fn encode(&mut self, group: &[Request]) -> Result<Encoded> {
        let overhead = self.encryption.overhead();
        let fragment = self.fragment;
        let stored_len = |n: usize| {
            let stored = n + overhead;
            (stored.div_ceil(fragment.get()).max(1) * RECORD_HEADER_LEN + stored) as u64
        };
        let marker_overhead = self.encryption.marker_overhead();
        let plain = overhead == 0 && !self.encoder.compresses();
        let mut len = marker_len(CommitMarker::ENCODED_LEN, marker_overhead);
        let mut stored_bytes = 0u64;
        let mut to_seal = Vec::new();
        for r in group {
            if r.framing == Framing::Batch {
                len += marker_len(BatchMarker::ENCODED_LEN, marker_overhead);
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
                to_seal.push((lsn, kind, flags, owned));
            }
        }
        let payloads = if plain {
            Payloads::Plain
        } else {
            Payloads::ToSeal(to_seal)
        };
        Ok(Encoded {
            len,
            stored_bytes,
            payloads,
        })
    }

    /// Writes an encoded group behind its commit marker: begins it in a
    /// segment, then writes it in chunks of about [`WRITE_CHUNK`] bytes,
    /// on request boundaries.
    fn write(
        &mut self,
        group: &[Request],
        extent: Extent,
        marker: &CommitMarker,
        encoded: Encoded,
    ) -> Result<()> {
        self.encryption
            .before_group(&mut self.log, extent.records as u64, encoded.stored_bytes);
        let salt = self
            .log
            .begin_batch(extent.first, encoded.len)
            .map_err(from_io)?;
        self.encryption.after_begin();
        self.buf.clear();
        self.buf
            .reserve((encoded.len as usize).min(WRITE_CHUNK * 2));
        self.push_marker(extent.first, salt, RecordType::Commit, &marker.encode())?;
        let mut to_seal = match encoded.payloads {
            Payloads::Plain => None,
            Payloads::ToSeal(stored) => Some(stored.into_iter()),
        };
        let mut flushed = 0u64;
        for r in group {
            if self.buf.len() >= WRITE_CHUNK {
                flushed += self.buf.len() as u64;
                self.log
                    .write(&self.buf, r.first_lsn)
                    .map_err(|e| Error::Io(Arc::new(e)))?;
                self.buf.clear();
            }
            self.push_request(r, salt, to_seal.as_mut())?;
        }
        debug_assert_eq!(flushed + self.buf.len() as u64, encoded.len);
        self.log
            .write(&self.buf, extent.next())
            .map_err(|e| Error::Io(Arc::new(e)))
    }

    /// Encodes one request into the group buffer: its batch marker if it
    /// is a batch, then its records: straight from the request if its
    /// payloads are plain (`to_seal` is `None`), else the next ones of
    /// `to_seal`, sealed for the segment.
    fn push_request(
        &mut self,
        r: &Request,
        salt: Salt,
        to_seal: Option<&mut std::vec::IntoIter<Stored>>,
    ) -> Result<()> {
        if r.framing == Framing::Batch {
            let count = u32::try_from(r.records.len())
                .map_err(|_| Error::InvalidBatch("too many records"))?;
            let marker = BatchMarker::new(count)
                .map_err(|_| Error::InvalidBatch("a batch marker needs two records"))?;
            self.push_marker(r.first_lsn, salt, RecordType::Batch, &marker.encode())?;
        }
        let fragment = self.fragment;
        let Some(stored) = to_seal else {
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
            return Ok(());
        };
        for (lsn, kind, flags, mut bytes) in stored.by_ref().take(r.records.len()) {
            let flags = self.encryption.seal(lsn, kind, flags, &mut bytes)?;
            push_logical(&mut self.buf, lsn, salt, kind, flags, &bytes, fragment)?;
        }
        Ok(())
    }
}

impl IoState {
    /// Makes everything written through `group.last` durable and then
    /// acknowledges `group`: hands it to the sync thread if there is one
    /// (it acknowledges once its sync returns), else syncs here.
    ///
    /// An appender that leads its own group syncs it itself when no other
    /// request waits and every group handed over before was acknowledged:
    /// there is no next group to write during the sync, and a hand-over
    /// would only add two thread wake-ups to the latency of a lone
    /// writer's every append. Only the I/O lock's holder hands groups
    /// over, so the sync thread has nothing to sync until this sync
    /// returns. The choice rests on the queue and the watermark, not on
    /// where the sync thread happens to be, so a given sequence of calls
    /// makes the same storage calls on every run (what the crash-point
    /// campaigns replay).
    fn sync_through(&mut self, shared: &Shared, group: Unsynced, runner: Runner) -> Result<()> {
        let started;
        if let Some(syncer) = &self.syncer
            && let Some(handle) = self.log.sync_handle()
        {
            if runner == Runner::Appender && nothing_to_overlap(shared) {
                // The same sync the sync thread would make (through the
                // handle: the log's own state is left as a hand-over
                // leaves it), on this thread.
                started = Instant::now();
                handle.sync().map_err(|e| Error::Io(Arc::new(e)))?;
            } else {
                let last = group.last;
                syncer.submit(handle, group);
                let mut q = shared.lock();
                q.sync_submitted = q.sync_submitted.max(last);
                return Ok(());
            }
        } else {
            started = Instant::now();
            self.log.sync().map_err(|e| Error::Io(Arc::new(e)))?;
        }
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
    let new = averaged_sync_nanos(old, took);
    shared.sync_nanos.store(new, Ordering::Relaxed);
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

/// Starts the sync thread ([`crate::syncer`]): after each sync, it counts
/// it and acknowledges the groups it covers; a failed one poisons the log.
pub(crate) fn start_syncer(shared: &Arc<Shared>) -> std::io::Result<Syncer> {
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

/// A compressed payload waiting for its segment's key: its LSN, kind,
/// flags and bytes (with room for the tag).
type Stored = (Lsn, LogicalKind, Flags, Vec<u8>);

/// A group sized for its segment ([`IoState::encode`]).
#[derive(Debug)]
struct Encoded {
    /// The bytes the group takes in the log, markers included.
    len: u64,
    /// Payload bytes as stored (what the encryption hook counts).
    stored_bytes: u64,
    payloads: Payloads,
}

/// A group's payloads, as [`IoState::encode`] leaves them.
#[derive(Debug)]
enum Payloads {
    /// Stored as they are (no compression, no encryption): encoded
    /// straight from the requests.
    Plain,
    /// Compressed, in LSN order, to be sealed once the segment is known.
    ToSeal(Vec<Stored>),
}

/// The bytes a marker record (commit or batch) with a payload of
/// `payload` bytes takes encoded: its header, its payload, and `tag` (the
/// encryption's, or 0).
pub(crate) fn marker_len(payload: usize, tag: usize) -> u64 {
    (RECORD_HEADER_LEN + payload + tag) as u64
}

/// A group's LSNs and payload bytes.
#[derive(Clone, Copy, Debug)]
struct Extent {
    first: Lsn,
    records: usize,
    bytes: usize,
}

impl Extent {
    /// `None` for an empty group.
    fn of(group: &[Request]) -> Option<Extent> {
        Some(Extent {
            first: group.first()?.first_lsn,
            records: group.iter().map(|r| r.records.len()).sum(),
            bytes: group.iter().map(|r| r.bytes).sum(),
        })
    }

    /// The LSN after the group's last.
    fn next(self) -> Lsn {
        Lsn::new(self.first.get() + self.records as u64)
    }

    fn last(self) -> Lsn {
        Lsn::new(self.next().get() - 1)
    }
}

/// Records how long each request of a group waited in the queue.
fn record_queue_waits(shared: &Shared, group: &[Request], taken: Instant) {
    for r in group {
        let waited = taken.saturating_duration_since(r.enqueued);
        shared.counters.queue_wait.record(waited);
        shared.metrics.queued(waited);
    }
}

/// Counts a written group; before it is acknowledged, so a caller that
/// sees its record durable also sees it counted.
fn count_written(shared: &Shared, extent: Extent, took: Duration) {
    let counters = &shared.counters;
    counters.write.record(took);
    let (records, bytes) = (extent.records as u64, extent.bytes as u64);
    counters.appends.fetch_add(records, Ordering::Relaxed);
    counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    counters.groups.fetch_add(1, Ordering::Relaxed);
    counters.max_group.fetch_max(records, Ordering::Relaxed);
    shared.metrics.written(records, bytes, took);
}

/// [`Ack::Durable`] if a caller of the group waits for a sync.
fn group_ack(group: &[Request]) -> Ack {
    if group.iter().any(|r| r.ack == Ack::Durable) {
        Ack::Durable
    } else {
        Ack::Unsynced
    }
}

/// Hands a written group's place in the queue back (its bytes in flight,
/// its packed buffers to the pool, the gatherers woken); returns whether
/// it must be synced now ([`syncs_after_write`]).
fn release(shared: &Shared, group: &mut [Request], extent: Extent) -> bool {
    let ack = group_ack(group);
    let mut q = shared.lock();
    q.writing = false;
    if gather_may_end(&q, &shared.options) {
        shared.gathered.notify_all();
    }
    q.in_flight = q.in_flight.saturating_sub(extent.bytes);
    for r in group.iter_mut() {
        if let RequestRecords::Packed(packed) = &mut r.records
            && q.pool.len() < PACK_POOL
        {
            let mut packed = std::mem::take(packed);
            packed.clear();
            q.pool.push(packed);
        }
    }
    syncs_after_write(
        ack,
        q.sync_to,
        synced_or_submitted(shared, &q),
        extent.last(),
    )
}

/// Whether a sync made now would overlap nothing: no request waits to be
/// written during it, recent groups served one caller at most (with more
/// writers, the next one's record comes during the sync and is written
/// beside it), and every group handed to the sync thread was acknowledged
/// (so acknowledgements stay in LSN order).
fn nothing_to_overlap(shared: &Shared) -> bool {
    let q = shared.lock();
    q.requests.is_empty() && q.writers <= 1 && q.sync_submitted <= shared.watermark.durable()
}

/// Who runs a group or a sync under the I/O lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runner {
    /// The I/O thread.
    IoThread,
    /// A blocking appender that found the I/O lock free
    /// ([`crate::io_thread::lead`]) and waits for its own record.
    Appender,
}
