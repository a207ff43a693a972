//! groupwal: a write-ahead log for databases, brokers and Raft nodes.
//!
//! Many threads and tasks append at once; the log writes each group of
//! waiting records with one write and one sync (group commit) and tells
//! every caller its LSN once its record is durable. Every record is
//! checksummed, header and payload; after a crash the log gives back
//! exactly the acknowledged records, in order, and damage is reported, not
//! silently cut off.
//!
//! # Quick start
//!
//! ```
//! use groupwal::{Wal, WalOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (wal, report) = Wal::open(dir.path(), &WalOptions::new())?;
//! assert_eq!(report.last_lsn.get(), 0); // a new log
//!
//! let lsn = wal.append(b"set x = 1")?; // durable when this returns
//! let (first, last) = wal.append_batch(&[&b"debit a"[..], b"credit b"])?; // all or nothing
//! assert_eq!((lsn.get(), first.get(), last.get()), (1, 2, 3));
//! wal.close()?;
//!
//! // Reopen: recovery, then replay.
//! let (wal, report) = Wal::open(dir.path(), &WalOptions::new())?;
//! assert_eq!(report.last_lsn.get(), 3);
//! let payloads: Vec<Vec<u8>> = wal
//!     .read_from(groupwal::Lsn::FIRST)?
//!     .map(|r| r.map(|r| r.payload))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(payloads, [&b"set x = 1"[..], b"debit a", b"credit b"]);
//! wal.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Streams: many logical logs in one
//!
//! A stream is a logical log named by a `u64` id, with a dense index of
//! its own (a Raft group's log, a partition); every stream shares the
//! log's writes and syncs. Each stream is appended to, read by index,
//! purged and truncated on its own; a segment goes once no stream (and no
//! plain record still needed) has anything live in it.
//!
//! ```
//! use groupwal::{Wal, WalOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
//! let group = wal.stream(7);
//! assert_eq!(group.append_at(1, &[&b"term 1: x = 1"[..], b"term 1: y = 2"])?, 2);
//! // A Raft "ready" with entries for several groups: one atomic write.
//! let indexes = wal.append_streams(&[(7, &b"term 2: x = 3"[..]), (8, b"other group")])?;
//! assert_eq!(indexes, [3, 1]);
//! group.truncate_from(3)?; // a conflicting suffix goes...
//! group.append(b"term 3: x = 4")?; // ...and index 3 is taken again
//! group.purge_below(2)?; // a snapshot covers index 1
//! wal.close()?;
//!
//! let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?; // rebuilds every stream
//! let entries: Vec<(u64, Vec<u8>)> = wal.stream(7).read(..)?.collect::<Result<_, _>>()?;
//! assert_eq!(entries, [(2, b"term 1: y = 2".to_vec()), (3, b"term 3: x = 4".to_vec())]);
//! # wal.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! Plain appends ([`Wal::append`]) and streams can share a log; plain
//! records are kept until [`Wal::purge_below`] lets them go, and
//! [`Wal::open_with`] replays only them.
//!
//! # Durability by sync mode
//!
//! An append returns (or its future resolves) only after the sync that
//! covers it succeeded. What that means depends on [`SyncMode`]:
//!
//! | mode | acknowledged after | survives a process crash | survives a power loss |
//! |---|---|---|---|
//! | `None` | the write reached the kernel | yes | no: the tail may be lost (recover with `RecoveryMode::PointInTime`) |
//! | `Data` (default) | `fdatasync` | yes | yes |
//! | `All` | `fsync` | yes | yes, file times too |
//! | `Dsync` | each write, `O_DSYNC` | yes | yes |
//! | `Direct` | each write, `O_DIRECT` + `O_DSYNC` | yes | yes; refused at open where the file system cannot do it |
//!
//! A failed write or sync poisons the log: the group's callers and every
//! later call get an error naming the cause, and a sync is never retried
//! (after a failed `fsync`, Linux may have dropped the data and a retry can
//! report success). Reopen the log to recover.
//!
//! What each mode asks of the disk, and what recovery does in each
//! [`RecoveryMode`], is spelled out in the format's specification:
//! [sync modes](format::spec#sync-modes-wal-io),
//! [recovery](format::spec#recovery-wal-reader).
//!
//! # Sharing a log
//!
//! A [`Wal`] is a handle: clone it into every thread and task that
//! appends or reads (all methods take `&self`). [`Wal::close`] on any
//! clone closes the log for all of them; later calls get
//! [`Error::Closed`].
//!
//! ```
//! use groupwal::{Wal, WalOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
//! let writers: Vec<_> = (0..4)
//!     .map(|t| {
//!         let wal = wal.clone();
//!         std::thread::spawn(move || wal.append(format!("from thread {t}").as_bytes()))
//!     })
//!     .collect();
//! for w in writers {
//!     w.join().expect("writer thread")?;
//! }
//! assert_eq!(wal.last_lsn().get(), 4);
//! // Replay everything the log still holds, wherever it starts now.
//! assert_eq!(wal.read_from(wal.first_lsn())?.count(), 4);
//! wal.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # The format
//!
//! [`format::spec`] describes every byte on disk, what each checksum
//! covers, how the end of the data is recognised after a crash, the
//! encryption scheme and the version history (version 3).
//!
//! # Layers
//!
//! Each layer is re-exported as a module, so you can go down a level
//! without another dependency: [`format`](mod@crate::format) (record codec), [`io`] (segment
//! files, sync modes, the simulated disk), [`crypto`] (encryption and
//! compression), [`commit`] (the group-commit scheduler), [`reader`]
//! (streaming reads, recovery, tailing).
//!
//! # Features
//!
//! - `encryption`: AES-256-GCM of payloads ([`WalOptions::encryption`]),
//!   per-segment keys derived from a key provider's current key; a nonce is
//!   never reused (see [the format](format::spec#encrypted-payload-flag-encrypted)).
//! - `compression`: zstd of payloads ([`WalOptions::compression_level`]),
//!   applied only where it makes a record smaller.
//! - `futures-core`: [`AsyncTail`] implements `futures_core::Stream`, for
//!   stream combinators and `select!` loops.
//! - `metrics`: the log's counters and latency histograms through the
//!   [`metrics`](https://docs.rs/metrics) facade, for whatever exporter
//!   the service installs (Prometheus, StatsD, ...):
//!   `groupwal_appends_total`, `groupwal_appended_bytes_total`,
//!   `groupwal_groups_total`, `groupwal_syncs_total`,
//!   `groupwal_poisonings_total`, and the histograms
//!   `groupwal_fsync_duration_seconds` (etcd's
//!   `wal_fsync_duration_seconds`), `groupwal_write_duration_seconds`,
//!   `groupwal_group_size_records`, `groupwal_queue_wait_duration_seconds`,
//!   `groupwal_append_duration_seconds`, each labelled `dir` (the log
//!   directory). Install the recorder before opening a log; the names
//!   are constants in [`commit::metrics`], and the `metrics` example
//!   renders them as a scrape would. [`Wal::stats`] gives the same
//!   numbers as a snapshot, with or without the feature.
//!
//! None is on by default; without them none of their dependencies is
//! built.

// Without the `encryption` feature its option is not built: the link goes
// to the published docs, which are built with every feature.
#![cfg_attr(
    not(feature = "encryption"),
    doc = "",
    doc = "[`WalOptions::encryption`]: https://docs.rs/groupwal/latest/groupwal/struct.WalOptions.html#method.encryption"
)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![forbid(unsafe_code)]

mod error;
mod options;
mod streams;
mod wal;

pub use wal_commit as commit;
pub use wal_crypto as crypto;
pub use wal_format as format;
pub use wal_io as io;
pub use wal_reader as reader;

pub use error::{Error, Result};
pub use options::WalOptions;
pub use streams::{Stream, StreamEntries, StreamInfo, StreamPending, StreamReplay};
pub use wal::{AsyncTail, Pending, Records, Tail, Wal};
pub use wal_commit::Stats;
pub use wal_format::{LogicalKind, Lsn};
pub use wal_io::{Preallocation, SyncMode};
pub use wal_reader::{CorruptRange, OwnedRecord, RecoveryMode, RecoveryReport, TailKind};

/// Opens a log for reading only: no lock, no recovery, no writes. Reads
/// every record the files hold (durable or not, if a writer is running);
/// for a consistent view of a live log use [`Wal::read_from`].
///
/// # Errors
///
/// Those of [`reader::LogReader::open`].
pub fn read_log(
    dir: impl AsRef<std::path::Path>,
    options: &WalOptions,
) -> Result<reader::LogReader> {
    Ok(reader::LogReader::open(
        options.storage.clone(),
        dir.as_ref(),
        &options.read,
    )?)
}

// The README's examples compile (and, unless marked `no_run`, run) as doc
// tests here, where every layer is a dependency.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
