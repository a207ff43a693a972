//! `groupwal bench`: the durable concurrent-append workload.
//!
//! For each writer count: a fresh log, that many threads each appending
//! records of `--size` bytes with the blocking `Wal::append` (each call
//! returns once its record is durable) until the time is up or each wrote
//! `--count`. Throughput is records made durable over wall time; latency
//! percentiles and the group size come from `Wal::stats()`. Only measured
//! figures are printed. The log and its first segment are created before
//! the measurement (one append, then the log is reopened).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use groupwal::{Wal, WalOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::Outcome;
use crate::cli::BenchArgs;
use crate::error::{self, CliError, Code};

/// The most writer threads one run starts.
const MAX_WRITERS: usize = 4096;

/// The largest payload (the largest record of the default options).
const MAX_SIZE: usize = 64 << 20;

/// One writer count's measurement.
struct Row {
    writers: usize,
    records: u64,
    elapsed: Duration,
    bytes: u64,
    p50: Duration,
    p99: Duration,
    avg_group: f64,
    syncs: u64,
}

pub(crate) fn run(args: &BenchArgs) -> Outcome {
    if args.writers.is_empty() || args.writers.iter().any(|&w| w == 0 || w > MAX_WRITERS) {
        return Err(CliError::usage(format!(
            "--writers: each count must be 1 to {MAX_WRITERS}"
        )));
    }
    if args.size > MAX_SIZE {
        return Err(CliError::usage(format!(
            "--size must be at most {MAX_SIZE} bytes (the largest record)"
        )));
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(CliError::usage(
            "--seconds must be more than 0 and at most 3600",
        ));
    }
    if args.count == Some(0) {
        return Err(CliError::usage("--count must be at least 1"));
    }
    let base = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::io(format!("creating {}", dir.display()), e))?;
            tempfile::Builder::new()
                .prefix("groupwal-bench-")
                .tempdir_in(dir)
        }
        None => tempfile::Builder::new().prefix("groupwal-bench-").tempdir(),
    }
    .map_err(|e| CliError::io("creating the benchmark directory", e))?;
    let duration = Duration::from_secs_f64(args.seconds);

    let mut stdout = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "bench: {} byte records, sync {}, {:.1} s per writer count{}, in {}",
        args.size,
        sync_name(args.sync),
        args.seconds,
        args.count
            .map(|c| format!(" or {c} records per writer"))
            .unwrap_or_default(),
        base.path().display()
    )
    .map_err(error::output)?;
    drop(err);
    if !args.json {
        writeln!(
            stdout,
            "{:>8} {:>12} {:>10} {:>10} {:>12} {:>12} {:>10}",
            "writers", "records/s", "syncs/s", "MB/s", "p50", "p99", "avg group"
        )
        .map_err(error::output)?;
        stdout.flush().map_err(error::output)?;
    }
    for (i, &writers) in args.writers.iter().enumerate() {
        let dir = base.path().join(format!("run-{i}-{writers}w"));
        let row = run_one(&dir, args, writers, duration)?;
        // The run's log is not needed any more; keep the disk use bounded.
        std::fs::remove_dir_all(&dir)
            .map_err(|e| CliError::io(format!("removing {}", dir.display()), e))?;
        let secs = row.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let rate = row.records as f64 / secs;
        let syncs_per_sec = row.syncs as f64 / secs;
        let mbps = row.bytes as f64 / secs / 1e6;
        if args.json {
            let v = json!({
                "writers": row.writers,
                "size": args.size,
                "sync": sync_name(args.sync),
                "records": row.records,
                "seconds": secs,
                "records_per_sec": rate,
                "syncs_per_sec": syncs_per_sec,
                "mb_per_sec": mbps,
                "p50_us": row.p50.as_secs_f64() * 1e6,
                "p99_us": row.p99.as_secs_f64() * 1e6,
                "avg_group": row.avg_group,
                "syncs": row.syncs,
            });
            serde_json::to_writer(&mut stdout, &v).map_err(|e| error::output(e.into()))?;
            writeln!(stdout).map_err(error::output)?;
        } else {
            writeln!(
                stdout,
                "{:>8} {:>12.0} {:>10.0} {:>10.2} {:>12} {:>12} {:>10.1}",
                row.writers,
                rate,
                syncs_per_sec,
                mbps,
                format!("{:.1?}", row.p50),
                format!("{:.1?}", row.p99),
                row.avg_group
            )
            .map_err(error::output)?;
        }
        stdout.flush().map_err(error::output)?;
    }
    base.close()
        .map_err(|e| CliError::io("removing the benchmark directory", e))?;
    Ok(Code::Ok)
}

fn sync_name(s: crate::cli::SyncArg) -> &'static str {
    use crate::cli::SyncArg;
    match s {
        SyncArg::None => "none",
        SyncArg::Data => "data",
        SyncArg::All => "all",
        SyncArg::Dsync => "dsync",
        SyncArg::Direct => "direct",
    }
}

fn run_one(
    dir: &std::path::Path,
    args: &BenchArgs,
    writers: usize,
    duration: Duration,
) -> Result<Row, CliError> {
    let mut options = WalOptions::new();
    options.sync_mode(args.sync.into());
    let payload = vec![0x5au8; args.size];
    // Set-up outside the measurement: create the log and its first
    // (preallocated) segment with one append, close, and reopen, so the
    // figures (and `Wal::stats`, counted from the open) are of appends only.
    let open = || {
        Wal::open(dir, &options)
            .map(|(wal, _)| wal)
            .map_err(|e| CliError::wal(format!("opening {}", dir.display()), e))
    };
    let wal = open()?;
    wal.append(&payload)
        .map_err(|e| CliError::wal("appending", e))?;
    wal.close()
        .map_err(|e| CliError::wal(format!("closing {}", dir.display()), e))?;
    let wal = open()?;
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let progress = progress(writers, duration);
    let start = Instant::now();
    let results: Vec<Result<(), CliError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                scope.spawn(|| -> Result<(), CliError> {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) && args.count.is_none_or(|c| n < c) {
                        wal.append(&payload)
                            .map_err(|e| CliError::wal("appending", e))?;
                        n += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        // The clock: stop the writers when the time is up, or when all are
        // done (a --count run).
        while start.elapsed() < duration && !handles.iter().all(|h| h.is_finished()) {
            progress.set_position(start.elapsed().as_millis() as u64);
            progress.set_message(format!("{} records", done.load(Ordering::Relaxed)));
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(CliError::failure(
                        "internal error",
                        std::io::Error::other("a writer thread panicked"),
                    ))
                })
            })
            .collect()
    });
    let elapsed = start.elapsed();
    progress.finish_and_clear();
    let stats = wal.stats();
    wal.close()
        .map_err(|e| CliError::wal(format!("closing {}", dir.display()), e))?;
    for r in results {
        r?;
    }
    Ok(Row {
        writers,
        records: stats.appends,
        elapsed,
        bytes: stats.bytes,
        p50: stats.append.p50,
        p99: stats.append.p99,
        avg_group: stats.avg_group,
        syncs: stats.syncs,
    })
}

/// A bar over the run's time on standard error when it is a terminal;
/// otherwise one line per run.
fn progress(writers: usize, duration: Duration) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        let _ = writeln!(std::io::stderr().lock(), "bench: {writers} writer(s)...");
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(duration.as_millis() as u64),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        ProgressStyle::with_template(&format!("{writers:>3} writer(s) {{bar:30}} {{msg}}"))
    {
        bar.set_style(style);
    }
    bar
}
