//! Sync modes, preallocation and the options of a [`crate::SegmentLog`].

use crate::error::{Error, Result};

/// How appended bytes are made durable. See [the format's "Sync
/// modes"](wal_format::spec#sync-modes-wal-io) for the table of what
/// survives a process crash and a power loss.
///
/// In every mode the bytes of a [`crate::SegmentLog::write`] are in the
/// kernel (they survive a crash of the process) once it returns. The modes
/// differ in when they survive a power loss (or a kernel crash):
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncMode {
    /// Never sync: [`crate::SegmentLog::sync`] does nothing. A process crash
    /// loses nothing written; a power loss may lose, or tear, anything not
    /// written back by the kernel on its own (typically the last 30 s).
    None,
    /// `fdatasync(2)` in [`crate::SegmentLog::sync`]: after it returns, the
    /// data written before it, and the size and allocation needed to read
    /// it, survive a power loss. File times are not synced. The default.
    #[default]
    Data,
    /// `fsync(2)` in [`crate::SegmentLog::sync`]: as [`SyncMode::Data`],
    /// and all the file's metadata (times) too. Slower, rarely needed.
    All,
    /// Files opened with `O_DSYNC`: every write returns only once its data
    /// is durable (as if each were followed by `fdatasync`);
    /// [`crate::SegmentLog::sync`] does nothing.
    Dsync,
    /// Files opened with `O_DIRECT | O_DSYNC`: writes bypass the page cache
    /// and are durable when they return. Writes are whole aligned blocks
    /// ([`crate::DIRECT_ALIGN`]) from an aligned buffer; the partly filled
    /// last block is kept in memory, padded with zeros, and written again,
    /// in place, with the next append (its earlier bytes unchanged, so a
    /// torn rewrite cannot damage acknowledged records). Refused at open
    /// where the file system cannot do it (tmpfs, for example).
    Direct,
}

impl SyncMode {
    /// Whether files are opened with `O_DIRECT`.
    #[must_use]
    pub const fn is_direct(self) -> bool {
        matches!(self, SyncMode::Direct)
    }

    /// Whether files are opened with `O_DSYNC`.
    #[must_use]
    pub const fn is_dsync(self) -> bool {
        matches!(self, SyncMode::Dsync | SyncMode::Direct)
    }
}

/// How a new segment file's space is reserved before records are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preallocation {
    /// None: the file grows with each append, so every `fdatasync` also
    /// commits the new size and block allocation (a journal commit).
    None,
    /// A sparse `set_len` to the segment size: no blocks are reserved, so
    /// it is as slow as [`Preallocation::None`] (and can hit `ENOSPC` on
    /// an append). Here for comparison only.
    SetLen,
    /// `fallocate(2)`: blocks are reserved (no `ENOSPC` later), but they
    /// are marked unwritten, so the first write to each still commits an
    /// extent conversion with the next `fdatasync`.
    Allocate,
    /// `fallocate(2)`, then zeros written over the whole file and synced,
    /// when the segment is prepared (ahead of need): the steady-state
    /// `fdatasync` then flushes data only. The default.
    #[default]
    ZeroFill,
}

/// Options of a [`crate::SegmentLog`]. Built with [`LogOptions::new`] and
/// the setters; checked by [`crate::SegmentLog::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    pub(crate) create: bool,
    pub(crate) segment_size: u64,
    pub(crate) sync_mode: SyncMode,
    pub(crate) preallocation: Preallocation,
    pub(crate) max_spares: usize,
    pub(crate) prepare_ahead: bool,
    pub(crate) max_payload_len: u32,
    pub(crate) writeback_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            create: true,
            segment_size: 64 * 1024 * 1024,
            sync_mode: SyncMode::default(),
            preallocation: Preallocation::default(),
            max_spares: 2,
            prepare_ahead: true,
            max_payload_len: 64 * 1024 * 1024,
            writeback_bytes: 1024 * 1024,
        }
    }
}

/// The smallest segment size allowed.
pub const MIN_SEGMENT_SIZE: u64 = 4096;

impl LogOptions {
    /// The largest segment size allowed: 1 GiB. A segment is reserved
    /// whole (and zero-filled, by default) when its file is prepared, up
    /// to [`LogOptions::max_spares`] spares are kept besides the segment
    /// being written, resuming after a stop that was not a clean close
    /// reads and rewrites the last segment's records, and purging frees
    /// whole segments only: each of these costs grows with the segment
    /// size, and past 1 GiB (Kafka's default segment size) none of them
    /// buys anything (a rotation's cost is one header write and a rename,
    /// whatever the size). Larger values are refused when the log is
    /// opened ([`crate::Error::InvalidOption`]).
    pub const MAX_SEGMENT_SIZE: u64 = 1 << 30;

    /// The default options.
    #[must_use]
    pub fn new() -> Self {
        LogOptions::default()
    }

    /// Whether a missing directory is created. By default, it is.
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// The size at which a segment is full: an append that would take it
    /// past this size goes to a new segment (unless the segment holds no
    /// record yet, so one batch larger than a segment still fits, in a
    /// segment of its own). At least [`MIN_SEGMENT_SIZE`] (4 KiB), at most
    /// [`LogOptions::MAX_SEGMENT_SIZE`] (1 GiB); a multiple of
    /// [`crate::DIRECT_ALIGN`] with [`SyncMode::Direct`]. By default, 64 MiB.
    pub fn segment_size(&mut self, bytes: u64) -> &mut Self {
        self.segment_size = bytes;
        self
    }

    /// How appends are made durable. By default, [`SyncMode::Data`].
    pub fn sync_mode(&mut self, mode: SyncMode) -> &mut Self {
        self.sync_mode = mode;
        self
    }

    /// How new segments reserve their space. By default,
    /// [`Preallocation::ZeroFill`].
    pub fn preallocation(&mut self, how: Preallocation) -> &mut Self {
        self.preallocation = how;
        self
    }

    /// How many purged segments are kept, renamed as spares, to be reused
    /// by later rotations instead of creating and preallocating new files.
    /// 0 turns recycling off. By default, 2.
    pub fn max_spares(&mut self, count: usize) -> &mut Self {
        self.max_spares = count;
        self
    }

    /// Whether, after a rotation, the next segment file is prepared at once
    /// (created and preallocated, or recycled) so the next rotation only
    /// writes a header and renames a file. By default, it is.
    pub fn prepare_ahead(&mut self, on: bool) -> &mut Self {
        self.prepare_ahead = on;
        self
    }

    /// How many bytes written without a sync make the log start their
    /// writeback at once, without waiting for it (`sync_file_range`, like
    /// RocksDB's `wal_bytes_per_sync`): with long runs of unsynced writes,
    /// the sync that ends them (or the one that seals a full segment) then
    /// finds most of the data on its way to the disk instead of stalling
    /// for all of it. Only for [`SyncMode::Data`] and [`SyncMode::All`];
    /// it makes nothing durable. 0 turns it off. By default, 1 MiB.
    pub fn writeback_bytes(&mut self, bytes: u64) -> &mut Self {
        self.writeback_bytes = bytes;
        self
    }

    /// The largest record payload accepted when scanning a segment (by
    /// [`crate::SegmentLog::truncate_from`] and
    /// [`crate::SegmentReader::records`]); a longer length field is treated
    /// as damage. By default, 64 MiB.
    pub fn max_payload_len(&mut self, bytes: u32) -> &mut Self {
        self.max_payload_len = bytes;
        self
    }

    /// The configured sync mode.
    #[must_use]
    pub fn get_sync_mode(&self) -> SyncMode {
        self.sync_mode
    }

    /// The configured segment size.
    #[must_use]
    pub fn get_segment_size(&self) -> u64 {
        self.segment_size
    }

    /// Whether the next segment is prepared ahead of need.
    #[must_use]
    pub fn get_prepare_ahead(&self) -> bool {
        self.prepare_ahead
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.segment_size < MIN_SEGMENT_SIZE {
            return Err(Error::InvalidOption {
                name: "segment_size",
                reason: "must be at least 4096 bytes",
            });
        }
        if self.segment_size > Self::MAX_SEGMENT_SIZE {
            return Err(Error::InvalidOption {
                name: "segment_size",
                reason: "must be at most 1 GiB (1073741824 bytes)",
            });
        }
        if self.sync_mode.is_direct()
            && !self.segment_size.is_multiple_of(crate::DIRECT_ALIGN as u64)
        {
            return Err(Error::InvalidOption {
                name: "segment_size",
                reason: "must be a multiple of 4096 with the direct sync mode",
            });
        }
        if usize::try_from(self.segment_size).is_err() {
            return Err(Error::InvalidOption {
                name: "segment_size",
                reason: "does not fit in memory addresses of this platform",
            });
        }
        Ok(())
    }
}
