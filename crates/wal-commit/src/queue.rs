//! The state appenders and the I/O side share: the queue of requests and
//! controls behind one short lock, the watermark, the counters, and the
//! I/O lock over the log.
//!
//! Lock order: `Shared::io` before `Shared::queue`, and both before the
//! watermark's; `Shared::segments` is never held while another is taken.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use wal_format::{BatchMarker, CommitMarker, Lsn, RECORD_HEADER_LEN};

use crate::control::Control;
use crate::error::Error;
use crate::group::{IoState, marker_len};
use crate::metrics::Metrics;
use crate::options::CommitOptions;
use crate::records::{Packed, RequestRecords};
#[cfg(doc)]
use crate::scheduler;
use crate::stats::Counters;
use crate::watermark::Watermark;

/// One append or batch waiting for the I/O thread.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) first_lsn: Lsn,
    pub(crate) records: RequestRecords,
    pub(crate) framing: Framing,
    pub(crate) ack: Ack,
    pub(crate) bytes: usize,
    pub(crate) enqueued: Instant,
}

/// How a request's records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Each record on its own.
    Single,
    /// Behind a batch marker: recovery keeps all of them or none.
    Batch,
}

impl Framing {
    /// A batch for more than one record.
    pub(crate) fn of(records: usize) -> Framing {
        if records > 1 {
            Framing::Batch
        } else {
            Framing::Single
        }
    }
}

/// Whether a request's caller waits for a sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ack {
    /// Its group is synced; its caller is counted in `Queue::waiting`.
    Durable,
    /// Written without a sync of its own ([`Committer::append_unsynced`](crate::Committer::append_unsynced)).
    Unsynced,
}

/// What appenders and the I/O side share under the queue lock.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) next_lsn: Lsn,
    pub(crate) requests: VecDeque<Request>,
    pub(crate) controls: VecDeque<Control>,
    /// Payload bytes appended but not yet durable.
    pub(crate) in_flight: usize,
    pub(crate) closing: bool,
    /// A suffix truncation is under way: appenders wait.
    pub(crate) paused: bool,
    /// Records up to here must be made durable even if they were appended
    /// unsynced (asked for by [`Committer::sync`](crate::Committer::sync), a wait, a truncation).
    pub(crate) sync_to: Lsn,
    /// The highest LSN a sync was handed to the sync thread for
    /// ([`crate::syncer`]): durable soon, so no other sync is needed for it.
    pub(crate) sync_submitted: Lsn,
    /// Synced requests queued or being committed, not yet acknowledged:
    /// callers waiting for their records.
    pub(crate) waiting: usize,
    /// The most `waiting` seen since the last group was taken.
    pub(crate) peak: usize,
    /// How many callers recent groups served (the peaks, decaying): the
    /// writers a group may wait for ([`scheduler::gather`]).
    pub(crate) writers: usize,
    /// How many are in [`scheduler::gather`] or
    /// [`scheduler::gather_for_sync`]: appenders (and the writer of a
    /// group) notify `Shared::gathered` when one of them may stop
    /// ([`scheduler::gather_may_end`]).
    pub(crate) gathering: usize,
    /// The smallest number of waiting callers a gatherer waits for, among
    /// those that entered since `gathering` last rose from 0: one leaving
    /// does not raise it, so a gatherer with a larger target may be woken
    /// early (it checks its own condition and waits on), never late.
    pub(crate) gather_target: usize,
    /// A group was taken and is being written.
    pub(crate) writing: bool,
    /// The I/O thread waits on `Shared::work`: queueing notifies it only
    /// then ([`Queue::io_thread_idle_with_work`]; the thread looks at the
    /// queue before it waits again).
    pub(crate) io_idle: bool,
    /// Emptied buffers of packed unsynced appends, for reuse.
    pub(crate) pool: Vec<Packed>,
}

/// Everything a committer's handles and threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) queue: Mutex<Queue>,
    pub(crate) work: Condvar,
    /// Wakes whoever is in [`scheduler::gather`] when a request arrives.
    pub(crate) gathered: Condvar,
    /// Recent sync durations in nanoseconds (an exponential average): what
    /// bounds [`scheduler::gather`]'s wait.
    pub(crate) sync_nanos: AtomicU64,
    pub(crate) watermark: Watermark,
    pub(crate) counters: Counters,
    pub(crate) metrics: Metrics,
    pub(crate) options: CommitOptions,
    /// The log; `None` once the I/O thread has closed it.
    pub(crate) io: Mutex<Option<IoState>>,
    /// The first LSN of each segment, oldest first, published by whoever
    /// holds `io` after a change ([`IoState::publish_segments`]); never
    /// held while taking another lock.
    pub(crate) segments: Mutex<Vec<Lsn>>,
    /// How much the segment the next group goes to can take.
    pub(crate) fit: SegmentFit,
}

/// What sizes a group to its segment ([`scheduler::take_group`]), so that
/// a group that would not fit does not leave the rest of the segment
/// unused: the room left (as whoever holds the I/O lock last published
/// it) and an upper estimate of the bytes each request takes encoded.
#[derive(Debug)]
pub(crate) struct SegmentFit {
    /// [`wal_io::SegmentLog::room`] after the last group or control, less
    /// a group's commit marker.
    room: AtomicU64,
    /// The same for a new segment.
    fresh: u64,
    /// The tag encryption adds to each stored payload (0 without).
    tag: u64,
    /// A group's commit marker, or a batch's marker, encoded.
    per_marker: u64,
    /// Payloads longer than this take one header per fragment.
    fragment: u64,
}

impl SegmentFit {
    /// For a log whose new segments take `fresh` bytes, records whose
    /// encoding adds `tag` bytes each (and `marker_tag` to a marker), and
    /// payloads split into fragments of `fragment` bytes.
    pub(crate) fn new(fresh: u64, tag: usize, marker_tag: usize, fragment: usize) -> SegmentFit {
        let per_marker = marker_len(
            CommitMarker::ENCODED_LEN.max(BatchMarker::ENCODED_LEN),
            marker_tag,
        );
        SegmentFit {
            room: AtomicU64::new(fresh.saturating_sub(per_marker)),
            fresh: fresh.saturating_sub(per_marker),
            tag: tag as u64,
            per_marker,
            fragment: fragment.max(1) as u64,
        }
    }

    /// Publishes the room the log has now ([`wal_io::SegmentLog::room`]).
    pub(crate) fn publish(&self, room: u64) {
        self.room
            .store(room.saturating_sub(self.per_marker), Ordering::Relaxed);
    }

    /// The most payload bytes unsynced appends are packed into one request
    /// ([`crate::records::PACK_BYTES`] at most): a sixteenth of a new
    /// segment's room, so that a segment that cannot take the next pack
    /// is left with little unused.
    pub(crate) fn pack_bytes(&self) -> usize {
        usize::try_from(self.fresh / 16)
            .unwrap_or(usize::MAX)
            .max(1)
    }

    /// The room left in the current segment, and a new segment's.
    pub(crate) fn room(&self) -> (u64, u64) {
        (self.room.load(Ordering::Relaxed), self.fresh)
    }

    /// At least the bytes `r` takes encoded (`IoState::encode`), unless
    /// compression shrinks it: its stored payloads (each with its tag),
    /// a header per fragment of each, and its batch marker. A record of
    /// `s` stored bytes takes `ceil(s / fragment)` headers (at least one),
    /// at most `s / fragment + 1`, so the request's at most its records
    /// plus its stored bytes over the fragment size.
    pub(crate) fn estimate(&self, r: &Request) -> u64 {
        let records = r.records.len() as u64;
        let stored = (r.bytes as u64).saturating_add(records.saturating_mul(self.tag));
        let headers = records.saturating_add(stored / self.fragment);
        let marker = if r.framing == Framing::Batch {
            self.per_marker
        } else {
            0
        };
        stored
            .saturating_add(headers.saturating_mul(RECORD_HEADER_LEN as u64))
            .saturating_add(marker)
    }
}

impl Queue {
    /// An empty queue whose next record gets `next_lsn`.
    pub(crate) fn new(next_lsn: Lsn) -> Queue {
        Queue {
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
            gather_target: 0,
            writing: false,
            io_idle: false,
            pool: Vec::new(),
        }
    }
}

impl Queue {
    /// Whether the I/O thread sleeps while requests wait: the one test of
    /// whether queueing must wake it.
    pub(crate) fn io_thread_idle_with_work(&self) -> bool {
        self.io_idle && !self.requests.is_empty()
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn io_lock(&self) -> MutexGuard<'_, Option<IoState>> {
        self.io.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Poisons the log: the failed group and everything queued behind it fail;
/// nothing more is written.
pub(crate) fn fail(shared: &Shared, e: Error) {
    shared.watermark.set_poison(e, || shared.metrics.poisoned());
    let mut q = shared.lock();
    q.requests.clear();
    q.in_flight = 0;
    q.waiting = 0;
    q.writing = false;
}

/// The highest LSN durable or handed to the sync thread to be made so.
pub(crate) fn synced_or_submitted(shared: &Shared, q: &Queue) -> Lsn {
    shared.watermark.durable().max(q.sync_submitted)
}

pub(crate) fn pending_bytes(requests: &VecDeque<Request>) -> usize {
    requests.iter().map(|r| r.bytes).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wal_format::LogicalKind;

    /// The estimate is never below what the records take encoded (header
    /// per fragment of each stored payload, tag included, and the batch
    /// marker), whatever the sizes, with and without a tag.
    #[test]
    fn the_estimate_bounds_a_requests_encoding() {
        const FRAGMENT: usize = 100;
        for tag in [0usize, 16] {
            let fit = SegmentFit::new(1 << 20, tag, tag, FRAGMENT);
            for sizes in [
                vec![90; 10],
                vec![0, 1, 99, 100, 101],
                vec![250],
                vec![84; 3],
            ] {
                let records: Vec<_> = sizes
                    .iter()
                    .map(|&n| (LogicalKind::Data, vec![1u8; n]))
                    .collect();
                let request = Request {
                    first_lsn: Lsn::FIRST,
                    framing: Framing::of(records.len()),
                    bytes: sizes.iter().sum(),
                    records: RequestRecords::Many(records),
                    ack: Ack::Durable,
                    enqueued: Instant::now(),
                };
                let mut exact: u64 = sizes
                    .iter()
                    .map(|&n| {
                        let stored = n + tag;
                        (stored.div_ceil(FRAGMENT).max(1) * RECORD_HEADER_LEN + stored) as u64
                    })
                    .sum();
                if request.framing == Framing::Batch {
                    exact += marker_len(BatchMarker::ENCODED_LEN, tag);
                }
                let estimate = fit.estimate(&request);
                assert!(
                    estimate >= exact,
                    "tag {tag}, {sizes:?}: {estimate} < {exact}"
                );
            }
        }
    }
}
