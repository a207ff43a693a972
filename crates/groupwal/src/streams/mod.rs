//! Streams: many logical logs in one log, sharing every write and sync.
//!
//! A stream is named by a `u64` id; its entries are numbered densely by an
//! index of its own (from 1, or from the index of its first append, as a
//! Raft log needs). Its records are ordinary logical records of the log
//! (kind [`LogicalKind::Stream`], `docs/FORMAT.md`, "Streams"), so one
//! group commit serves every stream, and recovery rebuilds every stream in
//! the same pass that checks the log. The in-memory index ([`index`]) maps
//! each live entry to its LSN; reading an entry goes to the log.
//!
//! Space: a segment is removed once no stream has a live entry in it and
//! nothing below the bound given to [`Wal::purge_below`] is still
//! needed by plain records. The last purge or truncation of a stream whose
//! entries are all gone is written again before the segment holding it is
//! removed, so its next index survives.

mod index;
mod replay;

use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use wal_commit::Pending;
use wal_format::{LogicalKind, Lsn, StreamHeader, StreamOp};

use crate::error::{Error, Result};
use crate::wal::{Tail, Wal};

pub(crate) use index::StreamIndex;
pub use replay::StreamReplay;

/// The streams' share of an open [`Wal`].
#[derive(Debug, Default)]
pub(crate) struct Streams {
    state: Mutex<State>,
    /// Held by one space reclamation at a time.
    reclaim: Mutex<()>,
    /// Plain records the log may hold: see [`PlainRecords`].
    plain: PlainRecords,
    /// [`crate::WalOptions::stream_rewrite_segments`].
    rewrite_segments: Option<u64>,
}

/// What the streams need to know of plain (non-stream) records so as
/// never to remove a segment one of them still needs: the highest LSN of
/// one, and how many appends of them are under way (their LSNs are not
/// known yet). Atomics: no lock on a plain append.
#[derive(Debug, Default)]
struct PlainRecords {
    /// The highest LSN of a plain record (0: none).
    last: AtomicU64,
    in_flight: AtomicUsize,
}

/// A plain append under way ([`Streams::plain_append`]).
pub(crate) struct PlainAppend<'a>(&'a PlainRecords);

impl PlainAppend<'_> {
    /// The append made records up to `last`.
    pub(crate) fn done(&self, last: Lsn) {
        self.0.last.fetch_max(last.get(), Ordering::SeqCst);
    }
}

impl Drop for PlainAppend<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
struct State {
    index: StreamIndex,
    /// Plain (non-stream) records below this LSN are not needed any more:
    /// the highest bound given to [`Wal::purge_below`].
    plain_floor: Lsn,
    /// For each stream with no live entry, the LSN of the record that set
    /// its state (its last purge or truncation).
    state_lsn: std::collections::HashMap<u64, Lsn>,
}

impl Streams {
    pub(crate) fn new(rewrite_segments: Option<u64>) -> Self {
        Streams {
            rewrite_segments,
            ..Streams::default()
        }
    }

    /// The reader skipped damaged records before the next record it
    /// hands over ([`wal_reader::LogRecord::after_damage`], or a recovery
    /// report listing skipped damage before [`Streams::finish_replay`]):
    /// from here on the replay takes what skipped records leave (gaps, an
    /// append below the next index, copies that no longer join), as
    /// `docs/FORMAT.md` ("Streams") says. Before it, the replay is strict.
    pub(crate) fn skipped_damage(&mut self) {
        self.state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .index
            .tolerate_damage();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replays one record recovery found.
    pub(crate) fn replay(&mut self, lsn: Lsn, kind: LogicalKind, payload: &[u8]) -> Result<()> {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if kind != LogicalKind::Stream {
            self.plain.last.fetch_max(lsn.get(), Ordering::SeqCst);
            return Ok(());
        }
        let (header, entry) = StreamHeader::decode(payload).map_err(|e| Error::StreamRecord {
            lsn,
            reason: e.to_string(),
        })?;
        st.apply(&header, lsn, entry.len())
    }

    /// Ends recovery's replay ([`StreamIndex::finish_replay`]).
    pub(crate) fn finish_replay(&mut self) -> Result<()> {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        st.index
            .finish_replay()
            .map_err(|(lsn, e)| Error::StreamRecord {
                lsn,
                reason: e.reason.to_owned(),
            })?;
        let index = &st.index;
        st.state_lsn
            .retain(|&id, _| index.get(id).is_none_or(|s| s.first().is_none()));
        Ok(())
    }

    /// Notes a plain append starting: until the guard is dropped, no
    /// segment from the plain floor on is removed.
    pub(crate) fn plain_append(&self) -> PlainAppend<'_> {
        self.plain.in_flight.fetch_add(1, Ordering::SeqCst);
        PlainAppend(&self.plain)
    }

    /// Raises the plain records' floor to `lsn` (they are not needed below
    /// it any more).
    pub(crate) fn raise_plain_floor(&self, lsn: Lsn) {
        let mut st = self.lock();
        st.plain_floor = st.plain_floor.max(lsn);
    }

    /// The LSN below which every record is dead, capped at `cap`. Read
    /// `cap` (the next LSN, at most) before calling: an append that starts
    /// after that takes an LSN at or above it.
    fn removable_below(&self, st: &State, cap: Lsn) -> Lsn {
        let plain_in_flight = self.plain.in_flight.load(Ordering::SeqCst) > 0;
        let plain_last = self.plain.last.load(Ordering::SeqCst);
        // Plain records from the floor on are needed, if there may be any.
        let plain = (plain_in_flight || plain_last >= st.plain_floor.get().max(1))
            .then_some(st.plain_floor.max(Lsn::FIRST));
        [st.index.floor(), plain, Some(cap)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(cap)
    }

    /// Whether any stream exists.
    pub(crate) fn any(&self) -> bool {
        !self.lock().index.is_empty()
    }
}

impl State {
    fn apply(&mut self, header: &StreamHeader, lsn: Lsn, entry_len: usize) -> Result<()> {
        self.index
            .apply(header, lsn, entry_len)
            .map_err(|e| Error::StreamRecord {
                lsn,
                reason: format!("stream {}: {}", header.stream, e.reason),
            })?;
        let empty = self
            .index
            .get(header.stream)
            .is_none_or(|s| s.first().is_none());
        if empty {
            self.state_lsn.insert(header.stream, lsn);
        } else {
            self.state_lsn.remove(&header.stream);
        }
        Ok(())
    }
}

/// What a stream holds now ([`Wal::streams`], [`Stream::info`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The stream's id.
    pub id: u64,
    /// Its first live index (`None`: no live entry).
    pub first_index: Option<u64>,
    /// Its last live index.
    pub last_index: Option<u64>,
    /// The index its next append takes.
    pub next_index: u64,
    /// Live entries.
    pub entries: u64,
    /// The LSN of its first live entry: segments from the one holding it
    /// on are kept for it.
    pub first_lsn: Option<Lsn>,
    /// Entries appended since the log was opened, counting those recovery
    /// replayed.
    pub appended: u64,
    /// Their payload bytes.
    pub appended_bytes: u64,
    /// Segments kept for this stream: from the one holding its first live
    /// entry to the newest (0 with no live entry; `None` if the directory
    /// could not be listed). The stream with the most holds the log's
    /// disk; see [`crate::WalOptions::stream_rewrite_segments`].
    pub segments_held: Option<u64>,
    /// Entries copied forward by rewrites since the log was opened
    /// (recovery's replay included): the write amplification streams that
    /// do not purge cost ([`crate::WalOptions::stream_rewrite_segments`]).
    pub copied: u64,
    /// Their payload bytes.
    pub copied_bytes: u64,
}

fn info(id: u64, s: &index::StreamState) -> StreamInfo {
    info_with(id, s, None)
}

/// [`StreamInfo`] of a stream, with [`StreamInfo::segments_held`] from the
/// segments' first LSNs when known.
fn info_with(id: u64, s: &index::StreamState, starts: Option<&[Lsn]>) -> StreamInfo {
    let segments_held = starts.map(|starts| {
        s.first_lsn().map_or(0, |first| {
            let holding = starts
                .partition_point(|&start| start <= first)
                .saturating_sub(1);
            (starts.len() - holding) as u64
        })
    });
    StreamInfo {
        segments_held,
        id,
        first_index: s.first(),
        last_index: s.last(),
        next_index: s.next(),
        entries: s.len(),
        first_lsn: s.first_lsn(),
        appended: s.appended(),
        appended_bytes: s.appended_bytes(),
        copied: s.copied().0,
        copied_bytes: s.copied().1,
    }
}

/// Stream records built under the index lock, ready to queue.
#[derive(Debug, Default)]
struct Built<R> {
    headers: Vec<(StreamHeader, usize)>,
    payloads: Vec<Vec<u8>>,
    /// What the caller gets back (the index of the last entry, ...).
    result: R,
}

impl<R> Built<R> {
    fn push(&mut self, op: StreamOp, stream: u64, index: u64, entry: &[u8]) {
        self.headers
            .push((StreamHeader { op, stream, index }, entry.len()));
        self.payloads.push(payload(op, stream, index, entry));
    }
}

/// Appends of entries to several streams, each at its stream's next index
/// (entries of one stream in the order given); the result is each entry's
/// index.
fn appends_across<P: AsRef<[u8]>>(st: &State, entries: &[(u64, P)]) -> Result<Built<Vec<u64>>> {
    let mut next: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let mut built: Built<Vec<u64>> = Built::default();
    for (stream, entry) in entries {
        let slot = next
            .entry(*stream)
            .or_insert_with(|| st.index.next(*stream).unwrap_or(1));
        if *slot > index::MAX_INDEX {
            return Err(indexes_exhausted());
        }
        built.push(StreamOp::Append, *stream, *slot, entry.as_ref());
        built.result.push(*slot);
        *slot += 1;
    }
    Ok(built)
}

/// An append past [`Stream::MAX_INDEX`].
fn indexes_exhausted() -> Error {
    Error::InvalidOption {
        name: "index",
        reason: "a stream entry's index must be at most Stream::MAX_INDEX (u64::MAX - 1)",
    }
}

/// Applies records just queued (`pending` is the last) to the index.
fn apply_queued(
    st: &mut State,
    pending: &Pending,
    headers: &[(StreamHeader, usize)],
) -> Result<()> {
    let last = pending.lsn().get();
    let first = last + 1 - headers.len() as u64;
    for (i, (header, len)) in headers.iter().enumerate() {
        st.apply(header, Lsn::new(first + i as u64), *len)?;
    }
    Ok(())
}

fn payload(op: StreamOp, stream: u64, index: u64, entry: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(StreamHeader::ENCODED_LEN + entry.len());
    StreamHeader { op, stream, index }.encode_into(&mut out);
    out.extend_from_slice(entry);
    out
}

impl Wal {
    /// A handle on stream `id`. A stream exists once something was
    /// appended to it; the handle itself costs nothing.
    #[must_use]
    pub fn stream(&self, id: u64) -> Stream<'_> {
        Stream { wal: self, id }
    }

    /// Every stream the log holds (any order).
    #[must_use]
    pub fn streams(&self) -> Vec<StreamInfo> {
        let starts = self.segment_starts();
        let st = self.streams.lock();
        st.index
            .streams()
            .map(|(id, s)| info_with(id, s, Some(&starts)))
            .collect()
    }

    /// Appends entries to several streams as one atomic batch (after a
    /// crash all of them are there or none): a Raft "ready" carrying
    /// entries of many groups. Each entry takes its stream's next index
    /// (entries of one stream in the order given). Blocks until durable;
    /// returns each entry's index, in the order given.
    ///
    /// # Errors
    ///
    /// As [`Wal::append_batch`].
    pub fn append_streams<P: AsRef<[u8]>>(&self, entries: &[(u64, P)]) -> Result<Vec<u64>> {
        let (pending, indexes) = self.submit_built(|st| appends_across(st, entries))?;
        pending.wait()?;
        Ok(indexes)
    }

    /// The async form of [`Wal::append_streams`].
    ///
    /// # Errors
    ///
    /// As [`Wal::append_streams`].
    pub async fn append_streams_async<P: AsRef<[u8]>>(
        &self,
        entries: &[(u64, P)],
    ) -> Result<Vec<u64>> {
        let (pending, indexes) = self
            .submit_built_async(|st| appends_across(st, entries))
            .await?;
        pending.wait_async().await?;
        Ok(indexes)
    }

    /// Builds stream records under the index lock (`build` picks their
    /// indexes from the index as it is), queues them and applies them to
    /// the index before the lock goes, so that index order is LSN order.
    /// Blocks while the in-flight bound is reached. Wakes no thread (no
    /// system call under the lock): wait on the handle, which writes the
    /// group or leaves it to whoever is writing, or call
    /// [`Wal::submitted`].
    fn submit_built<R>(&self, build: impl Fn(&State) -> Result<Built<R>>) -> Result<(Pending, R)> {
        let mut st = self.streams.lock();
        let built = build(&st)?;
        let pending = self.submit_stream_records(&mut st, built.payloads, &built.headers)?;
        Ok((pending, built.result))
    }

    /// [`Wal::submit_built`] for async callers: never blocks the thread.
    /// While the in-flight bound is reached it lets go of the lock, awaits
    /// room, and builds again (the indexes may have moved meanwhile).
    async fn submit_built_async<R>(
        &self,
        build: impl Fn(&State) -> Result<Built<R>>,
    ) -> Result<(Pending, R)> {
        loop {
            // An async waiter never writes: wake the I/O thread, once the
            // lock is released.
            let tried = self.try_submit_built(&build);
            self.submitted();
            match tried? {
                Ok(queued) => return Ok(queued),
                Err(bytes) => self.committer.room_async(bytes).await?,
            }
        }
    }

    /// [`Wal::submit_built`] that never waits: `Ok(Err(bytes))` while the
    /// in-flight bound is reached.
    fn try_submit_built<R>(
        &self,
        build: impl Fn(&State) -> Result<Built<R>>,
    ) -> Result<std::result::Result<(Pending, R), usize>> {
        let mut st = self.streams.lock();
        let built = build(&st)?;
        match self
            .committer
            .try_submit_owned(LogicalKind::Stream, built.payloads)?
        {
            Ok(pending) => {
                apply_queued(&mut st, &pending, &built.headers)?;
                Ok(Ok((pending, built.result)))
            }
            Err(payloads) => Ok(Err(payloads.iter().map(Vec::len).sum())),
        }
    }

    /// After queueing stream records whose handle is not waited on at once
    /// (or is waited on from async code): wakes the I/O thread if it
    /// sleeps. Call with the index lock released.
    fn submitted(&self) {
        self.committer.kick();
    }

    /// Queues stream records (an atomic batch when several) and applies
    /// them to the index, under the index lock so that index order is LSN
    /// order.
    fn submit_stream_records(
        &self,
        st: &mut State,
        payloads: Vec<Vec<u8>>,
        headers: &[(StreamHeader, usize)],
    ) -> Result<Pending> {
        let pending = self.committer.submit_owned(LogicalKind::Stream, payloads)?;
        apply_queued(st, &pending, headers)?;
        Ok(pending)
    }

    /// Removes the segments that hold nothing live, capped at `cap`
    /// (writing forward the state records of empty streams first); returns
    /// how many were removed.
    pub(crate) fn reclaim(&self, cap: Lsn) -> Result<usize> {
        let _one = self
            .streams
            .reclaim
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.rewrite(cap)?;
        let (below, carried) = {
            let mut st = self.streams.lock();
            // A bound past what is durable means "everything written so
            // far", not records still to come.
            let written = self.committer.durable_lsn().saturating_add(1);
            st.plain_floor = st.plain_floor.min(written);
            let below = self.streams.removable_below(&st, cap);
            let stale: Vec<(u64, u64)> = st
                .state_lsn
                .iter()
                .filter(|&(_, &lsn)| lsn < below)
                .filter_map(|(&id, _)| st.index.get(id).map(|s| (id, s.next())))
                .collect();
            let mut carried = None;
            for (id, next) in stale {
                let header = StreamHeader {
                    op: StreamOp::Purge,
                    stream: id,
                    index: next,
                };
                let p = payload(StreamOp::Purge, id, next, &[]);
                carried = Some(self.submit_stream_records(&mut st, vec![p], &[(header, 0)])?);
            }
            (below, carried)
        };
        if let Some(p) = carried {
            p.wait()?;
        }
        if below <= Lsn::FIRST {
            return Ok(0);
        }
        Ok(self.committer.purge_below(below)?)
    }
}

impl Wal {
    /// The first LSN of every segment, oldest first.
    pub(crate) fn segment_starts(&self) -> Vec<Lsn> {
        self.committer.segment_starts()
    }

    /// Copies forward the live stream entries of the segments beyond the
    /// newest [`crate::WalOptions::stream_rewrite_segments`], if the log
    /// holds more than that many and streams keep the oldest. `cap`: the
    /// next LSN when the reclamation began.
    fn rewrite(&self, cap: Lsn) -> Result<()> {
        let Some(keep) = self.streams.rewrite_segments else {
            return Ok(());
        };
        let floor = self.streams.lock().index.floor();
        let Some(floor) = floor else {
            return Ok(());
        };
        let starts = self.segment_starts();
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        let Some(&target) = starts.len().checked_sub(keep).and_then(|i| starts.get(i)) else {
            return Ok(());
        };
        let target = target.min(cap);
        if floor >= target {
            return Ok(());
        }
        // The entries to copy, stream by stream, in index order.
        let victims: Vec<(u64, Vec<(u64, Lsn)>)> = {
            let st = self.streams.lock();
            st.index
                .streams()
                .filter_map(|(id, s)| {
                    let old: Vec<(u64, Lsn)> = s.entries().filter(|&(_, l)| l < target).collect();
                    (!old.is_empty()).then_some((id, old))
                })
                .collect()
        };
        // Worth it only while the live entries are the smaller part of the
        // old segments (counted in records): copying most of them forward
        // would take about as much room as it frees, and again next time.
        let live: u64 = victims.iter().map(|(_, old)| old.len() as u64).sum();
        let span = starts.first().map_or(0, |&first| target.since(first));
        if live.saturating_mul(2) > span {
            tracing::debug!(live, span, "old segments mostly live: not rewritten");
            return Ok(());
        }
        let mut last = None;
        for (stream, old) in victims {
            let mut reader = EntryReader::new(self, stream);
            for (index, lsn) in old {
                let entry = reader.read(index, lsn)?;
                let mut st = self.streams.lock();
                // Still the same entry (not purged, truncated, rewritten).
                if st.index.get(stream).and_then(|s| s.lsn(index)) != Some(lsn) {
                    continue;
                }
                let header = StreamHeader {
                    op: StreamOp::Copy,
                    stream,
                    index,
                };
                let p = payload(StreamOp::Copy, stream, index, &entry);
                last =
                    Some(self.submit_stream_records(&mut st, vec![p], &[(header, entry.len())])?);
            }
        }
        if let Some(p) = last {
            let copied = p.wait()?;
            tracing::debug!(below = %target, through = %copied, "copied live stream entries forward");
        }
        Ok(())
    }
}

/// Reads one stream's entries by LSN, reusing one tail while they come in
/// LSN order.
struct EntryReader<'a> {
    wal: &'a Wal,
    stream: u64,
    tail: Option<Tail>,
}

impl<'a> EntryReader<'a> {
    fn new(wal: &'a Wal, stream: u64) -> Self {
        EntryReader {
            wal,
            stream,
            tail: None,
        }
    }

    /// The entry at `index`, which the index places at `lsn`: waits for it
    /// to be durable, then reads it and checks the record is that entry.
    fn read(&mut self, index: u64, lsn: Lsn) -> Result<Vec<u8>> {
        self.wal.committer.wait_for(lsn)?;
        // Copies move entries forward, so an entry may lie behind the
        // reader: start again from it.
        if self.tail.as_ref().is_none_or(|t| t.next_lsn() > lsn) {
            self.tail = Some(self.wal.tail(lsn)?);
        }
        let wrong = |reason: String| Error::StreamRecord { lsn, reason };
        let Some(tail) = self.tail.as_mut() else {
            return Err(wrong("no reader".into()));
        };
        loop {
            let Some(record) = tail.try_next()? else {
                return Err(wrong(
                    "a durable stream entry the reader did not find".into(),
                ));
            };
            if record.lsn < lsn {
                continue;
            }
            let found = (record.kind == LogicalKind::Stream)
                .then(|| StreamHeader::decode(&record.payload).ok())
                .flatten()
                .filter(|(h, _)| {
                    record.lsn == lsn
                        && h.stream == self.stream
                        && h.index == index
                        && h.op.carries_entry()
                })
                .map(|(_, entry)| entry.to_vec());
            return found.ok_or_else(|| {
                wrong(format!(
                    "the index places stream {} entry {index} here, the record disagrees",
                    self.stream
                ))
            });
        }
    }
}

/// One stream of a [`Wal`]: see [`Wal::stream`].
#[derive(Clone, Copy, Debug)]
pub struct Stream<'a> {
    wal: &'a Wal,
    id: u64,
}

/// A stream entry queued by [`Stream::submit`]: its index now, its
/// durability to wait for.
#[derive(Debug)]
pub struct StreamPending {
    pending: Pending,
    index: u64,
}

impl StreamPending {
    /// The entry's index.
    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The entry's LSN in the log.
    #[must_use]
    pub fn lsn(&self) -> Lsn {
        self.pending.lsn()
    }

    /// Blocks until the entry is durable; returns its index.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub fn wait(self) -> Result<u64> {
        self.pending.wait()?;
        Ok(self.index)
    }

    /// Waits, without blocking the thread, until the entry is durable.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub async fn wait_async(self) -> Result<u64> {
        self.pending.wait_async().await?;
        Ok(self.index)
    }

    /// Calls `callback` once the entry (the last of a batch: all of it) is
    /// durable, with what [`StreamPending::wait`] would have returned,
    /// without a thread or task waiting meanwhile; with the error if a
    /// write or sync fails first or the log is closed. Called exactly once.
    ///
    /// It runs on the log's own thread, right after the sync that covers
    /// the entry (or at once on this thread if that is decided already):
    /// it must be quick and must not block, nor call anything of the log
    /// that waits. See [`Pending::on_durable`].
    pub fn on_durable(self, callback: impl FnOnce(Result<u64>) + Send + 'static) {
        let index = self.index;
        self.pending
            .on_durable(move |r| callback(r.map(|_| index).map_err(Error::from)));
    }
}

impl Stream<'_> {
    /// The highest index an entry may take (`u64::MAX - 1`: the next index
    /// after it must fit). An append past it is refused.
    pub const MAX_INDEX: u64 = index::MAX_INDEX;

    /// The stream's id.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What the stream holds now; `None` if the log holds nothing of it.
    #[must_use]
    pub fn info(&self) -> Option<StreamInfo> {
        let starts = self.wal.segment_starts();
        let st = self.wal.streams.lock();
        st.index
            .get(self.id)
            .map(|s| info_with(self.id, s, Some(&starts)))
    }

    /// The first live index (`None`: no live entry).
    #[must_use]
    pub fn first_index(&self) -> Option<u64> {
        self.state(index::StreamState::first).flatten()
    }

    /// The last live index (`None`: no live entry).
    #[must_use]
    pub fn last_index(&self) -> Option<u64> {
        self.state(index::StreamState::last).flatten()
    }

    /// The index the next append takes: 1 for a stream the log holds
    /// nothing of.
    #[must_use]
    pub fn next_index(&self) -> u64 {
        self.state(index::StreamState::next).unwrap_or(1)
    }

    fn state<T>(&self, f: impl FnOnce(&index::StreamState) -> T) -> Option<T> {
        self.wal.streams.lock().index.get(self.id).map(f)
    }

    /// Appends one entry at the stream's next index and blocks until it is
    /// durable; returns the index.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub fn append(&self, entry: &[u8]) -> Result<u64> {
        self.queue(None, &[entry])?.wait()
    }

    /// The async form of [`Stream::append`].
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub async fn append_async(&self, entry: &[u8]) -> Result<u64> {
        self.queue_async(None, &[entry]).await?.wait_async().await
    }

    /// Queues one entry at the stream's next index and returns at once
    /// with a handle to wait on. The entry is in the stream's index (its
    /// last index counts it) from here on.
    ///
    /// # Errors
    ///
    /// As [`Wal::submit`].
    pub fn submit(&self, entry: &[u8]) -> Result<StreamPending> {
        let queued = self.queue(None, &[entry]);
        self.wal.submitted();
        queued
    }

    /// Queues `entries` from `first` ([`Stream::appends_from`]) without
    /// waking the log's thread: the caller waits on the handle at once
    /// (which writes the group, or leaves it to whoever is writing), or
    /// calls [`Wal::submitted`].
    fn queue<P: AsRef<[u8]>>(&self, first: Option<u64>, entries: &[P]) -> Result<StreamPending> {
        let (pending, index) = self
            .wal
            .submit_built(|st| self.appends_from(st, first, entries))?;
        Ok(StreamPending { pending, index })
    }

    /// The async form of [`Stream::queue`] (which wakes the log's thread:
    /// an async waiter never writes).
    async fn queue_async<P: AsRef<[u8]>>(
        &self,
        first: Option<u64>,
        entries: &[P],
    ) -> Result<StreamPending> {
        let (pending, index) = self
            .wal
            .submit_built_async(|st| self.appends_from(st, first, entries))
            .await?;
        Ok(StreamPending { pending, index })
    }

    /// Appends of `entries` to this stream from `first` (which must be the
    /// next index; `None`: the next index, whatever it is); the result is
    /// the last index.
    fn appends_from<P: AsRef<[u8]>>(
        &self,
        st: &State,
        first: Option<u64>,
        entries: &[P],
    ) -> Result<Built<u64>> {
        let expected = st.index.next(self.id);
        let first = match first {
            None => expected.unwrap_or(1),
            Some(first) if first == 0 || expected.is_some_and(|e| e != first) => {
                return Err(Error::StreamIndex {
                    stream: self.id,
                    index: first,
                    expected: expected.unwrap_or(1),
                });
            }
            Some(first) => first,
        };
        let last = u64::try_from(entries.len().saturating_sub(1))
            .ok()
            .and_then(|n| first.checked_add(n))
            .filter(|&last| last <= index::MAX_INDEX)
            .ok_or_else(indexes_exhausted)?;
        let mut built = Built::default();
        for (entry, index) in entries.iter().zip(first..) {
            built.push(StreamOp::Append, self.id, index, entry.as_ref());
        }
        built.result = last;
        Ok(built)
    }

    /// Appends `entries` at indexes `first`, `first + 1`, ... as one atomic
    /// batch and blocks until they are durable; returns the last index.
    /// `first` must be the stream's next index, or anything (at least 1)
    /// for a stream the log holds nothing of: a Raft log that starts after
    /// a snapshot.
    ///
    /// # Errors
    ///
    /// [`Error::StreamIndex`] when `first` is not the next index (truncate
    /// first to overwrite); as [`Wal::append_batch`].
    pub fn append_at<P: AsRef<[u8]>>(&self, first: u64, entries: &[P]) -> Result<u64> {
        self.queue(Some(first), entries)?.wait()
    }

    /// The async form of [`Stream::append_at`].
    ///
    /// # Errors
    ///
    /// As [`Stream::append_at`].
    pub async fn append_at_async<P: AsRef<[u8]>>(&self, first: u64, entries: &[P]) -> Result<u64> {
        self.queue_async(Some(first), entries)
            .await?
            .wait_async()
            .await
    }

    /// [`Stream::append_at`] without waiting: the entries are in the
    /// stream's index when it returns; the handle gives the last index.
    ///
    /// # Errors
    ///
    /// As [`Stream::append_at`].
    pub fn submit_at<P: AsRef<[u8]>>(&self, first: u64, entries: &[P]) -> Result<StreamPending> {
        let queued = self.queue(Some(first), entries);
        self.wal.submitted();
        queued
    }

    /// Removes the entries below `index` (after a snapshot made them
    /// unnecessary), durably; segments that hold nothing live any more are
    /// removed. Later appends go on at the next index (or at `index`, if
    /// that is past it). Blocking.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`]; an I/O error removing segments.
    pub fn purge_below(&self, index: u64) -> Result<()> {
        self.control(StreamOp::Purge, index)?;
        self.wal.reclaim(self.wal.committer.next_lsn())?;
        Ok(())
    }

    /// Removes the entries at and after `index` durably (a Raft follower
    /// dropping a conflicting suffix); the next append takes `index` (or
    /// the next index as it was, if `index` is past it: indexes stay
    /// dense). Blocking.
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub fn truncate_from(&self, index: u64) -> Result<()> {
        self.control(StreamOp::Truncate, index)
    }

    fn control(&self, op: StreamOp, index: u64) -> Result<()> {
        if index == 0 {
            return Err(Error::InvalidOption {
                name: "index",
                reason: "stream indexes start at 1",
            });
        }
        let pending = {
            let mut st = self.wal.streams.lock();
            let header = StreamHeader {
                op,
                stream: self.id,
                index,
            };
            let p = payload(op, self.id, index, &[]);
            self.wal
                .submit_stream_records(&mut st, vec![p], &[(header, 0)])?
        };
        pending.wait()?;
        Ok(())
    }

    /// The live entries with indexes in `range`, as `(index, bytes)`,
    /// read from the log in bounded memory. Entries appended and not yet
    /// durable are waited for. Blocking I/O: iterate from a thread.
    ///
    /// # Errors
    ///
    /// [`Error::StreamPurged`] for a range that starts below the first
    /// live index; the iterator ends early (with that error) if entries
    /// are purged or truncated under it.
    pub fn read(&self, range: impl RangeBounds<u64>) -> Result<StreamEntries<'_>> {
        let info = self.info();
        let first = info.and_then(|i| i.first_index);
        let next = info.map_or(1, |i| i.next_index);
        let from = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => first.unwrap_or(next),
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => i.saturating_add(1),
            Bound::Excluded(&i) => i,
            Bound::Unbounded => next,
        }
        .min(next);
        if from < end && first.is_none_or(|f| from < f) {
            return Err(Error::StreamPurged {
                stream: self.id,
                index: from,
                first,
            });
        }
        Ok(StreamEntries {
            reader: EntryReader::new(self.wal, self.id),
            next: from,
            end,
        })
    }
}

/// The entries of a stream in a range: see [`Stream::read`].
pub struct StreamEntries<'a> {
    reader: EntryReader<'a>,
    next: u64,
    end: u64,
}

impl std::fmt::Debug for StreamEntries<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEntries")
            .field("stream", &self.reader.stream)
            .field("next", &self.next)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl StreamEntries<'_> {
    fn read_next(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        if self.next >= self.end {
            return Ok(None);
        }
        let index = self.next;
        let stream = self.reader.stream;
        let lsn = {
            let st = self.reader.wal.streams.lock();
            let s = st.index.get(stream);
            match s.and_then(|s| s.lsn(index)) {
                Some(lsn) => lsn,
                None => {
                    let first = s.and_then(index::StreamState::first);
                    let next = s.map_or(1, index::StreamState::next);
                    return if first.is_none_or(|f| index < f) {
                        Err(Error::StreamPurged {
                            stream,
                            index,
                            first,
                        })
                    } else if index < next {
                        // A hole the skipping recovery left.
                        Err(Error::StreamGap { stream, index })
                    } else {
                        // Truncated under the reader: the range ends here.
                        self.end = index;
                        Ok(None)
                    };
                }
            }
        };
        let entry = self.reader.read(index, lsn)?;
        self.next = index + 1;
        Ok(Some((index, entry)))
    }
}

impl Iterator for StreamEntries<'_> {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.read_next() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.end = self.next;
                Some(Err(e))
            }
        }
    }
}
