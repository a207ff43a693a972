//! The committer's counters and latency histograms through the `metrics`
//! facade (feature `metrics`), named as Prometheus users expect: counters
//! end in `_total`, durations are histograms in seconds (etcd's
//! `wal_fsync_duration_seconds` is `groupwal_fsync_duration_seconds`
//! here). Every series carries the label `dir`, the log directory, so many
//! logs in one process stay apart.
//!
//! The handles are registered once, when the committer starts, with the
//! recorder installed then (install it before opening a log); each event
//! is then one call on a handle. Without the feature, what the committer
//! holds for this is a zero-sized type whose methods do nothing and are
//! inlined away, and the `metrics` crate is not built.
//!
//! The same events feed the lock-free [`crate::Stats`] snapshot, which is
//! always there. The constants below are the series' names.

/// Records appended (counted when their group is written).
pub const APPENDS: &str = "groupwal_appends_total";
/// Payload bytes appended, before compression and encryption.
pub const BYTES: &str = "groupwal_appended_bytes_total";
/// Groups written (one write call each).
pub const GROUPS: &str = "groupwal_groups_total";
/// Syncs that succeeded (each covers one group or more).
pub const SYNCS: &str = "groupwal_syncs_total";
/// Times the log was poisoned by a failed write, sync or rotation (at most
/// once per open).
pub const POISONINGS: &str = "groupwal_poisonings_total";
/// How long each sync (`fdatasync`, `fsync`) took, in seconds.
pub const FSYNC_SECONDS: &str = "groupwal_fsync_duration_seconds";
/// How long each group's write took, from taking the group to the write's
/// return, in seconds.
pub const WRITE_SECONDS: &str = "groupwal_write_duration_seconds";
/// Records per group written.
pub const GROUP_SIZE: &str = "groupwal_group_size_records";
/// How long each request waited in the queue before its group was taken,
/// in seconds.
pub const QUEUE_WAIT_SECONDS: &str = "groupwal_queue_wait_duration_seconds";
/// How long each append took from being queued to being durable, in
/// seconds.
pub const APPEND_SECONDS: &str = "groupwal_append_duration_seconds";

#[cfg(feature = "metrics")]
pub(crate) use enabled::Metrics;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::Metrics;

#[cfg(feature = "metrics")]
mod enabled {
    use std::fmt;
    use std::path::Path;
    use std::time::Duration;

    use metrics::{
        Counter, Histogram, Unit, counter, describe_counter, describe_histogram, histogram,
    };

    use super::{
        APPEND_SECONDS, APPENDS, BYTES, FSYNC_SECONDS, GROUP_SIZE, GROUPS, POISONINGS,
        QUEUE_WAIT_SECONDS, SYNCS, WRITE_SECONDS,
    };

    /// The handles of one committer's series.
    pub(crate) struct Metrics {
        appends: Counter,
        bytes: Counter,
        groups: Counter,
        syncs: Counter,
        poisonings: Counter,
        fsync: Histogram,
        write: Histogram,
        group_size: Histogram,
        queue_wait: Histogram,
        append: Histogram,
    }

    impl fmt::Debug for Metrics {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Metrics").finish_non_exhaustive()
        }
    }

    impl Metrics {
        pub(crate) fn new(dir: &Path) -> Self {
            describe();
            let dir = dir.display().to_string();
            let c = |name: &'static str| counter!(name, "dir" => dir.clone());
            let h = |name: &'static str| histogram!(name, "dir" => dir.clone());
            Metrics {
                appends: c(APPENDS),
                bytes: c(BYTES),
                groups: c(GROUPS),
                syncs: c(SYNCS),
                poisonings: c(POISONINGS),
                fsync: h(FSYNC_SECONDS),
                write: h(WRITE_SECONDS),
                group_size: h(GROUP_SIZE),
                queue_wait: h(QUEUE_WAIT_SECONDS),
                append: h(APPEND_SECONDS),
            }
        }

        pub(crate) fn queued(&self, waited: Duration) {
            self.queue_wait.record(waited);
        }

        pub(crate) fn written(&self, records: u64, bytes: u64, took: Duration) {
            self.appends.increment(records);
            self.bytes.increment(bytes);
            self.groups.increment(1);
            self.group_size.record(records as f64);
            self.write.record(took);
        }

        pub(crate) fn synced(&self, took: Duration) {
            self.syncs.increment(1);
            self.fsync.record(took);
        }

        pub(crate) fn acknowledged(&self, took: Duration) {
            self.append.record(took);
        }

        pub(crate) fn poisoned(&self) {
            self.poisonings.increment(1);
        }
    }

    /// Each counter's name, unit and help text.
    const COUNTERS: [(&str, Unit, &str); 5] = [
        (APPENDS, Unit::Count, "Records appended to the log."),
        (
            BYTES,
            Unit::Bytes,
            "Payload bytes appended, before compression and encryption.",
        ),
        (GROUPS, Unit::Count, "Groups written, one write each."),
        (SYNCS, Unit::Count, "Syncs of the log that succeeded."),
        (
            POISONINGS,
            Unit::Count,
            "Times a failed write, sync or rotation poisoned the log.",
        ),
    ];

    /// Each histogram's name, unit and help text.
    const HISTOGRAMS: [(&str, Unit, &str); 5] = [
        (FSYNC_SECONDS, Unit::Seconds, "Duration of each sync."),
        (
            WRITE_SECONDS,
            Unit::Seconds,
            "Duration of each group's write.",
        ),
        (GROUP_SIZE, Unit::Count, "Records per group written."),
        (
            QUEUE_WAIT_SECONDS,
            Unit::Seconds,
            "Time a request waited before its group was taken.",
        ),
        (
            APPEND_SECONDS,
            Unit::Seconds,
            "Time from queueing an append to its record being durable.",
        ),
    ];

    /// Names' help texts and units, for exporters that show them.
    fn describe() {
        for (name, unit, help) in COUNTERS {
            describe_counter!(name, unit, help);
        }
        for (name, unit, help) in HISTOGRAMS {
            describe_histogram!(name, unit, help);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use std::path::Path;
    use std::time::Duration;

    /// Nothing: the feature is off.
    #[derive(Debug)]
    pub(crate) struct Metrics;

    impl Metrics {
        #[inline(always)]
        pub(crate) fn new(_dir: &Path) -> Self {
            Metrics
        }

        #[inline(always)]
        pub(crate) fn queued(&self, _waited: Duration) {}

        #[inline(always)]
        pub(crate) fn written(&self, _records: u64, _bytes: u64, _took: Duration) {}

        #[inline(always)]
        pub(crate) fn synced(&self, _took: Duration) {}

        #[inline(always)]
        pub(crate) fn acknowledged(&self, _took: Duration) {}

        #[inline(always)]
        pub(crate) fn poisoned(&self) {}
    }
}
