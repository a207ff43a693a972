//! Group commit for groupwal: many writers, one write and one sync per
//! group, each caller told its LSN once its record is durable.
//!
//! # Overview
//!
//! A [`Committer`] owns a log directory (a `wal_io::SegmentLog`) and one I/O
//! thread. Appenders ([`Committer::append`], [`Committer::append_async`],
//! [`Committer::submit`], [`Committer::append_batch`]) take the next LSNs
//! under a short lock and queue their payloads; the I/O thread takes all
//! that is queued as one group (within [`CommitOptions`]' limits), encodes
//! it, writes it with one call and syncs it with one call, then raises the
//! durable watermark that appenders wait on.
//!
//! - **No window.** A lone writer pays one write and one sync plus two
//!   thread hand-offs; groups grow by themselves while a sync is in flight.
//!   [`CommitOptions::max_delay`] adds a `commit_delay`-style wait, off by
//!   default.
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
//!   runtime-free notification; all I/O runs on the committer's thread.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use wal_commit::{CommitOptions, Committer};
//! use wal_io::{FileStorage, LogOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = Arc::new(Committer::open(
//!     Arc::new(FileStorage::new()),
//!     dir.path().join("wal"),
//!     LogOptions::new().create(true),
//!     &CommitOptions::new(),
//! )?);
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
//! - `encryption`: AES-256-GCM of payloads (`CommitOptions::encryption`),
//!   compress first, then encrypt; a failure to encrypt fails the group,
//!   nothing is ever written in plaintext.
//!
//! # Non-goals (for now)
//!
//! Recovery here only finds where to resume in the last segment; checking
//! the whole log and classifying damage is `wal-reader`'s job.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![forbid(unsafe_code)]

mod commit;
mod encrypt;
mod error;
mod options;
mod prepare;
mod records;
mod recover;
mod stats;
mod watermark;

pub use commit::{Committer, Durability, OpenReport, Pending};
pub use error::{Error, Result};
pub use options::CommitOptions;
pub use stats::{Percentiles, Stats};
