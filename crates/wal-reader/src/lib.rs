//! Reading and recovery for groupwal logs: streaming reads in bounded
//! memory, seek by LSN, recovery modes that never hide corruption, and
//! tailing a live log.
//!
//! # Overview
//!
//! - [`LogReader`] yields the logical records of a log directory in LSN
//!   order across segments: fragments reassembled, batches only when whole,
//!   payloads decrypted and decompressed, every checksum, salt and LSN
//!   checked. Memory is one read window and one record, whatever the size
//!   of the segments. [`LogReader::seek`] finds a segment by its name
//!   (binary search) and scans from the nearest point of a sparse index.
//! - [`recover`] opens a log for writing: it finds where the valid data
//!   ends, tells a clean end, zero-filled space and a torn tail from
//!   corruption before the tail, applies a [`RecoveryMode`] (modelled on
//!   RocksDB's), cuts a torn tail durably and returns the
//!   `wal_io::SegmentLog` ready to append, with a [`RecoveryReport`].
//! - [`TailReader`] follows a live log as records become durable (blocking
//!   or async), told by a [`DurableWatermark`] ([`Watermark`] is one).
//! - [`Error`] is the crate's one error type; corruption is reported as a
//!   [`CorruptRange`] naming the segment file, byte offset and LSNs.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use wal_commit::{CommitOptions, Committer};
//! use wal_io::{FileStorage, LogOptions, Storage};
//! use wal_reader::{recover, LogReader, ReadOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
//! // Opening for writing: recovery first, then the committer on the result.
//! let (segments, _) = recover(storage.clone(), dir.path(), &LogOptions::new(), &ReadOptions::new())?;
//! let log = Committer::from_log(segments, &CommitOptions::new())?;
//! log.append(b"one")?;
//! log.append_batch(&[&b"two"[..], b"three"])?;
//! log.close()?;
//!
//! // Recovery: where does the data end, is anything damaged?
//! let (segment_log, report) = recover(storage.clone(), dir.path(), &LogOptions::new(), &ReadOptions::new())?;
//! assert_eq!(report.last_lsn.get(), 3);
//! drop(segment_log);
//!
//! // Read everything back.
//! let payloads: Vec<Vec<u8>> = LogReader::open(storage, dir.path(), &ReadOptions::new())?
//!     .map(|r| r.map(|r| r.payload))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(payloads, [&b"one"[..], b"two", b"three"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `encryption`: decrypt AES-256-GCM records (`ReadOptions::keys`).
//! - `compression`: decompress zstd records.
//!
//! Without them, such a record is an error naming the missing feature.
//!
//! # What this crate does not do
//!
//! It never writes a new record; the only changes it makes are recovery's,
//! through `wal_io::SegmentLog`: cutting a torn tail, and in point-in-time
//! mode removing what follows the damage. Resuming there also makes what
//! was recovered durable before anything is appended after it (the
//! directory synced, the last segment's records rewritten in place and
//! synced, unless the log was closed cleanly). Its only thread is a reader's
//! read-ahead (`ReadOptions::read_ahead`). It does not
//! repair damage in place or rewrite a log without its gaps. Recovery
//! decodes every payload as a reader does: an encrypted log needs its keys,
//! and what a reader finds forged, recovery refuses.

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]
#![forbid(unsafe_code)]

mod ahead;
mod error;
mod options;
mod reader;
mod recover;
mod report;
mod scan;
mod segments;
mod tail;
mod walk;

pub use error::{Error, Result};
pub use options::{MIN_BUFFER_SIZE, ReadOptions, RecoveryMode};
pub use reader::{LogEnd, LogReader, LogRecord, OwnedRecord, RecordPosition, is_damage};
pub use recover::{recover, recover_checked, recover_with};
pub use report::{CorruptRange, CorruptionKind, Position, RecoveryReport, TailKind};
pub use tail::{DurableWatermark, TailReader, WaitFuture, Watermark};
