//! groupwal as [openraft](https://docs.rs/openraft/0.9)'s log storage.
//!
//! [`LogStore`] implements openraft 0.9's `RaftLogStorage` and
//! `RaftLogReader` (feature `storage-v2`) for any `RaftTypeConfig`, on a
//! groupwal [`Wal`](groupwal::Wal): each Raft group is a stream of the log,
//! so many groups on one node share one log and every one of its writes
//! and syncs.
//!
//! ```
//! use std::io::Cursor; // openraft's default snapshot data
//! use std::sync::Arc;
//! use groupwal::{Wal, WalOptions};
//! use groupwal_openraft::LogStore;
//! use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
//! use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};
//!
//! openraft::declare_raft_types!(pub Config);
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let rt = tokio::runtime::Runtime::new()?;
//! # rt.block_on(async {
//! let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
//! let wal = Arc::new(wal);
//! let mut log = LogStore::<Config>::open_async(wal.clone(), 1).await?; // group 1
//! log.save_vote(&Vote::new(1, 7)).await?; // durable when it returns
//! let id = LogId::new(CommittedLeaderId::new(1, 7), 0);
//! let entry = Entry::<Config> { log_id: id, payload: EntryPayload::Blank };
//! log.blocking_append([entry]).await?; // append, then wait for its callback
//! assert_eq!(log.get_log_state().await?.last_log_id, Some(id));
//! # drop(log);
//! # Arc::into_inner(wal).expect("last handle").close()?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(())
//! # }
//! ```
//!
//! Hand the store to `openraft::Raft::new` as its log store; give it a
//! [`LogStore`] per group, all opened on the same `Arc<Wal>`.
//!
//! # Layout
//!
//! - **Entries**: group `g`'s entries are stream `g`; the entry at Raft
//!   index `i` is the stream's entry at index `i + 1` (Raft logs start at
//!   0, streams at 1). Truncation and purge are the stream's own records,
//!   so they are crash-safe as any record: after a restart the stream is
//!   what replaying its records gives (`docs/FORMAT.md`, "Streams").
//! - **Metadata**: the vote and the last purged log id of group `g` live in
//!   stream `g | 1 << 63` (group ids must leave the top bit clear:
//!   [`Error::GroupId`]). Each record there is the whole state, as JSON
//!   `{"v":1,"vote":…,"last_purged":…}`; the latest one is the state. A
//!   purge of the log writes a new one first and then purges the older
//!   ones and the entries, so the metadata never pins old segments; if a
//!   crash cuts a purge short, [`LogStore::open`] finishes it. The state
//!   of a group all of whose entries were purged survives this way.
//!
//! The committed log id is not stored (`save_committed` keeps openraft's
//! default): the state machine is expected to be durable, or rebuilt from
//! a snapshot.
//!
//! # The contract
//!
//! - **`append`** returns once the entries are queued (encoding them and
//!   taking their place in the log; it waits only while groupwal's bound
//!   on bytes in flight is reached). They are readable from then on. The
//!   callback is called once the sync that covers them returned, by
//!   groupwal's commit path ([`groupwal::StreamPending::on_durable`]): no
//!   thread or task waits per append. A failed write or sync calls it with
//!   the error (the log is then poisoned, as always in groupwal), and so
//!   does a close that comes first; it is never dropped uncalled.
//! - **`save_vote`** returns once the vote is durable. Every write goes to
//!   the one log in the order issued, and what survives a crash is a
//!   prefix of the log, so a vote that survives has every append issued
//!   before it with it, and an append that survives every vote before it.
//! - **`truncate(id)`** removes `[id.index, +inf)`; the next append takes
//!   `id.index` again. **`purge(id)`** removes `(-inf, id.index]` and
//!   records `id` as the last purged log id, which `get_log_state` gives
//!   back after a restart even when nothing is left. Both are durable
//!   when they return.
//! - **After a restart** the entries, the vote, the last log id and the
//!   last purged log id are exactly what was durable.
//!
//! Entries are checked on the way in (consecutive, at the log's next
//! index: [`Error::NotConsecutive`]) and on the way out (they decode, and
//! name the index they are stored at): bytes from disk never panic, they
//! give an [`Error`] (as openraft's `StorageError`).
//!
//! # Encoding
//!
//! Entries and metadata are stored as JSON (`serde_json`), as openraft's
//! RocksDB-backed example stores store theirs (`serde_json::to_vec` of the
//! entry). The entry's payload type is the application's: JSON takes
//! every serde data model feature it may use (`#[serde(flatten)]`,
//! untagged enums, `skip_serializing_if`), which compact
//! non-self-describing formats (bincode, postcard) reject or misread at
//! run time; and what is stored stays readable by a person with
//! `groupwal dump`. It costs bytes and CPU, not syncs, and the sync
//! dominates a durable append. The workspace already depends on it.
//!
//! # Blocking
//!
//! openraft's storage methods are async. Calls that may block on I/O (a
//! truncation, a purge, reading entries that are not cached, opening) run
//! on tokio's blocking pool (or on a thread of their own outside a tokio
//! runtime); `save_vote` waits for its sync with groupwal's async wait.
//! Recent entries (at least every one not yet durable, and up to 4096
//! entries or 8 MiB beyond) are kept in memory, so replication reads the
//! newest entries without touching the log or waiting for their sync.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![forbid(unsafe_code)]

mod blocking;
mod error;
mod store;

pub use error::{Error, Result};
pub use store::{LogReader, LogStore, META_BIT};
