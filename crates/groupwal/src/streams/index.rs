//! The in-memory index of every stream: for each, the LSN of each live
//! entry, packed as 4-byte offsets from a base LSN.
//!
//! Memory: a stream costs one map slot and a [`StreamState`] (about 100
//! bytes with the map's own overhead); an entry costs 4 bytes (up to 8
//! while a deque has grown and not yet filled). A new run (about 40 bytes)
//! starts only when an entry's LSN is more than `u32::MAX` past its run's
//! base. `docs/ARCHITECTURE.md`, "Streams", has the measured figures.

use std::collections::{BTreeMap, HashMap, VecDeque};

use wal_format::{Lsn, StreamHeader, StreamOp};

/// Entries whose LSNs lie within `u32::MAX` of `base`.
#[derive(Debug, Clone)]
struct Run {
    /// The index of the run's first entry.
    first: u64,
    base: u64,
    offsets: VecDeque<u32>,
}

impl Run {
    fn end(&self) -> u64 {
        self.first + self.offsets.len() as u64
    }

    fn lsn(&self, index: u64) -> Option<Lsn> {
        let at = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.offsets
            .get(at)
            .map(|&o| Lsn::new(self.base + u64::from(o)))
    }
}

/// One stream: its live entries and where its next append goes.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamState {
    /// Live entries in index order, in runs.
    runs: VecDeque<Run>,
    /// The index the next append takes (also the first live index when
    /// there is no live entry).
    next: u64,
    /// Entries ever appended (copies not counted) and their payload bytes,
    /// since the log was opened (recovery's replay included).
    appended: u64,
    appended_bytes: u64,
    /// Entries copied forward (by a rewrite) and their payload bytes.
    copied: u64,
    copied_bytes: u64,
    /// Whether `next` is known exactly: set by an append or a truncation
    /// (a purge only raises it, a copy says nothing of it).
    settled: bool,
    /// While recovery replays: copies of entries whose original records
    /// went with their segments, not yet joined to the live entries (see
    /// [`StreamIndex::finish_replay`]). Empty otherwise.
    orphans: BTreeMap<u64, Lsn>,
}

impl StreamState {
    /// The first live index, if any entry is live.
    pub(crate) fn first(&self) -> Option<u64> {
        self.runs
            .front()
            .filter(|r| !r.offsets.is_empty())
            .map(|r| r.first)
    }

    /// The last live index, if any entry is live.
    pub(crate) fn last(&self) -> Option<u64> {
        self.first().map(|_| self.next - 1)
    }

    /// The index the next append takes.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Entries appended since the log was opened (replay included).
    pub(crate) fn appended(&self) -> u64 {
        self.appended
    }

    /// Their payload bytes.
    pub(crate) fn appended_bytes(&self) -> u64 {
        self.appended_bytes
    }

    /// Entries copied forward by rewrites, and their payload bytes.
    pub(crate) fn copied(&self) -> (u64, u64) {
        (self.copied, self.copied_bytes)
    }

    /// Every live entry's index and LSN, in index order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, Lsn)> + '_ {
        self.runs.iter().flat_map(|r| {
            r.offsets
                .iter()
                .enumerate()
                .map(|(i, &o)| (r.first + i as u64, Lsn::new(r.base + u64::from(o))))
        })
    }

    /// Live entries.
    pub(crate) fn len(&self) -> u64 {
        self.runs.iter().map(|r| r.offsets.len() as u64).sum()
    }

    /// The LSN of the live entry at `index`.
    pub(crate) fn lsn(&self, index: u64) -> Option<Lsn> {
        let i = self.runs.partition_point(|r| r.end() <= index);
        self.runs.get(i)?.lsn(index)
    }

    /// The LSN of the first live entry.
    pub(crate) fn first_lsn(&self) -> Option<Lsn> {
        self.first().and_then(|i| self.lsn(i))
    }

    fn push(&mut self, lsn: Lsn) {
        let index = self.next;
        let fits = |r: &Run| {
            lsn.get()
                .checked_sub(r.base)
                .and_then(|d| u32::try_from(d).ok())
        };
        match self.runs.back_mut() {
            // LSNs rise within a run (`floor` relies on it).
            Some(run)
                if run.end() == index
                    && fits(run).is_some()
                    && run
                        .offsets
                        .back()
                        .is_none_or(|&o| run.base + u64::from(o) < lsn.get()) =>
            {
                if let Some(off) = fits(run) {
                    run.offsets.push_back(off);
                }
            }
            _ => self.runs.push_back(Run {
                first: index,
                base: lsn.get(),
                offsets: VecDeque::from([0]),
            }),
        }
        self.next = index + 1;
    }

    fn purge_below(&mut self, bound: u64) {
        while let Some(run) = self.runs.front_mut() {
            if run.end() <= bound {
                self.runs.pop_front();
                continue;
            }
            let drop = bound.saturating_sub(run.first);
            if drop > 0 {
                run.offsets.drain(
                    ..usize::try_from(drop)
                        .unwrap_or(usize::MAX)
                        .min(run.offsets.len()),
                );
                run.first = bound;
            }
            break;
        }
        self.next = self.next.max(bound);
    }

    fn truncate_from(&mut self, bound: u64) {
        while let Some(run) = self.runs.back_mut() {
            if run.first >= bound {
                self.runs.pop_back();
                continue;
            }
            let keep = bound - run.first;
            run.offsets
                .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
            break;
        }
        // Past the next index there is nothing to remove: the numbering
        // stays dense. A stream whose appends went with their segments
        // takes the bound.
        self.next = if self.settled {
            self.next.min(bound)
        } else {
            bound
        };
    }

    /// Moves the live entry at `index` to `lsn` (a copy written forward).
    /// The entry leaves its run (so LSNs keep rising within every run) and
    /// joins the run before it when that run ends just before it and the
    /// LSN is within its reach (copies are written in index order, so a
    /// rewrite's copies share one run).
    fn relocate(&mut self, index: u64, lsn: Lsn) -> bool {
        let i = self.runs.partition_point(|r| r.end() <= index);
        let Some(run) = self.runs.get_mut(i) else {
            return false;
        };
        let Some(at) = index
            .checked_sub(run.first)
            .and_then(|a| usize::try_from(a).ok())
            .filter(|&a| a < run.offsets.len())
        else {
            return false;
        };
        let mut right = run.offsets.split_off(at);
        right.pop_front();
        let right = Run {
            first: index + 1,
            base: run.base,
            offsets: right,
        };
        let mut at = i;
        if run.offsets.is_empty() {
            self.runs.remove(i);
        } else {
            at = i + 1;
        }
        let joins = at
            .checked_sub(1)
            .and_then(|p| self.runs.get_mut(p))
            .filter(|left| {
                left.end() == index
                    && left
                        .offsets
                        .back()
                        .is_some_and(|&o| left.base + u64::from(o) < lsn.get())
            });
        let offset = joins.and_then(|left| {
            let off = u32::try_from(lsn.get().checked_sub(left.base)?).ok()?;
            left.offsets.push_back(off);
            Some(off)
        });
        if offset.is_none() {
            self.runs.insert(
                at,
                Run {
                    first: index,
                    base: lsn.get(),
                    offsets: VecDeque::from([0]),
                },
            );
            at += 1;
        }
        if !right.offsets.is_empty() {
            self.runs.insert(at, right);
        }
        true
    }

    /// The lowest LSN of a live entry (LSNs rise within each run).
    fn floor(&self) -> Option<Lsn> {
        self.runs
            .iter()
            .filter_map(|r| r.offsets.front().map(|&o| Lsn::new(r.base + u64::from(o))))
            .min()
    }
}

/// The highest index an entry may take: the stream's next index after it
/// must still fit in a `u64`.
pub(crate) const MAX_INDEX: u64 = u64::MAX - 1;

/// Why a stream record cannot be applied: the log says something no
/// writer of it would have written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inconsistent {
    pub(crate) reason: &'static str,
}

/// Every stream of a log.
#[derive(Debug, Default)]
pub(crate) struct StreamIndex {
    streams: HashMap<u64, StreamState>,
    /// The replay follows records after damage the reader skipped
    /// (`RecoveryMode::SkipAnyCorruptedRecords`): a skipped append leaves
    /// a gap before the next one, a skipped truncation an append below the
    /// next index (which then truncates, as the skipped record did), and
    /// copies that do not join are dropped. Otherwise (and before the
    /// first skipped damage) each of those is an inconsistency.
    lenient: bool,
}

impl StreamIndex {
    /// From here on the records follow damage the reader skipped (see
    /// `lenient`): the evidence is the reader's, record by record.
    pub(crate) fn tolerate_damage(&mut self) {
        self.lenient = true;
    }

    pub(crate) fn get(&self, stream: u64) -> Option<&StreamState> {
        self.streams.get(&stream)
    }

    pub(crate) fn streams(&self) -> impl Iterator<Item = (u64, &StreamState)> {
        self.streams.iter().map(|(&id, s)| (id, s))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The index the next append to `stream` must take: `None` when the
    /// log holds nothing of it (any index will do).
    pub(crate) fn next(&self, stream: u64) -> Option<u64> {
        self.streams.get(&stream).map(StreamState::next)
    }

    /// Applies the stream record `header` at `lsn` (with an entry of
    /// `entry_len` bytes).
    pub(crate) fn apply(
        &mut self,
        header: &StreamHeader,
        lsn: Lsn,
        entry_len: usize,
    ) -> Result<(), Inconsistent> {
        if header.op.carries_entry() && header.index > MAX_INDEX {
            return Err(Inconsistent {
                reason: "an entry at index u64::MAX (the next index would not fit)",
            });
        }
        let state = self.streams.entry(header.stream).or_default();
        match header.op {
            StreamOp::Append => {
                if state.settled && header.index != state.next {
                    if !self.lenient {
                        return Err(Inconsistent {
                            reason: "an append whose index is not the stream's next",
                        });
                    }
                    if header.index < state.next {
                        state.truncate_from(header.index);
                        state.orphans.split_off(&header.index);
                    }
                }
                state.next = header.index;
                state.push(lsn);
                state.appended += 1;
                state.appended_bytes += entry_len as u64;
                state.settled = true;
            }
            StreamOp::Purge => {
                // Raises the next index at most: it settles nothing (the
                // appends before it may be gone with their segments).
                state.purge_below(header.index);
                state.orphans = state.orphans.split_off(&header.index);
            }
            StreamOp::Truncate => {
                state.truncate_from(header.index);
                state.orphans.split_off(&header.index);
                state.settled = true;
            }
            StreamOp::Copy => {
                // A copy of an entry whose original is gone (its segment
                // was removed once the copy was durable) waits for the
                // end of the replay.
                if !state.relocate(header.index, lsn) {
                    state.orphans.insert(header.index, lsn);
                }
                state.copied += 1;
                state.copied_bytes += entry_len as u64;
            }
            _ => {
                return Err(Inconsistent {
                    reason: "a stream op this build does not know",
                });
            }
        }
        Ok(())
    }

    /// Ends a replay: joins the copies whose originals were removed to the
    /// live entries after them. Copies are written in index order before
    /// the segments holding their originals are removed, so they form one
    /// range just below the first live entry (or below the next index of
    /// a stream with none).
    /// On error, names the LSN of the first copy that does not join.
    pub(crate) fn finish_replay(&mut self) -> Result<(), (Lsn, Inconsistent)> {
        for state in self.streams.values_mut() {
            let orphans = std::mem::take(&mut state.orphans);
            let (Some((&low, &at)), Some((&high, _))) =
                (orphans.first_key_value(), orphans.last_key_value())
            else {
                continue;
            };
            let end = state.first().unwrap_or(if state.settled {
                state.next
            } else {
                state.next.max(high + 1)
            });
            if high + 1 != end || high - low + 1 != orphans.len() as u64 {
                if self.lenient {
                    // Their context went with the damage recovery skipped.
                    continue;
                }
                return Err((
                    at,
                    Inconsistent {
                        reason: "copied entries that do not join the stream's live entries",
                    },
                ));
            }
            let mut joined = StreamState {
                next: low,
                ..StreamState::default()
            };
            for (_, lsn) in orphans {
                joined.push(lsn);
            }
            joined.runs.extend(std::mem::take(&mut state.runs));
            state.runs = joined.runs;
            state.next = state.next.max(high + 1);
        }
        Ok(())
    }

    /// The lowest LSN any stream still needs: its first live entry's.
    pub(crate) fn floor(&self) -> Option<Lsn> {
        self.streams.values().filter_map(StreamState::floor).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(op: StreamOp, stream: u64, index: u64) -> StreamHeader {
        StreamHeader { op, stream, index }
    }

    #[test]
    fn appends_purges_and_truncations_replay_to_the_same_state() {
        let mut ix = StreamIndex::default();
        let mut lsn = 0;
        let mut next = || {
            lsn += 1;
            Lsn::new(lsn)
        };
        for i in 5..=9 {
            ix.apply(&h(StreamOp::Append, 1, i), next(), 10).unwrap();
            ix.apply(&h(StreamOp::Append, 2, i - 4), next(), 10)
                .unwrap();
        }
        let s = ix.get(1).unwrap();
        assert_eq!((s.first(), s.last(), s.len()), (Some(5), Some(9), 5));
        assert_eq!(s.lsn(5), Some(Lsn::new(1)));
        assert_eq!(s.lsn(9), Some(Lsn::new(9)));
        assert_eq!(s.lsn(10), None);
        assert_eq!(ix.get(2).unwrap().lsn(1), Some(Lsn::new(2)));

        // An append must take the next index.
        assert!(ix.apply(&h(StreamOp::Append, 1, 11), next(), 1).is_err());
        ix.apply(&h(StreamOp::Truncate, 1, 8), next(), 0).unwrap();
        let s = ix.get(1).unwrap();
        assert_eq!((s.last(), s.next()), (Some(7), 8));
        ix.apply(&h(StreamOp::Append, 1, 8), Lsn::new(40), 1)
            .unwrap();
        assert_eq!(ix.get(1).unwrap().lsn(8), Some(Lsn::new(40)));

        // A truncation past the next index removes nothing.
        ix.apply(&h(StreamOp::Truncate, 1, 30), next(), 0).unwrap();
        assert_eq!(ix.get(1).unwrap().next(), 9);
        ix.apply(&h(StreamOp::Purge, 1, 7), next(), 0).unwrap();
        let s = ix.get(1).unwrap();
        assert_eq!((s.first(), s.last(), s.len()), (Some(7), Some(8), 2));
        assert_eq!(s.lsn(6), None);
        assert_eq!(ix.floor(), Some(Lsn::new(2)), "stream 2 still needs lsn 2");

        // Purging past the end empties the stream and moves its next.
        ix.apply(&h(StreamOp::Purge, 1, 20), next(), 0).unwrap();
        let s = ix.get(1).unwrap();
        assert_eq!((s.first(), s.last(), s.next()), (None, None, 20));
    }

    #[test]
    fn copies_whose_originals_are_gone_join_the_live_entries_at_the_end() {
        // Replay after the segments holding entries 1..=4 went: entries
        // 5..=8 (their original appends), then the copies of 1..=4.
        let mut ix = StreamIndex::default();
        for i in 5..=8 {
            ix.apply(&h(StreamOp::Append, 1, i), Lsn::new(i + 5), 3)
                .unwrap();
        }
        for i in 1..=4 {
            ix.apply(&h(StreamOp::Copy, 1, i), Lsn::new(i + 20), 3)
                .unwrap();
        }
        // A stream whose every entry was copied: only copies are left.
        for i in 10..=12 {
            ix.apply(&h(StreamOp::Copy, 2, i), Lsn::new(i + 30), 3)
                .unwrap();
        }
        // Copies purged under the replay do not come back.
        ix.apply(&h(StreamOp::Copy, 3, 1), Lsn::new(50), 3).unwrap();
        ix.apply(&h(StreamOp::Copy, 3, 2), Lsn::new(51), 3).unwrap();
        ix.apply(&h(StreamOp::Purge, 3, 2), Lsn::new(52), 0)
            .unwrap();
        ix.finish_replay().unwrap();

        let s = ix.get(1).unwrap();
        assert_eq!((s.first(), s.last(), s.next()), (Some(1), Some(8), 9));
        let lsns: Vec<u64> = s.entries().map(|(_, l)| l.get()).collect();
        assert_eq!(lsns, [21, 22, 23, 24, 10, 11, 12, 13]);
        assert_eq!(s.copied(), (4, 12));
        assert_eq!(ix.floor(), Some(Lsn::new(10)));
        let s = ix.get(2).unwrap();
        assert_eq!((s.first(), s.last(), s.next()), (Some(10), Some(12), 13));
        let s = ix.get(3).unwrap();
        assert_eq!((s.first(), s.last(), s.next()), (Some(2), Some(2), 3));
        // The replay goes on as a writer would.
        ix.apply(&h(StreamOp::Append, 2, 13), Lsn::new(60), 1)
            .unwrap();
        assert!(
            ix.apply(&h(StreamOp::Append, 1, 8), Lsn::new(61), 1)
                .is_err()
        );
    }

    #[test]
    fn after_a_skipping_recovery_gaps_and_lower_appends_are_taken() {
        let mut ix = StreamIndex::default();
        ix.tolerate_damage();
        for i in 1..=3 {
            ix.apply(&h(StreamOp::Append, 1, i), Lsn::new(i), 0)
                .unwrap();
        }
        // Append 4 was skipped as damage: 5 leaves a gap.
        ix.apply(&h(StreamOp::Append, 1, 5), Lsn::new(5), 0)
            .unwrap();
        let s = ix.get(1).unwrap();
        assert_eq!((s.first(), s.last(), s.len()), (Some(1), Some(5), 4));
        assert_eq!(s.lsn(4), None);
        // A truncation from 3 was skipped: the append at 3 truncates.
        ix.apply(&h(StreamOp::Append, 1, 3), Lsn::new(7), 0)
            .unwrap();
        let s = ix.get(1).unwrap();
        assert_eq!(
            (s.last(), s.len(), s.lsn(3)),
            (Some(3), 3, Some(Lsn::new(7)))
        );
        // Strict, the same gap is refused.
        let mut strict = StreamIndex::default();
        strict
            .apply(&h(StreamOp::Append, 1, 1), Lsn::new(1), 0)
            .unwrap();
        assert!(
            strict
                .apply(&h(StreamOp::Append, 1, 3), Lsn::new(2), 0)
                .is_err()
        );
    }

    #[test]
    fn an_entry_at_index_u64_max_is_refused() {
        let mut ix = StreamIndex::default();
        for op in [StreamOp::Append, StreamOp::Copy] {
            assert!(ix.apply(&h(op, 1, u64::MAX), Lsn::new(1), 0).is_err());
        }
        assert!(ix.get(1).is_none_or(|s| s.first().is_none()));
        // The last index an entry may take; purges and truncations may
        // name u64::MAX (the next index then).
        ix.apply(&h(StreamOp::Append, 1, MAX_INDEX), Lsn::new(2), 0)
            .unwrap();
        assert_eq!(ix.next(1), Some(u64::MAX));
        ix.apply(&h(StreamOp::Purge, 2, u64::MAX), Lsn::new(3), 0)
            .unwrap();
        assert_eq!(ix.next(2), Some(u64::MAX));
    }

    #[test]
    fn copies_that_do_not_join_are_refused() {
        let mut ix = StreamIndex::default();
        ix.apply(&h(StreamOp::Append, 1, 5), Lsn::new(1), 0)
            .unwrap();
        // Entry 3 copied, entry 4 missing: a hole before the live entries.
        ix.apply(&h(StreamOp::Copy, 1, 3), Lsn::new(2), 0).unwrap();
        let (at, _) = ix.finish_replay().unwrap_err();
        assert_eq!(at, Lsn::new(2));
    }

    #[test]
    fn lsns_far_apart_start_new_runs_and_copies_move_entries() {
        let mut ix = StreamIndex::default();
        let far = u64::from(u32::MAX) + 10;
        ix.apply(&h(StreamOp::Append, 3, 1), Lsn::new(1), 0)
            .unwrap();
        ix.apply(&h(StreamOp::Append, 3, 2), Lsn::new(2), 0)
            .unwrap();
        ix.apply(&h(StreamOp::Append, 3, 3), Lsn::new(far), 0)
            .unwrap();
        let s = ix.get(3).unwrap();
        assert_eq!(s.runs.len(), 2);
        assert_eq!(s.lsn(3), Some(Lsn::new(far)));
        assert_eq!(s.lsn(2), Some(Lsn::new(2)));
        // A copy of entry 1 far forward splits its run.
        ix.apply(&h(StreamOp::Copy, 3, 1), Lsn::new(far + 5), 0)
            .unwrap();
        let s = ix.get(3).unwrap();
        assert_eq!(s.lsn(1), Some(Lsn::new(far + 5)));
        assert_eq!(s.lsn(2), Some(Lsn::new(2)));
        assert_eq!(s.lsn(3), Some(Lsn::new(far)));
        assert_eq!(ix.floor(), Some(Lsn::new(2)));
        ix.apply(&h(StreamOp::Truncate, 3, 2), Lsn::new(far + 7), 0)
            .unwrap();
        let s = ix.get(3).unwrap();
        assert_eq!((s.first(), s.last()), (Some(1), Some(1)));
        assert_eq!(ix.floor(), Some(Lsn::new(far + 5)));
    }
}
