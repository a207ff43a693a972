//! Group commit for groupwal: many writers, one write and one sync per
//! group, each caller told its LSN once its record is durable.
//!
//! # Overview
//!
//! A [`Committer`] owns a log directory (a `wal_io::SegmentLog`) and one I/O
//! thread. Appenders ([`Committer::append`], [`Committer::append_async`],
//! [`Committer::submit`], [`Committer::append_batch`]) take the next LSNs
//! under a short lock and queue their payloads; whoever holds the I/O lock
//! takes all that is queued as one group (within [`CommitOptions`]'
//! limits), encodes it, writes it with one call and syncs it with one call
//! (on the sync thread, with [`CommitOptions::pipelined_sync`]), then
//! raises the durable watermark that appenders wait on.
//!
//! - **Who writes.** The I/O thread, or a blocking appender (`append`,
//!   `append_batch`, `checkpoint`, `sync`, [`Pending::wait`]) that finds
//!   the I/O lock free: it then writes the queued groups on its own thread
//!   (and, with inline syncs, syncs them) until its record is durable.
//!   Blocking I/O thus runs on the committer's threads and on such an
//!   appender's thread, never on an async caller's.
//! - **No window.** A lone blocking writer writes its own group: one write
//!   and one sync, no hand-off to the I/O thread. Groups grow by
//!   themselves while a sync is in flight. [`CommitOptions::max_delay`]
//!   adds a `commit_delay`-style wait, off by default (with it, only the
//!   I/O thread writes).
//! - **Durability.** An append is acknowledged only after a sync covering
//!   its bytes succeeded (with `SyncMode::None`: after the write reached the
//!   kernel, which survives a process crash but not a power loss).
//! - **Poisoning.** A failed write or sync fails every waiter of its group
//!   and everything queued, and every later call returns
//!   [`Error::Poisoned`] naming the cause, until the log is reopened. A
//!   sync is never retried: after a failed `fsync` Linux may have dropped
//!   the dirty pages, and a retry can report success for lost data.
//! - **Atomic batches.** [`Committer::append_batch`] writes a batch marker
//!   and its records in one group: recovery keeps all of them or none.
//! - **Backpressure.** Bytes appended but not yet durable are bounded by
//!   [`CommitOptions::max_in_flight_bytes`]; appenders wait for room.
//! - **No blocking on executors.** Async appends only wait on a
//!   runtime-free notification and never write a group themselves.
//! - **Callbacks.** [`Pending::on_durable`] hands a callback to the log
//!   instead of a waiting thread or task: it runs right after the sync
//!   that covers the record (in LSN order, on the thread that acknowledged
//!   it: it must be quick and must not block), or with the error once the
//!   log is poisoned or closed; never dropped uncalled. Free when unused.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use wal_commit::{CommitOptions, Committer};
//! use wal_io::{FileStorage, LogOptions, SegmentLog};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! // A new log; an existing one is opened through `wal_reader::recover`.
//! let segments = SegmentLog::open(
//!     Arc::new(FileStorage::new()),
//!     dir.path().join("wal"),
//!     LogOptions::new().create(true),
//! )?;
//! let log = Arc::new(Committer::from_log(segments, &CommitOptions::new())?);
//! let writers: Vec<_> = (0..4)
//!     .map(|t| {
//!         let log = log.clone();
//!         std::thread::spawn(move || log.append(format!("from thread {t}").as_bytes()))
//!     })
//!     .collect();
//! for w in writers {
//!     w.join().expect("writer thread")?;
//! }
//! assert_eq!(log.durable_lsn().get(), 4);
//! Arc::into_inner(log).expect("last handle").close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `compression`: zstd compression of payloads
//!   ([`CommitOptions::compression_level`]).
//! - `metrics`: the counters and latency histograms through the `metrics`
//!   facade as well, under Prometheus-style names ([`metrics`](mod@metrics)).
//!   Without it the `metrics` crate is not built and recording costs
//!   nothing.
//! - `encryption`: AES-256-GCM of payloads (`CommitOptions::encryption`),
//!   compress first, then encrypt; a failure to encrypt fails the group,
//!   nothing is ever written in plaintext.
//!
//! # Opening an existing log
//!
//! A committer starts on a log that is ready to append
//! ([`Committer::from_log`]): a new one, or one that `wal_reader::recover`
//! positioned after deciding where its data ends and whether damage before
//! that end is a torn write or corruption. That decision is made in one
//! place, `wal-reader`, for every opener and reader.
//!
//! Every group the committer writes starts with a commit marker carrying
//! the LSN through which the log was durable at that moment: the evidence
//! recovery uses to prove a record was acknowledged (`docs/FORMAT.md`).

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![forbid(unsafe_code)]

mod callbacks;
mod commit;
mod control;
mod encrypt;
mod error;
mod group;
mod io_thread;
pub mod metrics;
mod options;
mod prepare;
mod queue;
mod records;
mod scheduler;
mod stats;
mod syncer;
mod watermark;

pub use commit::{Committer, Durability, Pending};
pub use error::{Error, Result};
pub use options::{CommitOptions, MAX_STORED_GROWTH};
pub use stats::{Percentiles, Stats};
