//! Where a groupwal append's time goes: W threads append to a
//! `wal_commit::Committer` for a few seconds, then the committer's own
//! stage timings are printed (queue → encode + `begin_batch` (which rotates
//! and prepares segments) + write → sync). Used in `docs/PERFORMANCE.md`
//! to show what segment preparation costs.
//!
//! ```sh
//! cargo run --release -p groupwal-benches --example commit_stages -- WRITERS SIZE zero|fallocate SECONDS
//! ```
//!
//! `NO_ADAPTIVE=1` turns `CommitOptions::adaptive_delay` off. `ASYNC=1`
//! makes the writers tokio tasks (`append_async`, a multi-threaded runtime
//! with one worker per core) instead of threads. `SEGMENT_MIB=N` sets the
//! segment size; `WRITEBACK_KIB=N` sets `LogOptions::writeback_bytes`;
//! `SETTLE_SECS=S` waits S seconds after the first append
//! before measuring (so the first spare is prepared before, not during,
//! the measured appends: with a segment larger than what the run writes,
//! the run measures syncs into a zero-filled segment with no zero-fill
//! beside it). `PURGE_BEHIND=1` purges every segment wholly below the
//! durable LSN every 50 ms while the writers run, as a database does
//! after its checkpoints: rotations then reuse the purged files (their
//! extents already written) instead of preparing new ones.

#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_commit::{CommitOptions, Committer, Percentiles};
use wal_io::{FileStorage, LogOptions, Preallocation, SegmentLog};

fn show(name: &str, p: &Percentiles) {
    println!(
        "  {name:<48} p50 {:>9.3} ms  p99 {:>9.3} ms  p99.9 {:>9.3} ms  max {:>9.3} ms",
        p.p50.as_secs_f64() * 1e3,
        p.p99.as_secs_f64() * 1e3,
        p.p999.as_secs_f64() * 1e3,
        p.max.as_secs_f64() * 1e3
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [writers, size, prealloc, secs] = args.as_slice() else {
        eprintln!("usage: commit_stages WRITERS SIZE zero|fallocate SECONDS");
        std::process::exit(2);
    };
    let (writers, size, secs): (usize, usize, f64) =
        (writers.parse()?, size.parse()?, secs.parse()?);
    let preallocation = match prealloc.as_str() {
        "zero" => Preallocation::ZeroFill,
        "fallocate" => Preallocation::Allocate,
        other => return Err(format!("unknown preallocation {other:?}").into()),
    };
    let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    let mut log_options = LogOptions::new();
    log_options.create(true).preallocation(preallocation);
    if let Ok(kib) = std::env::var("WRITEBACK_KIB") {
        log_options.writeback_bytes(kib.parse::<u64>()? << 10);
    }
    if let Ok(mib) = std::env::var("SEGMENT_MIB") {
        log_options.segment_size(mib.parse::<u64>()? << 20);
    }
    let segments = SegmentLog::open(
        Arc::new(FileStorage::new()),
        dir.path().join("wal"),
        &log_options,
    )?;
    let committer = Arc::new(Committer::from_log(
        segments,
        CommitOptions::new().adaptive_delay(std::env::var_os("NO_ADAPTIVE").is_none()),
    )?);
    // The first append creates (and prepares) the first segment; not counted.
    committer.append(&vec![1u8; size])?;
    if let Ok(secs) = std::env::var("SETTLE_SECS") {
        std::thread::sleep(Duration::from_secs_f64(secs.parse()?));
    }
    let before = committer.stats();
    let measure = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let purger = std::env::var_os("PURGE_BEHIND").map(|_| {
        let committer = Arc::clone(&committer);
        std::thread::spawn(move || -> Result<usize, wal_commit::Error> {
            let mut purged = 0;
            while start.elapsed() < measure {
                purged += committer.purge_below(committer.durable_lsn())?;
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(purged)
        })
    });
    if std::env::var_os("ASYNC").is_some() {
        let runtime = tokio::runtime::Builder::new_multi_thread().build()?;
        let appends = runtime.block_on(async {
            let tasks: Vec<_> = (0..writers)
                .map(|_| {
                    let committer = Arc::clone(&committer);
                    tokio::spawn(async move {
                        let payload = groupwal_benches::payload(size);
                        let mut n = 0u64;
                        while start.elapsed() < measure {
                            committer.append_async(&payload).await?;
                            n += 1;
                        }
                        Ok::<u64, wal_commit::Error>(n)
                    })
                })
                .collect();
            let mut appends = 0;
            for t in tasks {
                appends += t.await.map_err(|_| "a writer panicked")??;
            }
            Ok::<u64, Box<dyn std::error::Error>>(appends)
        })?;
        join_purger(purger)?;
        return report(committer, &before, writers, size, prealloc, appends, start);
    }
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let committer = Arc::clone(&committer);
            std::thread::spawn(move || -> Result<u64, wal_commit::Error> {
                let payload = groupwal_benches::payload(size);
                let mut n = 0;
                while start.elapsed() < measure {
                    committer.append(&payload)?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut appends = 0;
    for h in handles {
        appends += h.join().map_err(|_| "a writer panicked")??;
    }
    join_purger(purger)?;
    report(committer, &before, writers, size, prealloc, appends, start)
}

type Purger = std::thread::JoinHandle<Result<usize, wal_commit::Error>>;

fn join_purger(purger: Option<Purger>) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(purger) = purger {
        let purged = purger.join().map_err(|_| "the purger panicked")??;
        println!("  purged {purged} segments while writing");
    }
    Ok(())
}

fn report(
    committer: Arc<Committer>,
    before: &wal_commit::Stats,
    writers: usize,
    size: usize,
    prealloc: &str,
    appends: u64,
    start: Instant,
) -> Result<(), Box<dyn std::error::Error>> {
    let elapsed = start.elapsed().as_secs_f64();
    let s = committer.stats();
    println!(
        "{writers} writers, {size} B, {prealloc}: {:.0} appends/s, {:.1} records per group",
        appends as f64 / elapsed,
        (s.appends - before.appends) as f64 / (s.groups - before.groups).max(1) as f64
    );
    println!("  (stage figures include the uncounted first append)");
    show(
        "queue wait (enqueued -> taken by the I/O thread)",
        &s.queue_wait,
    );
    show(
        "write (encode, begin_batch incl. rotation, write)",
        &s.write,
    );
    show("sync", &s.sync);
    show("append, I/O thread's view (enqueued -> durable)", &s.append);
    Arc::into_inner(committer)
        .ok_or("committer still shared")?
        .close()?;
    Ok(())
}
