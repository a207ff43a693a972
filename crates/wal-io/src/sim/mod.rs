//! A simulated disk that crashes and fails on purpose, for tests (feature
//! `sim`).
//!
//! [`SimStorage`] implements [`Storage`] in memory, deterministically from a
//! seed. It models what a real kernel and disk do to a log:
//!
//! - **A volatile page cache.** Every file has a *live* image (what reads
//!   see) and a *durable* image (what survives a power loss). A write
//!   changes the live image and marks its 512-byte sectors dirty;
//!   `sync_data`/`sync_all` copy the dirty sectors and the size to the
//!   durable image. [`SimStorage::crash`] (a power loss) keeps or loses each
//!   dirty sector independently, at random (so a multi-sector write can be
//!   torn at any sector boundary, any subset of sectors surviving), and
//!   keeps either the old or the new size.
//! - **Directory entries are durable only after the directory is synced.**
//!   Creates, renames and removes are queued per directory; a crash applies
//!   a random prefix of each directory's queue (the journal commits them in
//!   order) and forgets the rest. A file whose name did not survive is gone.
//! - **`O_DSYNC`** writes are durable when they return; **`O_DIRECT`**
//!   demands offsets, lengths and buffer addresses aligned to
//!   [`SIM_DIRECT_ALIGN`], and can be refused altogether (as tmpfs does) with
//!   [`SimStorage::set_direct_supported`].
//! - **Faults**, on command ([`SimStorage::inject`], the next matching call)
//!   or at a seeded rate ([`SimStorage::set_fault_rate`]): see [`Fault`].
//!   [`SimStorage::set_capacity`] makes the disk fill up (short writes, then
//!   `ENOSPC`); [`SimStorage::set_free_space`] sets the figure
//!   [`Storage::free_space`] reports (`statvfs`), independently.
//! - **Non-regular entries.** A subdirectory is the simulated disk's one
//!   entry that is not a regular file: listed with `is_file: false`, and
//!   refused by `open` and `lock_dir` as the real storage refuses a
//!   symbolic link or a FIFO.
//!
//! For crash exploration, [`SimStorage::fork`] copies the disk as it is
//! (to try many post-crash states of one crash point), and
//! [`SimStorage::crash_with`] crashes it with the random choices drawn from
//! a seed of the caller's, and lost sectors either left as they were
//! ([`LostSectors::Old`], as [`SimStorage::crash`] does), zeroed
//! ([`LostSectors::Zeroed`]) or filled with garbage
//! ([`LostSectors::Garbage`]: a sector the disk was writing when the power
//! went).
//!
//! A crash also ends the "process": handles opened before it fail with
//! `EBADF`, and directory locks are released. [`SimStorage::crash_process`]
//! models a process crash alone (the page cache survives).
//!
//! [`HaltingStorage`] wraps any storage (simulated or real), numbers its
//! mutating calls, and makes the k-th and every later call fail, as if the
//! process died there: a crash test runs an operation once to count its
//! calls, then once per call with a halt at that call, then crashes the
//! simulated disk (or simply reopens the real one) and checks that the log
//! recovers.
//!
//! [`SplitMix64`] is the workspace's test RNG: the generator the simulated
//! disk draws from, and the one every test and campaign shares, so a seed
//! names the same case everywhere.
//!
//! [`Storage`]: crate::Storage
//! [`Storage::free_space`]: crate::Storage::free_space

// One module per idea: the disk's state and handle (`disk`), a file's
// sectors and what a power loss does to them (`inode`), directory entries
// and the storage calls on them (`namespace`), open files (`file`), the
// power loss itself (`crash`), fault injection (`fault`), the test RNG
// (`rng`), and the wrapper that halts any storage at its k-th call
// (`halting`).
mod crash;
mod disk;
mod fault;
mod file;
mod halting;
mod inode;
mod namespace;
mod rng;

pub use disk::{SimStats, SimStorage, SyncHold};
pub use fault::Fault;
pub use halting::{Call, HaltingStorage};
pub use inode::LostSectors;
pub use rng::SplitMix64;

/// The sector size of the simulated disk: the unit in which unsynced data
/// survives or is lost on a crash.
pub const SIM_SECTOR: u64 = 512;

/// The alignment the simulated disk demands of `O_DIRECT` reads and writes
/// (offset, length and buffer address).
pub const SIM_DIRECT_ALIGN: u64 = 4096;
