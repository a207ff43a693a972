//! [`LogStore`]: openraft's `RaftLogStorage` and `RaftLogReader` on two
//! streams of a groupwal log.

use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::io;
use std::ops::{Bound, Range, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use groupwal::{Stream, Wal};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{
    ErrorSubject, ErrorVerb, LogId, NodeId, OptionalSend, RaftLogId, RaftTypeConfig, StorageError,
    Vote,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Stream ids with this bit set hold the groups' metadata: group `g`'s is
/// `g | META_BIT`.
pub const META_BIT: u64 = 1 << 63;

/// The cache of recent entries keeps at least the entries not yet durable
/// (they are served from it without waiting for their sync) and, beyond
/// them, at most this many entries...
const CACHE_ENTRIES: usize = 4096;
/// ... and this many bytes (encoded).
const CACHE_BYTES: usize = 8 << 20;

/// Metadata records written since the last purge of the metadata stream
/// beyond which `save_vote` purges the older ones.
const META_KEEP: u64 = 64;

/// The metadata stream's record: the group's state outside its entries.
/// Its latest record is the state. Format version 1.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct Meta<NID: NodeId> {
    /// The format version (1).
    v: u32,
    vote: Option<Vote<NID>>,
    last_purged: Option<LogId<NID>>,
}

impl<NID: NodeId> Meta<NID> {
    fn encode(&self, group: u64) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|source| Error::Encode {
            group,
            what: "metadata",
            source,
        })
    }
}

/// A Raft group's log in a groupwal [`Wal`]: openraft's
/// [`RaftLogStorage`]. See the crate docs for the layout and the
/// guarantees.
///
/// Writes take `&mut self` (openraft issues them one at a time, in order);
/// readers for replication come from [`LogStore::reader`].
pub struct LogStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
}

/// A reader of a [`LogStore`]'s entries (openraft's
/// [`RaftLogStorage::LogReader`]): cheap to clone, reads what the store
/// holds at the time.
pub struct LogReader<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
}

impl<C: RaftTypeConfig> Clone for LogReader<C> {
    fn clone(&self) -> Self {
        LogReader {
            shared: self.shared.clone(),
        }
    }
}

impl<C: RaftTypeConfig> Debug for LogStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStore")
            .field("group", &self.shared.group)
            .finish_non_exhaustive()
    }
}

impl<C: RaftTypeConfig> Debug for LogReader<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader")
            .field("group", &self.shared.group)
            .finish_non_exhaustive()
    }
}

struct Shared<C: RaftTypeConfig> {
    wal: Arc<Wal>,
    group: u64,
    meta: u64,
    state: Mutex<State<C>>,
    /// Entries below this Raft index are durable (their callbacks ran).
    /// Only decides which entries the cache may let go.
    durable: Arc<AtomicU64>,
}

/// What the store holds, in memory. Never locked across an await or a
/// blocking call.
struct State<C: RaftTypeConfig> {
    vote: Option<Vote<C::NodeId>>,
    last_purged: Option<LogId<C::NodeId>>,
    /// The first present entry's Raft index.
    first: Option<u64>,
    /// The last present entry's id.
    last: Option<LogId<C::NodeId>>,
    /// Recent entries, encoded, by Raft index: a contiguous run ending at
    /// `last` (appends extend it, a truncation cuts it, a purge and the
    /// bound trim its front).
    cache: BTreeMap<u64, Arc<[u8]>>,
    cache_bytes: usize,
}

impl<C: RaftTypeConfig> State<C> {
    /// The Raft index the next append must start at (`None`: anywhere, the
    /// log holds nothing of the group).
    fn next_index(&self) -> Option<u64> {
        match (&self.last, &self.last_purged) {
            (Some(l), _) => Some(l.index + 1),
            (None, Some(p)) => Some(p.index + 1),
            (None, None) => None,
        }
    }

    fn cache_trim(&mut self, durable: u64) {
        while self.cache.len() > CACHE_ENTRIES || self.cache_bytes > CACHE_BYTES {
            let Some(entry) = self.cache.first_entry() else {
                break;
            };
            if *entry.key() >= durable {
                break;
            }
            self.cache_bytes -= entry.remove().len();
        }
    }

    /// Drops cached entries at and after `index`.
    fn cache_cut_from(&mut self, index: u64) {
        let cut = self.cache.split_off(&index);
        self.cache_bytes -= cut.values().map(|b| b.len()).sum::<usize>();
    }

    /// Drops cached entries at and below `index`.
    fn cache_purge_through(&mut self, index: u64) {
        let keep = self.cache.split_off(&index.saturating_add(1));
        let gone = std::mem::replace(&mut self.cache, keep);
        self.cache_bytes -= gone.values().map(|b| b.len()).sum::<usize>();
    }
}

impl<C: RaftTypeConfig> Shared<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self) -> Stream<'_> {
        self.wal.stream(self.group)
    }

    fn decode_entry(&self, index: u64, bytes: &[u8]) -> Result<C::Entry> {
        decode_entry::<C>(self.group, index, bytes)
    }

    /// The entries with Raft indexes in `[start, end)` that the store
    /// holds: the cached ones from memory, the older ones from the log on
    /// a blocking thread.
    async fn read_range(self: &Arc<Self>, start: u64, end: u64) -> Result<Vec<C::Entry>> {
        let (disk, cached) = {
            let st = self.lock();
            let (Some(first), Some(last)) = (st.first, st.last.as_ref().map(|l| l.index)) else {
                return Ok(Vec::new());
            };
            let start = start.max(first);
            let end = end.min(last + 1);
            if start >= end {
                return Ok(Vec::new());
            }
            let cache_first = st.cache.keys().next().copied().unwrap_or(last + 1);
            let disk = (start < cache_first).then(|| start..end.min(cache_first));
            let cached: Vec<(u64, Arc<[u8]>)> = st
                .cache
                .range(start.max(cache_first)..end)
                .map(|(&i, b)| (i, b.clone()))
                .collect();
            (disk, cached)
        };
        let mut out = Vec::new();
        if let Some(range) = disk {
            let want = range.end - range.start;
            let shared = self.clone();
            out = crate::blocking::run(move || shared.read_from_log(range)).await??;
            if (out.len() as u64) < want {
                // Purged or truncated under the read: what follows would
                // leave a hole.
                return Ok(out);
            }
        }
        out.reserve(cached.len());
        for (index, bytes) in cached {
            out.push(self.decode_entry(index, &bytes)?);
        }
        Ok(out)
    }

    /// Reads entries from the log (blocking: waits for entries not yet
    /// durable). Entries purged before or under the read are left out.
    fn read_from_log(&self, range: Range<u64>) -> Result<Vec<C::Entry>> {
        let log = self.log();
        let entries = match log.read(range.start + 1..range.end + 1) {
            Ok(entries) => entries,
            Err(groupwal::Error::StreamPurged { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        for entry in entries {
            let (index, bytes) = match entry {
                Ok(e) => e,
                Err(groupwal::Error::StreamPurged { .. }) => break,
                Err(e) => return Err(e.into()),
            };
            out.push(self.decode_entry(index - 1, &bytes)?);
        }
        Ok(out)
    }

    fn log_state(&self) -> LogState<C> {
        let st = self.lock();
        LogState {
            last_purged_log_id: st.last_purged.clone(),
            last_log_id: st.last.clone().or_else(|| st.last_purged.clone()),
        }
    }
}

fn decode_entry<C: RaftTypeConfig>(group: u64, index: u64, bytes: &[u8]) -> Result<C::Entry> {
    let entry: C::Entry = serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        group,
        what: "entry",
        index: index + 1,
        source,
    })?;
    let found = entry.get_log_id().index;
    if found != index {
        return Err(Error::Misplaced {
            group,
            index,
            found,
        });
    }
    Ok(entry)
}

/// Reads the entry at `index` of `stream` (blocking).
fn read_one(stream: &Stream<'_>, group: u64, index: u64) -> Result<Vec<u8>> {
    match stream.read(index..=index)?.next() {
        Some(entry) => Ok(entry?.1),
        None => Err(Error::Missing { group, index }),
    }
}

/// The metadata stream of `group`.
fn meta_stream_id(group: u64) -> Result<u64> {
    if group & META_BIT != 0 {
        return Err(Error::GroupId(group));
    }
    Ok(group | META_BIT)
}

impl<C: RaftTypeConfig> LogStore<C> {
    /// Opens Raft group `group`'s log in `wal` (stream `group` for the
    /// entries, stream `group | 1 << 63` for the vote and the last purged
    /// log id), a new one if the log holds nothing of it. Blocking: reads
    /// the last entry and the metadata, and finishes a purge a crash
    /// interrupted. From async code use [`LogStore::open_async`].
    ///
    /// Open each group once per `wal`; many groups may share it (and its
    /// syncs).
    ///
    /// # Errors
    ///
    /// [`Error::GroupId`] for a group id with the top bit set; what
    /// reading the log gives ([`Error::Wal`], [`Error::Decode`],
    /// [`Error::Misplaced`]).
    pub fn open(wal: Arc<Wal>, group: u64) -> Result<Self> {
        let meta_id = meta_stream_id(group)?;
        let meta = {
            let stream = wal.stream(meta_id);
            match stream.last_index() {
                Some(index) => {
                    let bytes = read_one(&stream, meta_id, index)?;
                    serde_json::from_slice::<Meta<C::NodeId>>(&bytes).map_err(|source| {
                        Error::Decode {
                            group,
                            what: "metadata",
                            index,
                            source,
                        }
                    })?
                }
                None => Meta {
                    v: 1,
                    vote: None,
                    last_purged: None,
                },
            }
        };
        let log = wal.stream(group);
        // A purge writes the metadata first, then purges the entries: a
        // crash in between left entries the metadata says are gone.
        if let Some(p) = &meta.last_purged {
            let bound = p.index + 2;
            if log.first_index().is_some_and(|f| f < bound) || log.next_index() < bound {
                log.purge_below(bound)?;
            }
        }
        let last = match log.last_index() {
            Some(index) => {
                let bytes = read_one(&log, group, index)?;
                Some(
                    decode_entry::<C>(group, index - 1, &bytes)?
                        .get_log_id()
                        .clone(),
                )
            }
            None => None,
        };
        let first = log.first_index().map(|f| f - 1);
        let durable = last.as_ref().map_or(0, |l| l.index + 1);
        tracing::debug!(group, ?first, last = ?last.as_ref().map(|l| l.index), "raft log opened");
        Ok(LogStore {
            shared: Arc::new(Shared {
                wal,
                group,
                meta: meta_id,
                state: Mutex::new(State {
                    vote: meta.vote,
                    last_purged: meta.last_purged,
                    first,
                    last,
                    cache: BTreeMap::new(),
                    cache_bytes: 0,
                }),
                durable: Arc::new(AtomicU64::new(durable)),
            }),
        })
    }

    /// [`LogStore::open`] on a blocking thread.
    ///
    /// # Errors
    ///
    /// As [`LogStore::open`].
    pub async fn open_async(wal: Arc<Wal>, group: u64) -> Result<Self> {
        crate::blocking::run(move || LogStore::open(wal, group)).await?
    }

    /// The group's id (its entries' stream id).
    #[must_use]
    pub fn group(&self) -> u64 {
        self.shared.group
    }

    /// The log the group lives in.
    #[must_use]
    pub fn wal(&self) -> &Arc<Wal> {
        &self.shared.wal
    }

    /// A reader of the entries, for replication.
    #[must_use]
    pub fn reader(&self) -> LogReader<C> {
        LogReader {
            shared: self.shared.clone(),
        }
    }

    /// What openraft's `append` does, with a plain callback: queues
    /// `entries` (consecutive, starting at the log's next index) and
    /// returns at once; they are readable from here on. `done` is called
    /// exactly once: with `Ok` right after the sync that covers them
    /// returned, on the log's own thread (so it must be quick and must not
    /// block); with the error if the write or sync failed, the log is
    /// closed first, or this returns an error (before it returns).
    ///
    /// It waits only if groupwal's bound on bytes in flight
    /// (`WalOptions::max_in_flight_bytes`) is reached, until a sync makes
    /// room.
    ///
    /// # Errors
    ///
    /// [`Error::NotConsecutive`] (nothing written), [`Error::Encode`],
    /// [`Error::Wal`] (a poisoned or closed log).
    pub fn append_with<I>(
        &mut self,
        entries: I,
        done: impl FnOnce(io::Result<()>) + Send + 'static,
    ) -> Result<()>
    where
        I: IntoIterator<Item = C::Entry>,
    {
        match self.try_append(entries) {
            Ok(Some((pending, last))) => {
                let durable = self.shared.durable.clone();
                pending.on_durable(move |r| match r {
                    Ok(_) => {
                        durable.fetch_max(last + 1, Ordering::AcqRel);
                        done(Ok(()));
                    }
                    Err(e) => done(Err(io::Error::other(e))),
                });
                Ok(())
            }
            Ok(None) => {
                // Nothing to write. The callback still waits for the
                // appends before it: everything appended is durable, or a
                // rewrite of the metadata (whose sync covers every earlier
                // record) carries the callback.
                let all_durable = {
                    let st = self.shared.lock();
                    st.last
                        .as_ref()
                        .is_none_or(|l| self.shared.durable.load(Ordering::Acquire) > l.index)
                };
                if all_durable {
                    done(Ok(()));
                    return Ok(());
                }
                match self.rewrite_meta() {
                    Ok(pending) => {
                        pending.on_durable(move |r| done(r.map(|_| ()).map_err(io::Error::other)));
                        Ok(())
                    }
                    Err(e) => {
                        done(Err(io::Error::other(e.to_string())));
                        Err(e)
                    }
                }
            }
            Err(e) => {
                done(Err(io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    /// Encodes and queues the entries; the pending write of the last and
    /// its Raft index (`None`: no entry, or only entries at or below the
    /// last purged index, which are skipped).
    fn try_append<I>(&mut self, entries: I) -> Result<Option<(groupwal::StreamPending, u64)>>
    where
        I: IntoIterator<Item = C::Entry>,
    {
        let group = self.shared.group;
        let (expected, purged) = {
            let st = self.shared.lock();
            (st.next_index(), st.last_purged.as_ref().map(|p| p.index))
        };
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        let mut first = None;
        let mut last: Option<LogId<C::NodeId>> = None;
        for entry in entries {
            let id = entry.get_log_id();
            if purged.is_some_and(|p| id.index <= p) {
                // Purged already: committed, applied and let go. (openraft
                // does not send these; its storage suite does.)
                continue;
            }
            let due = last.as_ref().map(|l| l.index + 1).or(expected);
            if let Some(due) = due
                && id.index != due
            {
                return Err(Error::NotConsecutive {
                    group,
                    expected: due,
                    got: id.index,
                });
            }
            first.get_or_insert(id.index);
            payloads.push(serde_json::to_vec(&entry).map_err(|source| Error::Encode {
                group,
                what: "entry",
                source,
            })?);
            last = Some(id.clone());
        }
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(None);
        };
        let pending = self.shared.log().submit_at(first + 1, &payloads)?;
        let durable = self.shared.durable.load(Ordering::Acquire);
        let mut st = self.shared.lock();
        st.first.get_or_insert(first);
        for (i, p) in payloads.into_iter().enumerate() {
            st.cache_bytes += p.len();
            st.cache.insert(first + i as u64, p.into());
        }
        let last_index = last.index;
        st.last = Some(last);
        st.cache_trim(durable);
        Ok(Some((pending, last_index)))
    }

    /// Queues the metadata as it is (the vote, the last purged log id) as
    /// the metadata stream's next record.
    fn rewrite_meta(&self) -> Result<groupwal::StreamPending> {
        let bytes = {
            let st = self.shared.lock();
            Meta {
                v: 1,
                vote: st.vote.clone(),
                last_purged: st.last_purged.clone(),
            }
            .encode(self.shared.group)?
        };
        Ok(self.shared.wal.stream(self.shared.meta).submit(&bytes)?)
    }

    async fn save_vote_inner(&mut self, vote: &Vote<C::NodeId>) -> Result<()> {
        let group = self.shared.group;
        let bytes = {
            let st = self.shared.lock();
            Meta {
                v: 1,
                vote: Some(vote.clone()),
                last_purged: st.last_purged.clone(),
            }
            .encode(group)?
        };
        let meta = self.shared.wal.stream(self.shared.meta);
        let index = meta.submit(&bytes)?.wait_async().await?;
        self.shared.lock().vote = Some(vote.clone());
        // The older records are dead; let them go now and then (a purge of
        // the log does it every time).
        if meta.info().is_some_and(|i| i.entries > META_KEEP) {
            let shared = self.shared.clone();
            crate::blocking::run(move || shared.wal.stream(shared.meta).purge_below(index))
                .await??;
        }
        Ok(())
    }

    async fn truncate_inner(&mut self, log_id: LogId<C::NodeId>) -> Result<()> {
        let index = log_id.index;
        let group = self.shared.group;
        let (first, prev_cached) = {
            let st = self.shared.lock();
            let Some(last) = &st.last else {
                return Ok(());
            };
            if index > last.index {
                return Ok(());
            }
            if let Some(p) = st.last_purged.as_ref().filter(|p| index <= p.index) {
                return Err(Error::TruncatePurged {
                    group,
                    index,
                    purged: p.index,
                });
            }
            let prev = index.checked_sub(1);
            (
                st.first,
                prev.and_then(|p| st.cache.get(&p).map(|b| (p, b.clone()))),
            )
        };
        // The entry before the cut becomes the last, if there is one.
        let prev = first.filter(|&f| f < index).map(|_| index - 1);
        let shared = self.shared.clone();
        let new_last = crate::blocking::run(move || -> Result<Option<LogId<C::NodeId>>> {
            shared.log().truncate_from(index + 1)?;
            let Some(prev) = prev else {
                return Ok(None);
            };
            let bytes = match prev_cached {
                Some((p, bytes)) if p == prev => bytes.to_vec(),
                _ => read_one(&shared.log(), group, prev + 1)?,
            };
            Ok(Some(
                shared.decode_entry(prev, &bytes)?.get_log_id().clone(),
            ))
        })
        .await??;
        self.shared.durable.fetch_min(index, Ordering::AcqRel);
        let mut st = self.shared.lock();
        if new_last.is_none() {
            st.first = None;
        }
        st.last = new_last;
        st.cache_cut_from(index);
        Ok(())
    }

    async fn purge_inner(&mut self, log_id: LogId<C::NodeId>) -> Result<()> {
        let index = log_id.index;
        let bytes = {
            let st = self.shared.lock();
            if st.last_purged.as_ref().is_some_and(|p| p.index >= index) {
                return Ok(());
            }
            Meta {
                v: 1,
                vote: st.vote.clone(),
                last_purged: Some(log_id.clone()),
            }
            .encode(self.shared.group)?
        };
        let shared = self.shared.clone();
        crate::blocking::run(move || -> Result<()> {
            // The metadata first (durably), then the older metadata and
            // the entries: `open` finishes a purge a crash cut short.
            let meta = shared.wal.stream(shared.meta);
            let at = meta.append(&bytes)?;
            meta.purge_below(at)?;
            shared.log().purge_below(index + 2)?;
            Ok(())
        })
        .await??;
        let mut st = self.shared.lock();
        if st.last.as_ref().is_some_and(|l| l.index > index) {
            st.first = Some(index + 1);
        } else {
            st.first = None;
            st.last = None;
        }
        st.cache_purge_through(index);
        st.last_purged = Some(log_id);
        Ok(())
    }
}

/// `[start, end)` of a range of Raft indexes.
fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

/// The entries in `[start, end)`, for both readers.
async fn entries<C: RaftTypeConfig>(
    shared: &Arc<Shared<C>>,
    (start, end): (u64, u64),
) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
    shared
        .read_range(start, end)
        .await
        .map_err(|e| e.storage(ErrorSubject::Logs, ErrorVerb::Read))
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogStore<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        entries(&self.shared, bounds(&range)).await
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogReader<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        entries(&self.shared, bounds(&range)).await
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for LogStore<C> {
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        Ok(self.shared.log_state())
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.save_vote_inner(vote)
            .await
            .map_err(|e| e.storage(ErrorSubject::Vote, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.shared.lock().vote.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.append_with(entries, move |r| callback.log_io_completed(r))
            .map_err(|e| e.storage(ErrorSubject::Logs, ErrorVerb::Write))
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let subject = ErrorSubject::Log(log_id.clone());
        self.truncate_inner(log_id)
            .await
            .map_err(|e| e.storage(subject, ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let subject = ErrorSubject::Log(log_id.clone());
        self.purge_inner(log_id)
            .await
            .map_err(|e| e.storage(subject, ErrorVerb::Delete))
    }
}
