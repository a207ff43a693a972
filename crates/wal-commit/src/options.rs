//! The committer's options.

use std::time::Duration;

use crate::error::{Error, Result};

/// The most a stored record's payload exceeds the logical payload it
/// holds: the encryption tag (compression stores a payload only when that
/// makes it smaller). A checkpoint, never split, is stored in at most
/// [`CommitOptions::fragment_size`] plus this many bytes; a reader's limit
/// on stored payloads allows for it.
pub const MAX_STORED_GROWTH: usize = wal_format::ENCRYPTION_TAG_LEN;

/// How the committer groups, bounds and transforms records.
///
/// Built with [`CommitOptions::new`] and its setters; checked when the log
/// is opened.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CommitOptions {
    pub(crate) max_group_records: usize,
    pub(crate) max_group_bytes: usize,
    pub(crate) max_delay: Option<Duration>,
    pub(crate) adaptive_delay: bool,
    pub(crate) wait_yields: u32,
    pub(crate) pipelined_sync: bool,
    pub(crate) adaptive_preallocation: bool,
    pub(crate) max_in_flight_bytes: usize,
    pub(crate) max_record_len: usize,
    pub(crate) fragment_size: usize,
    pub(crate) compression_level: Option<i32>,
    pub(crate) prepare_in_background: bool,
    #[cfg(feature = "encryption")]
    pub(crate) keys: Option<std::sync::Arc<dyn wal_crypto::KeyProvider>>,
}

impl Default for CommitOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl CommitOptions {
    /// The defaults, listed with each setter.
    #[must_use]
    pub fn new() -> Self {
        CommitOptions {
            max_group_records: 16 * 1024,
            max_group_bytes: 8 << 20,
            max_delay: None,
            adaptive_delay: true,
            wait_yields: 0,
            pipelined_sync: true,
            adaptive_preallocation: true,
            max_in_flight_bytes: 64 << 20,
            max_record_len: 64 << 20,
            fragment_size: 1 << 20,
            compression_level: None,
            prepare_in_background: true,
            #[cfg(feature = "encryption")]
            keys: None,
        }
    }

    /// The most records one group (one write, one sync) takes. A batch is
    /// never split, so a group may exceed this by one batch.
    ///
    /// By default, 16384.
    pub fn max_group_records(&mut self, n: usize) -> &mut Self {
        self.max_group_records = n;
        self
    }

    /// The most payload bytes one group takes (at least one request is
    /// always taken, however large).
    ///
    /// By default, 8 MiB.
    pub fn max_group_bytes(&mut self, n: usize) -> &mut Self {
        self.max_group_bytes = n;
        self
    }

    /// How long the committer may wait for more records before writing a
    /// group that is not full (like PostgreSQL's `commit_delay`): trades a
    /// lone writer's latency for larger groups. Groups still grow while a
    /// sync is in flight without it.
    ///
    /// By default, `None`: a group goes as soon as the previous sync ends.
    pub fn max_delay(&mut self, delay: Option<Duration>) -> &mut Self {
        self.max_delay = delay;
        self
    }

    /// Lets a group wait, briefly, for the writers that recent groups
    /// served and that have not queued their next record yet (the callers
    /// a sync has just acknowledged). Without it, W steady writers can
    /// split into smaller groups that take turns, one syncing while the
    /// other gathers behind it (measurements: `docs/perf/HISTORY.md`,
    /// "Adaptive delay"). The wait happens only while fewer callers wait
    /// than recent groups served, so a lone writer and a group that is
    /// already whole go at once; it lasts at most half the recent sync
    /// time (and never more than 2 ms). Ignored when
    /// [`max_delay`](Self::max_delay) is set.
    ///
    /// By default, on.
    pub fn adaptive_delay(&mut self, on: bool) -> &mut Self {
        self.adaptive_delay = on;
        self
    }

    /// How many times a thread blocked until its record is durable gives
    /// up its CPU (`sched_yield`) while the watermark does not move, before
    /// it goes to sleep. A thread that yields stays runnable: when the sync
    /// it waits for returns it runs again without being woken, where a
    /// sleeping one costs a wake-up (on a virtual machine, one whose CPU
    /// has gone idle first brings that CPU back). More commits per
    /// second with many writers, for CPU time: a yield returns at once
    /// when nothing else is runnable, so the waiting threads keep the CPUs
    /// busy (measured in `docs/PERFORMANCE.md`, "Yielding before
    /// sleeping"). For a log that has its machine to itself; async waiters
    /// never yield.
    ///
    /// By default, 0: a waiter sleeps at once.
    pub fn wait_yields(&mut self, n: u32) -> &mut Self {
        self.wait_yields = n;
        self
    }

    /// Syncs groups on a thread of their own, so the next group is written
    /// while the last one is synced. Without it, one thread writes a group
    /// and then waits for its sync: a group's cycle is the write (for
    /// large records, mostly the copy into the page cache) plus the sync.
    /// Either way a record is acknowledged only after a sync that began
    /// after its write returned. Takes effect with
    /// `SyncMode::Data` and `SyncMode::All` (the other modes have no sync
    /// to overlap).
    ///
    /// By default, on.
    pub fn pipelined_sync(&mut self, on: bool) -> &mut Self {
        self.pipelined_sync = on;
        self
    }

    /// The most payload bytes appended but not yet durable. Appenders
    /// block (or, async, wait) when it is reached, so memory stays bounded
    /// under any load. A single record larger than this is still taken
    /// when nothing else is in flight.
    ///
    /// By default, 64 MiB.
    pub fn max_in_flight_bytes(&mut self, n: usize) -> &mut Self {
        self.max_in_flight_bytes = n;
        self
    }

    /// The largest record (payload) accepted.
    ///
    /// By default, 64 MiB.
    pub fn max_record_len(&mut self, n: usize) -> &mut Self {
        self.max_record_len = n;
        self
    }

    /// Payloads longer than this are written as fragments of this size.
    ///
    /// By default, 1 MiB.
    pub fn fragment_size(&mut self, n: usize) -> &mut Self {
        self.fragment_size = n;
        self
    }

    /// Compresses payloads with zstd at this level, when that makes them
    /// smaller (needs the `compression` feature).
    ///
    /// By default, `None`.
    pub fn compression_level(&mut self, level: Option<i32>) -> &mut Self {
        self.compression_level = level;
        self
    }

    /// When the log prepares its next segment ahead of need
    /// (`wal_io::LogOptions::prepare_ahead`, on by default), do it on a
    /// thread of the committer's own instead of inside the rotation, so no
    /// group waits while a segment file is created, zero-filled and synced.
    /// Turn it off for a deterministic order of storage calls (crash-point
    /// tests on a simulated disk).
    ///
    /// By default, on.
    pub fn prepare_in_background(&mut self, on: bool) -> &mut Self {
        self.prepare_in_background = on;
        self
    }

    /// With segments zero-filled (`wal_io::Preallocation::ZeroFill`, the
    /// default) and prepared in the background: zero-fill the next spare
    /// only while the log syncs often for the bytes it writes. When the
    /// segment just filled took 32 KiB or more per sync (many writers,
    /// large records, unsynced appends), the spare is only allocated
    /// (`fallocate`): zeros make each small sync cheaper, but they are as
    /// many bytes again for the disk to write, which costs more once the
    /// disk's bandwidth is what limits. Off, every spare is reserved as
    /// the log's options say.
    ///
    /// By default, on.
    pub fn adaptive_preallocation(&mut self, on: bool) -> &mut Self {
        self.adaptive_preallocation = on;
        self
    }

    /// Encrypts every payload with AES-256-GCM under the provider's
    /// current key (needs the `encryption` feature). Each new segment gets
    /// a fresh key seed and records its key id; a log opened with keys
    /// never appends to a segment created before it was opened.
    ///
    /// By default, `None` (no encryption).
    #[cfg(feature = "encryption")]
    pub fn encryption(
        &mut self,
        keys: Option<std::sync::Arc<dyn wal_crypto::KeyProvider>>,
    ) -> &mut Self {
        self.keys = keys;
        self
    }

    /// The most payload bytes one atomic batch may hold: the larger of
    /// the group byte limit and the record size limit.
    #[must_use]
    pub fn max_batch_bytes(&self) -> usize {
        self.max_group_bytes.max(self.max_record_len)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |name, reason| Err(Error::InvalidOption { name, reason });
        if self.max_group_records == 0 {
            return bad("max_group_records", "must be at least 1");
        }
        if self.max_group_bytes == 0 {
            return bad("max_group_bytes", "must be at least 1");
        }
        if self.max_in_flight_bytes == 0 {
            return bad("max_in_flight_bytes", "must be at least 1");
        }
        if self.fragment_size == 0 || self.fragment_size > u32::MAX as usize / 2 {
            return bad("fragment_size", "must be between 1 byte and 2 GiB");
        }
        if self.max_record_len == 0 || self.max_record_len > u32::MAX as usize / 2 {
            return bad("max_record_len", "must be between 1 byte and 2 GiB");
        }
        if self.max_delay.is_some_and(|d| d > Duration::from_secs(1)) {
            return bad("max_delay", "must be at most one second");
        }
        Ok(())
    }
}
