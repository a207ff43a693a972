//! The scheduler: what whoever holds the I/O lock does next (a control,
//! a group, or a sync), how much one group takes, how long a group or a
//! sync waits for the writers recent groups served, and when to sync. The
//! decisions are pure functions; [`take_work`] and [`gather`] run with the
//! I/O lock held and take the queue lock, [`gather_for_sync`] runs on the
//! sync thread with the queue lock only.

use std::sync::atomic::Ordering;
use std::sync::{Condvar, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wal_format::Lsn;

use crate::control::Control;
use crate::options::CommitOptions;
use crate::queue::{Ack, Queue, Request, SegmentFit, Shared, pending_bytes, synced_or_submitted};

/// The longest [`gather`] waits, whatever the syncs take.
pub(crate) const MAX_GATHER: Duration = Duration::from_millis(2);

/// What the I/O thread does next.
pub(crate) enum Work {
    Control(Control),
    Group(Vec<Request>),
    /// Everything is written; sync what was written unsynced.
    Sync,
}

/// Takes the next control operation, else the next group (within the
/// group limits; a request is never split). Call with the I/O lock held.
pub(crate) fn take_work(shared: &Shared) -> Option<Work> {
    let mut q = shared.lock();
    if let Some(c) = q.controls.pop_front() {
        return Some(Work::Control(c));
    }
    q = gather(shared, q);
    if let Some(c) = q.controls.pop_front() {
        return Some(Work::Control(c));
    }
    take_group(&shared.options, &shared.fit, &mut q)
        .map(Work::Group)
        .or_else(|| sync_owed(q.sync_to, synced_or_submitted(shared, &q)).then_some(Work::Sync))
}

/// Takes the requests at the front of the queue that make one group, and
/// starts a new estimate of the writers it serves.
pub(crate) fn take_group(
    opts: &CommitOptions,
    fit: &SegmentFit,
    q: &mut Queue,
) -> Option<Vec<Request>> {
    let sizes = q
        .requests
        .iter()
        .map(|r| (r.records.len(), r.bytes, fit.estimate(r)));
    let limits = Limits {
        records: opts.max_group_records,
        bytes: opts.max_group_bytes,
        room: fit.room(),
    };
    let n = group_len(sizes, limits);
    if n == 0 {
        return None;
    }
    let group = q.requests.drain(..n).collect();
    q.writing = true;
    q.writers = decayed_writers(q.peak, q.writers);
    q.peak = q.waiting;
    Some(group)
}

/// What bounds one group.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The most records.
    pub(crate) records: usize,
    /// The most payload bytes.
    pub(crate) bytes: usize,
    /// The encoded bytes the current segment can still take, and a new
    /// segment ([`SegmentFit::room`]).
    pub(crate) room: (u64, u64),
}

/// How many requests of the given sizes (records, payload bytes, encoded
/// bytes), from the front, one group takes: as many as fit within the
/// limits, in order (a request is never split, none is skipped), and
/// always the first, however large. The group stops before a request the
/// segment it goes to has no room for (a new segment when the first does
/// not fit in the current one), so that the rest of the segment is filled
/// by the next groups instead of being left unused by a rotation.
pub(crate) fn group_len(sizes: impl Iterator<Item = (usize, usize, u64)>, limits: Limits) -> usize {
    let (mut n, mut records, mut bytes) = (0usize, 0usize, 0usize);
    let (now, fresh) = limits.room;
    let mut left = now;
    for (r, b, encoded) in sizes {
        let fits = records + r <= limits.records && bytes + b <= limits.bytes && encoded <= left;
        if n > 0 && !fits {
            break;
        }
        if n == 0 && encoded > left {
            // The group begins a new segment.
            left = fresh;
        }
        left = left.saturating_sub(encoded);
        n += 1;
        records += r;
        bytes += b;
    }
    n
}

/// The new estimate of the writers recent groups served, as a group is
/// taken: the most callers seen waiting since the last group, or the old
/// estimate less a quarter, whichever is larger. A burst that is over
/// stops making groups wait within a few of them.
pub(crate) fn decayed_writers(peak: usize, writers: usize) -> usize {
    peak.max(writers * 3 / 4)
}

/// Whether a sync is owed: records up to `sync_to` were asked to be made
/// durable, and `covered` (durable, or handed to the sync thread) does not
/// reach them yet.
pub(crate) fn sync_owed(sync_to: Lsn, covered: Lsn) -> bool {
    sync_to > covered
}

/// Whether a group just written through `last` is synced now: a caller in
/// it waits for a sync (`ack` is [`Ack::Durable`]), or it reaches an owed
/// sync target. A
/// group of unsynced appends that ends below the target goes without: the
/// records up to it were all queued when it was set, so a later group
/// reaches it, and one sync covers everything written before.
pub(crate) fn syncs_after_write(ack: Ack, sync_to: Lsn, covered: Lsn, last: Lsn) -> bool {
    ack == Ack::Durable || (sync_owed(sync_to, covered) && last >= sync_to)
}

/// How many waiting callers [`gather`] and [`gather_for_sync`] wait for:
/// seven eighths of the writers recent groups served.
pub(crate) fn gather_target(writers: usize) -> usize {
    writers - writers / 8
}

/// Whether the adaptive waits run: [`CommitOptions::adaptive_delay`],
/// and no `max_delay` (which waits on its own terms).
pub(crate) fn adaptive(opts: &CommitOptions) -> bool {
    opts.adaptive_delay && opts.max_delay.is_none()
}

/// Whether [`gather`] keeps waiting: fewer than `target` callers wait, the
/// group is not full, and no control or close is pending.
pub(crate) fn group_gathers(q: &Queue, target: usize, opts: &CommitOptions) -> bool {
    q.waiting < target
        && q.controls.is_empty()
        && !q.closing
        && q.requests.len() < opts.max_group_records
        && pending_bytes(&q.requests) < opts.max_group_bytes
}

/// Whether callers a sync should cover are still missing: fewer than
/// `target` wait, or records are queued or being written.
pub(crate) fn sync_misses_writers(q: &Queue, target: usize) -> bool {
    q.waiting < target || !q.requests.is_empty() || q.writing
}

/// Whether [`gather_for_sync`] keeps waiting: writers are missing
/// ([`sync_misses_writers`]) and no control or close is pending.
pub(crate) fn sync_gathers(q: &Queue, target: usize) -> bool {
    sync_misses_writers(q, target) && q.controls.is_empty() && !q.closing
}

/// Before a group is taken, waits a little for the writers that recent
/// groups served and that are not queued yet: the callers the last sync
/// acknowledged come back with their next records within microseconds,
/// while the sync they would otherwise miss takes a whole disk flush.
/// Taking the group at once can split W steady writers into smaller
/// groups that take turns, one syncing while the other gathers
/// (measurements: `docs/perf/HISTORY.md`, "Adaptive delay").
///
/// Waits only while fewer callers wait than recent groups served (so a
/// lone writer, or a group that is already whole, never waits), at most
/// half the recent sync time, and not with `max_delay` (which waits on its
/// own terms) or when the group is full, a control is queued or the log
/// is closing. Call with the I/O lock held.
pub(crate) fn gather<'a>(
    shared: &'a Shared,
    mut q: MutexGuard<'a, Queue>,
) -> MutexGuard<'a, Queue> {
    let opts = &shared.options;
    if !adaptive(opts) || q.requests.is_empty() {
        return q;
    }
    // A sync is in flight on the sync thread: the group cannot be synced
    // before it returns, so waiting would only delay the write.
    if q.sync_submitted > shared.watermark.durable() {
        return q;
    }
    let target = gather_target(q.writers);
    if q.waiting >= target {
        return q;
    }
    let budget = gather_budget(shared.sync_nanos.load(Ordering::Relaxed));
    enter_gather(&mut q, target);
    q = wait_while(&shared.gathered, q, Instant::now() + budget, |q| {
        group_gathers(q, target, opts)
    });
    q.gathering -= 1;
    q
}

/// Before the sync thread starts a sync, waits a little for the writers
/// the last sync acknowledged, as [`gather`] does before a group is
/// taken: until as many callers wait as recent groups served and none of
/// their records is still queued or being written (so the sync covers
/// them), at most half the recent sync time. Without it, W steady writers
/// split in two halves that take turns, one written while the other's
/// sync runs.
pub(crate) fn gather_for_sync(shared: &Shared) {
    if !adaptive(&shared.options) {
        return;
    }
    let mut q = shared.lock();
    let target = gather_target(q.writers);
    if !sync_misses_writers(&q, target) {
        return;
    }
    let budget = gather_budget(shared.sync_nanos.load(Ordering::Relaxed));
    enter_gather(&mut q, target);
    q = wait_while(&shared.gathered, q, Instant::now() + budget, |q| {
        sync_gathers(q, target)
    });
    q.gathering -= 1;
}

/// Counts a gatherer waiting for `target` callers in, lowering
/// `q.gather_target` to it if smaller (or setting it, for the first).
fn enter_gather(q: &mut Queue, target: usize) {
    if q.gathering == 0 || target < q.gather_target {
        q.gather_target = target;
    }
    q.gathering += 1;
}

/// Whether whoever is in [`gather`] or [`gather_for_sync`] may stop
/// waiting now: the one call that decides when to notify
/// `Shared::gathered` after a change to the queue. Notifying after every
/// enqueue instead woke the sync thread once per appender, dozens of times
/// per sync with 64 writers, to find it still had to wait.
///
/// Tests the group's condition with the smallest target: the sync's
/// ([`sync_gathers`]) stops only where the group's does too (enough
/// callers, or a control or a close), so its gatherer is woken at least
/// then, and again when the group being written is released.
pub(crate) fn gather_may_end(q: &Queue, opts: &CommitOptions) -> bool {
    q.gathering > 0 && !group_gathers(q, q.gather_target, opts)
}

/// How long [`gather`] and [`gather_for_sync`] wait at most, given the
/// recent sync time in nanoseconds: half of it, never more than
/// [`MAX_GATHER`].
pub(crate) fn gather_budget(sync_nanos: u64) -> Duration {
    Duration::from_nanos(sync_nanos / 2).min(MAX_GATHER)
}

/// The recent sync time in nanoseconds after a sync that took `took`: an
/// exponential average of weight 1/8, the first sync taken whole.
pub(crate) fn averaged_sync_nanos(old: u64, took: u64) -> u64 {
    if old == 0 {
        took
    } else {
        old - old / 8 + took / 8
    }
}

/// Waits on `cond` while `waiting` holds, until `deadline` at the latest.
pub(crate) fn wait_while<'a>(
    cond: &Condvar,
    mut q: MutexGuard<'a, Queue>,
    deadline: Instant,
    waiting: impl Fn(&Queue) -> bool,
) -> MutexGuard<'a, Queue> {
    while waiting(&q) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        q = cond
            .wait_timeout(q, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    q
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use wal_format::{LogicalKind, Lsn};

    use super::*;
    use crate::queue::Framing;
    use crate::records::RequestRecords;

    fn request(bytes: usize) -> Request {
        Request {
            first_lsn: Lsn::FIRST,
            records: RequestRecords::One(LogicalKind::Data, vec![0; bytes]),
            framing: Framing::Single,
            ack: Ack::Durable,
            bytes,
            enqueued: Instant::now(),
        }
    }

    fn limits(records: usize, bytes: usize) -> CommitOptions {
        let mut opts = CommitOptions::new();
        opts.max_group_records(records).max_group_bytes(bytes);
        opts
    }

    /// A queue with `waiting` callers and requests of `bytes` each.
    fn queue(waiting: usize, bytes: &[usize]) -> Queue {
        let mut q = Queue::new(Lsn::FIRST);
        q.waiting = waiting;
        q.requests.extend(bytes.iter().map(|&b| request(b)));
        q
    }

    /// `group_len` with the record and byte limits and room to spare.
    fn len_within(sizes: &[(usize, usize)], records: usize, bytes: usize) -> usize {
        let limits = Limits {
            records,
            bytes,
            room: (u64::MAX, u64::MAX),
        };
        group_len(sizes.iter().map(|&(r, b)| (r, b, b as u64)), limits)
    }

    #[test]
    fn a_group_takes_requests_in_order_within_both_limits() {
        let sizes = [(1, 10), (1, 10), (1, 10)];
        assert_eq!(len_within(&sizes, 2, 100), 2);
        assert_eq!(len_within(&sizes, 10, 25), 2);
        assert_eq!(len_within(&sizes, 3, 30), 3);
        assert_eq!(len_within(&[(2, 1), (2, 1)], 3, 100), 1);
    }

    #[test]
    fn a_group_always_takes_its_first_request_and_skips_none() {
        assert_eq!(len_within(&[(5, 1000), (1, 1)], 1, 10), 1);
        assert_eq!(len_within(&[(1, 10), (1, 100), (1, 10)], 10, 50), 1);
        assert_eq!(len_within(&[], 10, 10), 0);
    }

    /// A group stops where its segment is full, so the next group fills
    /// the rest instead of a rotation leaving it unused; a group whose
    /// first request does not fit begins a new segment and is sized to
    /// that one.
    #[test]
    fn a_group_fills_what_is_left_of_its_segment() {
        let sizes = [(1, 10, 40), (1, 10, 40), (1, 10, 40), (1, 10, 40)];
        let within = |now, fresh| {
            let limits = Limits {
                records: 100,
                bytes: 1000,
                room: (now, fresh),
            };
            group_len(sizes.into_iter(), limits)
        };
        assert_eq!(within(100, 1000), 2, "two fit in what is left");
        assert_eq!(within(80, 1000), 2, "exactly");
        assert_eq!(within(79, 1000), 1);
        assert_eq!(within(30, 100), 2, "a new segment, sized to it");
        assert_eq!(within(30, 1000), 4);
        assert_eq!(within(30, 10), 1, "the first, however large");
    }

    /// Gatherers are woken when one of them may stop, and only then: once
    /// as many callers wait as the smallest target asks for, or a control
    /// is queued.
    #[test]
    fn gatherers_are_woken_only_when_one_may_stop() {
        let opts = CommitOptions::new();
        let mut q = queue(3, &[10]);
        assert!(!gather_may_end(&q, &opts), "nobody gathers");
        enter_gather(&mut q, 4);
        assert!(!gather_may_end(&q, &opts), "3 of 4 callers wait");
        q.waiting = 4;
        assert!(gather_may_end(&q, &opts), "the group has its callers");
        // A second gatherer with a larger target: the smaller one counts.
        enter_gather(&mut q, 8);
        assert_eq!(q.gather_target, 4);
        q.waiting = 3;
        assert!(!gather_may_end(&q, &opts));
        let (tx, _rx) = mpsc::channel();
        q.controls.push_back(Control::PurgeBelow(Lsn::FIRST, tx));
        assert!(gather_may_end(&q, &opts), "a control is queued");
        q.controls.clear();
        q.closing = true;
        assert!(gather_may_end(&q, &opts), "the log is closing");
    }

    #[test]
    fn a_sync_is_owed_until_the_target_is_covered() {
        assert!(sync_owed(Lsn::new(5), Lsn::new(4)));
        assert!(!sync_owed(Lsn::new(5), Lsn::new(5)));
        assert!(!sync_owed(Lsn::ZERO, Lsn::ZERO));
    }

    #[test]
    fn a_written_group_syncs_if_asked_or_if_it_reaches_an_owed_target() {
        let (to, covered) = (Lsn::new(10), Lsn::new(3));
        let unsynced = Ack::Unsynced;
        assert!(syncs_after_write(
            Ack::Durable,
            Lsn::ZERO,
            covered,
            Lsn::new(5)
        ));
        assert!(syncs_after_write(unsynced, to, covered, Lsn::new(10)));
        assert!(syncs_after_write(unsynced, to, covered, Lsn::new(12)));
        // Below the target: the group that reaches it syncs.
        assert!(!syncs_after_write(unsynced, to, covered, Lsn::new(9)));
        // The target is covered already.
        assert!(!syncs_after_write(unsynced, to, Lsn::new(10), Lsn::new(12)));
    }

    #[test]
    fn the_writers_estimate_follows_a_peak_and_decays_by_a_quarter() {
        assert_eq!(decayed_writers(20, 16), 20);
        assert_eq!(decayed_writers(2, 16), 12);
        assert_eq!(decayed_writers(0, 1), 0);
    }

    #[test]
    fn a_gather_waits_for_seven_eighths_of_the_writers() {
        assert_eq!(gather_target(0), 0);
        assert_eq!(gather_target(1), 1);
        assert_eq!(gather_target(7), 7);
        assert_eq!(gather_target(8), 7);
        assert_eq!(gather_target(64), 56);
    }

    #[test]
    fn the_adaptive_waits_run_only_without_max_delay() {
        assert!(adaptive(&CommitOptions::new()));
        assert!(!adaptive(CommitOptions::new().adaptive_delay(false)));
        assert!(!adaptive(
            CommitOptions::new().max_delay(Some(Duration::from_millis(1)))
        ));
    }

    #[test]
    fn a_group_gathers_until_its_writers_are_in_or_it_is_full() {
        let opts = limits(4, 100);
        assert!(group_gathers(&queue(1, &[10]), 2, &opts));
        assert!(!group_gathers(&queue(2, &[10]), 2, &opts));
        assert!(!group_gathers(&queue(1, &[10; 4]), 8, &opts));
        assert!(!group_gathers(&queue(1, &[50, 50]), 8, &opts));
        let mut closing = queue(1, &[10]);
        closing.closing = true;
        assert!(!group_gathers(&closing, 2, &opts));
        let mut control = queue(1, &[10]);
        let (tx, _rx) = mpsc::channel();
        control
            .controls
            .push_back(Control::PurgeBelow(Lsn::FIRST, tx));
        assert!(!group_gathers(&control, 2, &opts));
    }

    #[test]
    fn a_sync_misses_writers_not_yet_waiting_or_not_yet_written() {
        assert!(sync_misses_writers(&queue(1, &[]), 2));
        assert!(!sync_misses_writers(&queue(2, &[]), 2));
        assert!(sync_misses_writers(&queue(2, &[10]), 2));
        let mut writing = queue(2, &[]);
        writing.writing = true;
        assert!(sync_misses_writers(&writing, 2));
    }

    #[test]
    fn a_sync_gathers_only_without_a_control_or_a_close() {
        assert!(sync_gathers(&queue(1, &[]), 2));
        assert!(!sync_gathers(&queue(2, &[]), 2));
        let mut closing = queue(1, &[]);
        closing.closing = true;
        assert!(!sync_gathers(&closing, 2));
        let mut control = queue(1, &[]);
        let (tx, _rx) = mpsc::channel();
        control
            .controls
            .push_back(Control::PurgeBelow(Lsn::FIRST, tx));
        assert!(!sync_gathers(&control, 2));
    }

    #[test]
    fn a_gather_waits_half_the_sync_time_at_most_max_gather() {
        assert_eq!(gather_budget(0), Duration::ZERO);
        assert_eq!(gather_budget(1_000_000), Duration::from_micros(500));
        assert_eq!(gather_budget(4_000_000), MAX_GATHER);
        assert_eq!(gather_budget(u64::MAX), MAX_GATHER);
    }

    #[test]
    fn the_sync_time_is_an_average_of_weight_an_eighth() {
        assert_eq!(averaged_sync_nanos(0, 1000), 1000);
        assert_eq!(averaged_sync_nanos(800, 1600), 900);
        assert_eq!(averaged_sync_nanos(800, 0), 700);
    }
}
