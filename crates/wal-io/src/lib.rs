//! groupwal's segment storage: the only layer that touches the file system.
//!
//! It turns "append these encoded records, make them durable" into segment
//! files on disk, and lets every test above it run on a simulated disk that
//! crashes and fails on purpose.
//!
//! # Overview
//!
//! - [`Storage`] is the file-system interface (files with positional reads
//!   and writes, syncs, `fallocate`, `set_len`; directory listing, rename,
//!   remove, directory sync, an exclusive directory lock). [`FileStorage`]
//!   is the real file system; [`sim::SimStorage`] (feature `sim`) is a
//!   deterministic simulated disk with a volatile page cache, crashes and
//!   injected faults, and [`sim::HaltingStorage`] stops any storage at its
//!   k-th mutating call.
//! - [`SegmentLog`] is a locked log directory: segments named by their
//!   first LSN, each starting with a [`wal_format::SegmentHeader`] (random
//!   salt, the log's id). It appends whole batches of encoded records
//!   ([`SegmentLog::begin_batch`], [`SegmentLog::write`],
//!   [`SegmentLog::sync`]), rotates at [`LogOptions::segment_size`] on a
//!   batch boundary, preallocates ([`Preallocation`]), prepares the next
//!   segment ahead of need, recycles purged segments (with a new salt),
//!   purges ([`SegmentLog::purge_below`]) and truncates the suffix
//!   ([`SegmentLog::truncate_from`]) crash-safely, and syncs the directory
//!   after every create, rename and remove.
//! - [`SyncMode`] says how appends become durable: none, `fdatasync`,
//!   `fsync`, `O_DSYNC`, or `O_DIRECT | O_DSYNC` with aligned buffers. A
//!   mode the file system cannot do is refused at open.
//! - [`SegmentReader`] reads a segment (for the recovery reader above).
//! - [`Error`] is the crate's one error type; every variant about a file
//!   names it.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use wal_format::{encode_record, Flags, Lsn, RecordHeader, RecordType};
//! use wal_io::{FileStorage, LogOptions, SegmentLog, SyncMode};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut options = LogOptions::new();
//! options.segment_size(1 << 20).sync_mode(SyncMode::Data);
//! let mut log = SegmentLog::open(Arc::new(FileStorage::new()), dir.path().join("wal"), &options)?;
//!
//! // Append one record: ask for the salt of the segment it lands in,
//! // encode, write, sync.
//! let payload = b"hello";
//! let salt = log.begin_batch(Lsn::FIRST, 32 + payload.len() as u64)?;
//! let mut buf = Vec::new();
//! let header = RecordHeader { lsn: Lsn::FIRST, salt, record_type: RecordType::Full, flags: Flags::EMPTY };
//! encode_record(&mut buf, &header, payload)?;
//! log.write(&buf, Lsn::new(2))?;
//! log.sync()?;
//!
//! // Read it back.
//! let segment = log.open_segment(Lsn::FIRST)?;
//! let records: Vec<_> = segment.records(1 << 20).collect::<Result<_, _>>()?;
//! assert_eq!(records[0].payload, payload);
//! log.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `sim`: the [`sim`] module (simulated disk, fault injection, halting
//!   wrapper). Crates above enable it in their dev-dependencies.
//!
//! # What this crate does not do
//!
//! It does not find the end of a log's valid data after a crash or tell a
//! torn tail from corruption (that is `wal-reader`, which uses
//! [`SegmentReader`] and then [`SegmentLog::resume`]), encode records
//! (`wal-format`), batch concurrent appends or start threads
//! (`wal-commit`), or encrypt (`wal-crypto`). It runs on Linux (and, without
//! `O_DIRECT` and `fallocate`, other Unix systems).

// Without the `sim` feature its module is not built: its links go to the
// published docs, which are built with every feature.
#![cfg_attr(
    not(feature = "sim"),
    doc = "",
    doc = "[`sim`]: https://docs.rs/wal-io/latest/wal_io/sim/index.html",
    doc = "[`sim::SimStorage`]: https://docs.rs/wal-io/latest/wal_io/sim/struct.SimStorage.html",
    doc = "[`sim::HaltingStorage`]: https://docs.rs/wal-io/latest/wal_io/sim/struct.HaltingStorage.html"
)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod aligned;
mod error;
mod lock_holder;
mod log;
mod options;
mod segment;
mod storage;

#[cfg(feature = "sim")]
pub mod sim;

pub use aligned::DIRECT_ALIGN;
pub use error::{Error, Result, io_err};
pub use log::{
    CLEAN_FILE, LOCK_FILE, SPARE_EXTENSION, SPARE_PREFIX, SegmentHook, SegmentLog, SparePreparer,
    SyncHandle, is_spare_name, read_clean_marker,
};
pub use options::{LogOptions, MIN_SEGMENT_SIZE, Preallocation, SyncMode};
pub use segment::{RecordIter, ScanEnd, ScannedRecord, SegmentInfo, SegmentReader, list_segments};
pub use storage::{DirEntry, DirLock, FileStorage, OpenOptions, Storage, StorageFile};
