//! [`WalOptions`]: every knob of a log in one builder.

use std::sync::Arc;
use std::time::Duration;

use wal_commit::CommitOptions;
use wal_io::{FileStorage, LogOptions, Preallocation, Storage, SyncMode};
use wal_reader::{ReadOptions, RecoveryMode};

/// How a [`crate::Wal`] stores, groups, protects and recovers records.
///
/// ```
/// use std::time::Duration;
/// use groupwal::{RecoveryMode, SyncMode, WalOptions};
///
/// let mut options = WalOptions::new();
/// options
///     .sync_mode(SyncMode::Data)
///     .segment_size(64 << 20)
///     .max_delay(Some(Duration::from_micros(50)))
///     .recovery_mode(RecoveryMode::TolerateCorruptedTailRecords);
/// ```
#[derive(Clone, Debug)]
pub struct WalOptions {
    pub(crate) log: LogOptions,
    pub(crate) commit: CommitOptions,
    pub(crate) read: ReadOptions,
    pub(crate) storage: Arc<dyn Storage>,
    /// See [`WalOptions::stream_rewrite_segments`].
    pub(crate) rewrite_segments: Option<u64>,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl WalOptions {
    /// The defaults, listed with each setter.
    #[must_use]
    pub fn new() -> Self {
        let mut options = WalOptions {
            log: LogOptions::new(),
            commit: CommitOptions::new(),
            read: ReadOptions::new(),
            storage: Arc::new(FileStorage::new()),
            rewrite_segments: Some(16),
        };
        options.fragment_size(1 << 20).max_record_len(64 << 20);
        options
    }

    /// When the log holds more than `n` segments and streams' live entries
    /// keep the oldest ones (a lagging follower, an idle partition), the
    /// live entries of the segments beyond the newest `n` are copied
    /// forward (raft-engine's rewrite) so those segments can go; the copies
    /// are counted in [`crate::StreamInfo::copied`]. Runs in the space
    /// reclamation that a stream's purge ([`crate::Stream::purge_below`])
    /// or [`crate::Wal::purge_below`] starts, on the caller's thread.
    /// `None`: never; such a stream keeps every segment from its first
    /// live entry on. By default, 16 (1 GiB of 64 MiB segments).
    pub fn stream_rewrite_segments(&mut self, n: Option<u64>) -> &mut Self {
        self.rewrite_segments = n.map(|n| n.max(1));
        self
    }

    /// Whether a missing log directory is created. By default, it is.
    pub fn create(&mut self, yes: bool) -> &mut Self {
        self.log.create(yes);
        self
    }

    /// The size at which a segment file is closed and the next begun (at a
    /// record or batch boundary). By default, 64 MiB. A segment takes this
    /// much disk as soon as it is made (see [`WalOptions::preallocation`]);
    /// the next one is prepared once the current one is half full, so a
    /// small log takes one segment on disk, a busy one two plus the older
    /// segments not yet purged.
    pub fn segment_size(&mut self, bytes: u64) -> &mut Self {
        self.log.segment_size(bytes);
        self
    }

    /// How appends are made durable; see [`SyncMode`] for what survives a
    /// process crash and a power loss in each. By default,
    /// [`SyncMode::Data`] (`fdatasync`).
    pub fn sync_mode(&mut self, mode: SyncMode) -> &mut Self {
        self.log.sync_mode(mode);
        self
    }

    /// How segment files reserve their space. By default,
    /// [`Preallocation::ZeroFill`], so a steady-state `fdatasync` commits
    /// data only.
    pub fn preallocation(&mut self, how: Preallocation) -> &mut Self {
        self.log.preallocation(how);
        self
    }

    /// How many purged segment files are kept for reuse. By default, 2.
    pub fn max_spares(&mut self, n: usize) -> &mut Self {
        self.log.max_spares(n);
        self
    }

    /// The most records one group (one write, one sync) takes. By default,
    /// 16384.
    pub fn max_group_records(&mut self, n: usize) -> &mut Self {
        self.commit.max_group_records(n);
        self
    }

    /// The most payload bytes one group takes. By default, 8 MiB.
    pub fn max_group_bytes(&mut self, n: usize) -> &mut Self {
        self.commit.max_group_bytes(n);
        self
    }

    /// How long the I/O thread waits for more appends before it writes a
    /// group (like PostgreSQL's `commit_delay`): larger groups, longer
    /// latency. By default, `None`: a group goes as soon as the previous
    /// sync returns.
    pub fn max_delay(&mut self, delay: Option<Duration>) -> &mut Self {
        self.commit.max_delay(delay);
        self
    }

    /// Lets a group wait briefly (at most half the recent sync time) for
    /// the writers recent groups served that have not queued their next
    /// record yet, so steady writers share one sync instead of taking
    /// turns in two half-size groups; a lone writer never waits. See
    /// `wal_commit::CommitOptions::adaptive_delay`. By default, on.
    pub fn adaptive_delay(&mut self, on: bool) -> &mut Self {
        self.commit.adaptive_delay(on);
        self
    }

    /// How many times a thread blocked until its record is durable yields
    /// its CPU before it sleeps: more commits per second with many
    /// writers, for CPU time the waiting threads keep busy. See
    /// `wal_commit::CommitOptions::wait_yields`. By default, 0.
    pub fn wait_yields(&mut self, n: u32) -> &mut Self {
        self.commit.wait_yields(n);
        self
    }

    /// Syncs groups on a thread of their own while the next ones are
    /// written, so a group's cycle is the longer of its write and its sync
    /// rather than their sum (a record is still acknowledged only after a
    /// sync that began after its write returned). See
    /// `wal_commit::CommitOptions::pipelined_sync`. By default, on.
    pub fn pipelined_sync(&mut self, on: bool) -> &mut Self {
        self.commit.pipelined_sync(on);
        self
    }

    /// With zero-filled segments (the default), zero-fill the next one only
    /// while the log syncs often for the bytes it writes; after a segment
    /// written at 32 KiB or more per sync, the next is only fallocated
    /// (zeros would double what the disk writes). See
    /// `wal_commit::CommitOptions::adaptive_preallocation`. By default, on.
    pub fn adaptive_preallocation(&mut self, on: bool) -> &mut Self {
        self.commit.adaptive_preallocation(on);
        self
    }

    /// Prepare the next segment (create, preallocate, zero-fill, sync) on
    /// a thread of its own, so no append waits for it; off, the rotation
    /// does it inline, and the order of storage calls follows from the
    /// appends alone (for crash-point tests on a simulated disk). By
    /// default, on.
    pub fn prepare_in_background(&mut self, on: bool) -> &mut Self {
        self.commit.prepare_in_background(on);
        self
    }

    /// The most payload bytes appended but not yet durable; appenders wait
    /// beyond it. By default, 64 MiB.
    pub fn max_in_flight_bytes(&mut self, n: usize) -> &mut Self {
        self.commit.max_in_flight_bytes(n);
        self
    }

    /// The largest record accepted, appended or read. By default, 64 MiB.
    pub fn max_record_len(&mut self, n: usize) -> &mut Self {
        self.commit.max_record_len(n);
        self.read.max_record_len(n);
        self
    }

    /// Records larger than this are stored as fragments of this size. By
    /// default, 1 MiB.
    pub fn fragment_size(&mut self, n: usize) -> &mut Self {
        self.commit.fragment_size(n);
        // Room for what storing adds to a checkpoint, which is never split.
        let stored =
            u32::try_from(n.saturating_add(wal_commit::MAX_STORED_GROWTH)).unwrap_or(u32::MAX);
        self.log.max_payload_len(stored);
        self.read.max_payload_len(stored);
        self
    }

    /// How many bytes readers and recovery read at a time: the read window
    /// over a segment, grown to one record when a record is larger (at
    /// least [`wal_reader::MIN_BUFFER_SIZE`]). By default, 1 MiB.
    pub fn read_buffer_size(&mut self, bytes: usize) -> &mut Self {
        self.read.buffer_size(bytes);
        self
    }

    /// What recovery does about damage when the log is opened; see
    /// [`RecoveryMode`]. By default, a torn tail is cut and any corruption
    /// before it is an error.
    pub fn recovery_mode(&mut self, mode: RecoveryMode) -> &mut Self {
        self.read.mode(mode);
        self
    }

    /// Compresses payloads with zstd at this level when that makes them
    /// smaller (the `compression` feature; without it, opening fails). By
    /// default, `None`.
    pub fn compression_level(&mut self, level: Option<i32>) -> &mut Self {
        self.commit.compression_level(level);
        self
    }

    /// Encrypts payloads with AES-256-GCM under the provider's current key,
    /// and decrypts what is read with the key each segment names (the
    /// `encryption` feature). By default, no encryption.
    #[cfg(feature = "encryption")]
    pub fn encryption(&mut self, keys: Arc<dyn wal_crypto::KeyProvider>) -> &mut Self {
        self.commit.encryption(Some(keys.clone()));
        self.read.keys(keys);
        self
    }

    /// The storage the log lives on. By default, the real file system;
    /// tests use `wal_io::sim::SimStorage` (feature `sim` of `wal-io`).
    pub fn storage(&mut self, storage: Arc<dyn Storage>) -> &mut Self {
        self.storage = storage;
        self
    }

    /// The options of the reading layer, as set here.
    #[must_use]
    pub fn read_options(&self) -> &ReadOptions {
        &self.read
    }
}
