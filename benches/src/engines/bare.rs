//! A bare group commit: the least a group commit can do on this machine,
//! to show what the machine itself costs a scheduler. Not a log (its bytes
//! are not records and cannot be read back), and not run by default.
//!
//! Each append takes a ticket (one atomic add) and sleeps on a futex until
//! a sync covers it; one I/O thread writes placeholder bytes as long as the
//! records it was handed (32-byte header + payload), calls `fdatasync`,
//! then wakes every sleeper with a single `FUTEX_WAKE` (no mutex for them
//! to take again, no queue, no encoding, no checksum). The file is
//! fallocated 64 MiB at a time, as groupwal's spares are on a bulk-written
//! log (`adaptive_preallocation`), so each sync also commits the unwritten
//! extents it converts.
//!
//! It knows what no scheduler can: a group waits until every writer the
//! last sync woke has come back (in a closed loop of W writers, exactly
//! W), with a 2 ms limit so that a writer leaving does not stall it. So
//! every group holds all W writers, and the cycle is the wake-up round,
//! one write and one sync, with nothing else in it. It is not an upper
//! bound for groupwal, which zero-fills its first segment (cheaper syncs)
//! and lets a lone writer do its own I/O (no hand-off).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::fs::FallocateFlags;
use rustix::thread::futex;

use crate::harness::{DurableLog, GroupStats};

/// The file name inside the run's directory.
pub const FILE_NAME: &str = "bare.dat";

/// Bytes fallocated at a time.
const RESERVE: u64 = 64 << 20;

/// How long a group waits for writers that have not come back.
const GATHER_LIMIT: Duration = Duration::from_millis(2);

/// `FUTEX_WAKE`'s count for every waiter: the kernel reads it as an
/// `int`, so `u32::MAX` would be -1 and wake one.
const WAKE_ALL: u32 = i32::MAX as u32;

/// The header length every record is counted with (`wal-format`'s).
const HEADER: usize = wal_format::RECORD_HEADER_LEN;

#[derive(Debug, Default)]
struct State {
    /// Tickets handed out: appends so far (the futex word the I/O thread
    /// sleeps on). Wraps after 2^32 appends; compared with `wrapping_sub`.
    arrived: AtomicU32,
    /// Appends covered by a successful sync.
    durable: AtomicU32,
    /// Bumped by every publish (the futex word writers sleep on).
    epoch: AtomicU32,
    /// The arrival count at which the gathering I/O thread wants a wake.
    wanted: AtomicU32,
    /// Bytes of the records appended so far (header + payload each).
    bytes: AtomicU64,
    stop: AtomicBool,
    syncs: AtomicU64,
    /// The I/O thread's error; appends fail once it is set.
    failed: OnceLock<String>,
}

/// The bare group commit.
#[derive(Debug)]
pub struct Bare {
    state: Arc<State>,
    io: Option<JoinHandle<io::Result<()>>>,
}

impl Bare {
    /// Creates `dir/bare.dat` and starts the I/O thread.
    ///
    /// # Errors
    ///
    /// The error of creating the file or the thread.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join(FILE_NAME))?;
        let state = Arc::new(State::default());
        let io_state = Arc::clone(&state);
        let io = std::thread::Builder::new()
            .name("bare-io".into())
            .spawn(move || {
                let result = io_loop(&io_state, &file);
                if let Err(e) = &result {
                    let _ = io_state.failed.set(e.to_string());
                }
                // Wake everyone: durable appends return, the rest fail.
                io_state.epoch.fetch_add(1, Ordering::Release);
                futex::wake(&io_state.epoch, futex::Flags::PRIVATE, WAKE_ALL)?;
                result
            })?;
        Ok(Self {
            state,
            io: Some(io),
        })
    }

    fn failure(&self) -> Option<io::Error> {
        self.state
            .failed
            .get()
            .map(|e| io::Error::other(format!("the bare engine's I/O thread failed: {e}")))
    }

    fn stop(&mut self) -> io::Result<()> {
        let Some(io) = self.io.take() else {
            return Ok(());
        };
        self.state.stop.store(true, Ordering::Release);
        futex::wake(&self.state.arrived, futex::Flags::PRIVATE, 1)?;
        io.join()
            .map_err(|_| io::Error::other("the bare engine's I/O thread panicked"))?
    }
}

/// Whether `durable` covers ticket `ticket` (both wrapping counters).
fn covers(durable: u32, ticket: u32) -> bool {
    durable.wrapping_sub(ticket) < u32::MAX / 2
}

fn io_loop(state: &State, file: &File) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    let (mut offset, mut reserved) = (0u64, 0u64);
    let mut taken = 0u32;
    let mut written = 0u64;
    // Writers the last sync woke: the group waits for them.
    let mut expected = 1u32;
    loop {
        // Gather: until `expected` appends beyond `taken` have arrived (or
        // the limit passes with at least one), or stop when told to and
        // nothing is pending.
        let want = taken.wrapping_add(expected);
        // SeqCst pairs with the appender's add-then-read: either this
        // thread sees the arrival or the appender sees `wanted` and wakes it.
        state.wanted.store(want, Ordering::SeqCst);
        let deadline = Instant::now() + GATHER_LIMIT;
        let upto = loop {
            let arrived = state.arrived.load(Ordering::SeqCst);
            let pending = arrived.wrapping_sub(taken);
            if pending >= expected || (pending > 0 && Instant::now() >= deadline) {
                break arrived;
            }
            if pending == 0 && state.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            // Bounded, so the stop flag and the deadline are looked at.
            let timeout = futex::Timespec {
                tv_sec: 0,
                tv_nsec: 500_000,
            };
            match futex::wait(
                &state.arrived,
                futex::Flags::PRIVATE,
                arrived,
                Some(&timeout),
            ) {
                Ok(())
                | Err(
                    rustix::io::Errno::AGAIN
                    | rustix::io::Errno::INTR
                    | rustix::io::Errno::TIMEDOUT,
                ) => {}
                Err(e) => return Err(e.into()),
            }
        };
        let n = upto.wrapping_sub(taken);
        // Exact in total, not per group: an appender adds its bytes just
        // before it takes its ticket.
        let total = state.bytes.load(Ordering::Acquire);
        let len = usize::try_from(total - written).map_err(io::Error::other)?;
        written = total;
        buf.resize(len, 0xa5);
        let end = offset + len as u64;
        if end > reserved {
            let more = (end - reserved).div_ceil(RESERVE) * RESERVE;
            rustix::fs::fallocate(file, FallocateFlags::empty(), reserved, more)?;
            reserved += more;
        }
        file.write_all_at(buf.get(..len).unwrap_or_default(), offset)?;
        file.sync_data()?;
        offset = end;
        state.syncs.fetch_add(1, Ordering::Relaxed);
        state.durable.store(upto, Ordering::Release);
        state.epoch.fetch_add(1, Ordering::Release);
        futex::wake(&state.epoch, futex::Flags::PRIVATE, WAKE_ALL)?;
        expected = n;
        taken = upto;
    }
}

impl DurableLog for Bare {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        let state = &*self.state;
        state
            .bytes
            .fetch_add((HEADER + payload.len()) as u64, Ordering::AcqRel);
        let ticket = state.arrived.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        if ticket == state.wanted.load(Ordering::SeqCst) {
            futex::wake(&state.arrived, futex::Flags::PRIVATE, 1)?;
        }
        loop {
            let epoch = state.epoch.load(Ordering::Acquire);
            if covers(state.durable.load(Ordering::Acquire), ticket) {
                return Ok(u64::from(ticket));
            }
            if let Some(e) = self.failure() {
                return Err(e);
            }
            if self.io.as_ref().is_none_or(JoinHandle::is_finished) {
                return Err(io::Error::other("the bare engine is closed"));
            }
            match futex::wait(&state.epoch, futex::Flags::PRIVATE, epoch, None) {
                Ok(()) | Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn stats(&self) -> Option<GroupStats> {
        Some(GroupStats {
            records: u64::from(self.state.durable.load(Ordering::Acquire)),
            syncs: self.state.syncs.load(Ordering::Relaxed),
        })
    }

    fn close(mut self: Box<Self>) -> io::Result<()> {
        self.stop()
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_dense_and_every_record_is_written_and_synced() {
        let dir = tempfile::tempdir().unwrap();
        let (threads, per_thread) = (8, 50);
        let log = crate::engines::open("bare", dir.path()).unwrap();
        crate::engines::tests::append_concurrently(log, threads, per_thread);
        let expected: usize = (0..threads).map(|t| per_thread * (HEADER + 10 + t)).sum();
        let written = std::fs::read(dir.path().join(FILE_NAME))
            .unwrap()
            .iter()
            .take_while(|&&b| b == 0xa5)
            .count();
        assert_eq!(written, expected);
    }

    #[test]
    fn wrapping_tickets_compare_by_distance() {
        assert!(covers(5, 5));
        assert!(covers(6, 5));
        assert!(!covers(4, 5));
        assert!(covers(2, u32::MAX));
        assert!(!covers(u32::MAX, 2));
    }
}
