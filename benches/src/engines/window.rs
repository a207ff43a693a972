//! The fixed-window design groupwal started from,
//! reimplemented as it was written, defects included, so we can measure
//! what they cost:
//!
//! - ONE async tokio task owns the file. Writers send `(payload, oneshot)`
//!   over an unbounded channel and wait with `blocking_recv`.
//! - On the first request the task opens a fixed 200 µs window
//!   (`tokio::time::timeout_at`) and collects whatever arrives in it, even
//!   when the writer is alone. tokio's timer ticks in whole milliseconds, so
//!   the window really lasts until the next millisecond tick, as in the
//!   original.
//! - It then encodes the group, writes it and calls `fdatasync` *inside the
//!   task*, blocking a runtime worker thread, and only then answers every
//!   waiter. No new group is written while a sync is in flight.
//! - The file is "preallocated" the window design's way: `set_len` to 1 GiB, which
//!   leaves it sparse, so each sync also commits block allocation. Records
//!   are written at increasing offsets (past 1 GiB the file just grows; the
//!   original's rotation is left out).
//!
//! The runtime is the engine's own, multi-threaded with tokio's default
//! worker count (one per core), like the original's `#[tokio::main]`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::harness::{DurableLog, GroupStats};

/// The file name inside the run's directory.
pub const FILE_NAME: &str = "window.log";
/// The fixed batching window.
pub const WINDOW: Duration = Duration::from_micros(200);
/// The sparse "preallocation".
pub const PREALLOCATE: u64 = 1 << 30;

struct Request {
    payload: Vec<u8>,
    reply: oneshot::Sender<io::Result<u64>>,
}

/// The fixed-window group commit.
#[derive(Debug)]
pub struct WindowLog {
    tx: Option<mpsc::UnboundedSender<Request>>,
    task: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    stats: Arc<Mutex<GroupStats>>,
}

impl WindowLog {
    /// Creates `dir/window.log`, sparse to 1 GiB, starts the runtime and
    /// the writer task.
    ///
    /// # Errors
    ///
    /// Errors of creating the file or starting the runtime.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(FILE_NAME))?;
        file.set_len(PREALLOCATE)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_time()
            .thread_name("window-rt")
            .build()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(GroupStats::default()));
        let task = runtime.spawn(writer_task(file, rx, Arc::clone(&stats)));
        Ok(Self {
            tx: Some(tx),
            task: Some(task),
            runtime: Some(runtime),
            stats,
        })
    }

    /// Closes the channel, lets the task drain what is queued, and stops the
    /// runtime.
    fn shutdown(&mut self) -> io::Result<()> {
        drop(self.tx.take());
        let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) else {
            return Ok(());
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped inside some runtime: blocking here would panic.
            runtime.shutdown_background();
            return Ok(());
        }
        let joined = runtime.block_on(task);
        runtime.shutdown_timeout(Duration::from_secs(1));
        joined.map_err(io::Error::other)
    }
}

impl Drop for WindowLog {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl DurableLog for WindowLog {
    fn append(&self, payload: &[u8]) -> io::Result<u64> {
        let (reply, wait) = oneshot::channel();
        let request = Request {
            payload: payload.to_vec(),
            reply,
        };
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "window writer task is gone");
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send(request)
            .map_err(|_| gone())?;
        wait.blocking_recv().map_err(|_| gone())?
    }

    fn stats(&self) -> Option<GroupStats> {
        Some(*self.stats.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn close(mut self: Box<Self>) -> io::Result<()> {
        self.shutdown()
    }
}

async fn writer_task(
    file: File,
    mut rx: mpsc::UnboundedReceiver<Request>,
    stats: Arc<Mutex<GroupStats>>,
) {
    let mut next_lsn = 1u64;
    let mut offset = 0u64;
    let mut buf = Vec::new();
    let mut batch = Vec::new();
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        // The fixed window, even for a lone writer.
        let deadline = Instant::now() + WINDOW;
        while let Ok(Some(request)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            batch.push(request);
        }

        buf.clear();
        for request in batch.drain(..) {
            match super::encode(&mut buf, next_lsn, &request.payload) {
                Ok(()) => {
                    waiters.push((request.reply, next_lsn));
                    next_lsn += 1;
                }
                Err(e) => {
                    let _ = request.reply.send(Err(e));
                }
            }
        }
        // Blocking write and sync inside the async task, as the original does.
        let result = file
            .write_all_at(&buf, offset)
            .and_then(|()| file.sync_data());
        match result {
            Ok(()) => {
                offset += buf.len() as u64;
                let mut s = stats.lock().unwrap_or_else(PoisonError::into_inner);
                s.records += waiters.len() as u64;
                s.syncs += 1;
                drop(s);
                for (reply, lsn) in waiters.drain(..) {
                    let _ = reply.send(Ok(lsn));
                }
            }
            Err(e) => {
                // The original carries on after a failed sync.
                for (reply, _) in waiters.drain(..) {
                    let _ = reply.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_appends_are_durable_records_in_lsn_order() {
        super::super::tests::check_engine("window", FILE_NAME, 8, 10);
    }

    #[test]
    fn a_lone_writer_still_gets_one_sync_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = Box::new(WindowLog::open(dir.path()).unwrap());
        super::super::tests::check_one_sync_per_record(&*log);
        log.close().unwrap();
        let len = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        assert_eq!(len, PREALLOCATE);
    }

    #[test]
    fn appends_after_close_fail_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = WindowLog::open(dir.path()).unwrap();
        log.shutdown().unwrap();
        let err = log.append(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
