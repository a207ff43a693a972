//! The streams workloads of the comparison harness (see
//! `groupwal_benches::streams`): groupwal's streams against raft-engine's
//! regions, interleaved repeats, medians and ranges.
//!
//! `cargo run --release -p groupwal-benches --bin streams -- --repeat 3`

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use groupwal_benches::streams::engines::{GroupwalStreams, RaftEngineStreams};
use groupwal_benches::streams::{Shape, StreamLog, StreamResult, run};

/// Streams workloads: durable appends to many logical logs in one engine.
#[derive(Debug, Parser)]
#[command(name = "streams", about)]
struct Args {
    /// Engines, in column order: groupwal, raft-engine (and
    /// groupwal-fallocate: segments fallocated, not zero-filled;
    /// groupwal-no-adaptive: no adaptive wait for returning writers;
    /// groupwal-yield: waiting appenders yield before they sleep).
    #[arg(long, value_delimiter = ',', default_value = "groupwal,raft-engine")]
    engines: Vec<String>,
    /// Writer counts of the `own` and `spread` workloads.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    writers: Vec<usize>,
    /// Payload bytes per append.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Streams of the `spread` workload.
    #[arg(long, default_value_t = 10_000)]
    spread: u64,
    /// Measured seconds of the `own` and `spread` runs.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Measured seconds of the `churn` run (long enough to fill segments).
    #[arg(long, default_value_t = 20.0)]
    churn_seconds: f64,
    /// Writers of the `churn` run.
    #[arg(long, default_value_t = 16)]
    churn_writers: usize,
    /// Runs of each configuration, interleaved across engines.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Workloads: own, spread, churn.
    #[arg(long, value_delimiter = ',', default_value = "own,spread,churn")]
    workloads: Vec<String>,
    /// Parent directory of the runs' directories (default: $TMPDIR).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also write every result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn open(engine: &str, dir: &std::path::Path, streams: u64) -> io::Result<Box<dyn StreamLog>> {
    Ok(match engine {
        "groupwal" => Box::new(GroupwalStreams::open(dir)?),
        "groupwal-fallocate" => {
            let mut o = groupwal::WalOptions::new();
            o.preallocation(groupwal::Preallocation::Allocate);
            Box::new(GroupwalStreams::open_with(dir, &o)?)
        }
        "groupwal-no-adaptive" => {
            let mut o = groupwal::WalOptions::new();
            o.adaptive_delay(false);
            Box::new(GroupwalStreams::open_with(dir, &o)?)
        }
        "groupwal-yield" => {
            let mut o = groupwal::WalOptions::new();
            o.wait_yields(groupwal_benches::engines::YIELDS);
            Box::new(GroupwalStreams::open_with(dir, &o)?)
        }
        "raft-engine" => Box::new(RaftEngineStreams::open(dir, streams)?),
        other => return Err(io::Error::other(format!("unknown engine {other}"))),
    })
}

fn median_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let mid = v.get(v.len() / 2).copied().unwrap_or(0.0);
    (
        mid,
        v.first().copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut configs = Vec::new();
    for w in &args.workloads {
        match w.as_str() {
            "own" => configs.extend(args.writers.iter().map(|&n| (Shape::Own, n))),
            "spread" => configs.extend(
                args.writers
                    .iter()
                    .map(|&n| (Shape::Spread(args.spread), n)),
            ),
            "churn" => configs.push((Shape::Churn, args.churn_writers)),
            other => return Err(format!("unknown workload {other}").into()),
        }
    }
    let mut results: Vec<StreamResult> = Vec::new();
    for &(shape, writers) in &configs {
        let streams = match shape {
            Shape::Own => writers as u64,
            Shape::Spread(n) => n,
            Shape::Churn => 100,
        };
        let seconds = if shape == Shape::Churn {
            args.churn_seconds
        } else {
            args.seconds
        };
        for r in 0..args.repeat {
            // Alternate the order, so neither engine always runs first.
            let mut order: Vec<&String> = args.engines.iter().collect();
            if r % 2 == 1 {
                order.reverse();
            }
            for engine in order {
                let dir = match &args.dir {
                    Some(d) => tempfile::tempdir_in(d)?,
                    None => tempfile::tempdir()?,
                };
                let log = open(engine, dir.path(), streams)?;
                let result = run(
                    engine,
                    &*log,
                    dir.path(),
                    shape,
                    writers,
                    args.size,
                    Duration::from_millis(500),
                    Duration::from_secs_f64(seconds),
                )?;
                eprintln!(
                    "{engine:12} {:28} W={writers:3}: {:9.0} commits/s, p99 {:8.0} µs, {:.2} device bytes per payload byte, {:.0} MiB on disk",
                    shape.name(),
                    result.commits_per_sec,
                    result.p99_us,
                    result.device_per_payload,
                    result.disk_bytes as f64 / f64::from(1 << 20),
                );
                results.push(result);
                log.close()?;
            }
        }
    }

    println!(
        "\n## Streams workloads, {} B payloads: medians of {} interleaved runs (range)\n",
        args.size, args.repeat
    );
    println!(
        "| workload | W | engine | commits/s | p99 µs | device bytes / payload byte | ratio of commits/s to {} |",
        args.engines.first().map_or("", String::as_str)
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    for &(shape, writers) in &configs {
        let mut base = None;
        for engine in &args.engines {
            let mine: Vec<&StreamResult> = results
                .iter()
                .filter(|r| &r.engine == engine && r.shape == shape && r.writers == writers)
                .collect();
            let (c, cmin, cmax) = median_range(mine.iter().map(|r| r.commits_per_sec).collect());
            let (p99, _, _) = median_range(mine.iter().map(|r| r.p99_us).collect());
            let (dev, dmin, dmax) =
                median_range(mine.iter().map(|r| r.device_per_payload).collect());
            let base = *base.get_or_insert(c);
            println!(
                "| {} | {writers} | {engine} | {c:.0} ({cmin:.0}-{cmax:.0}) | {p99:.0} | {dev:.2} ({dmin:.2}-{dmax:.2}) | {:.2}x |",
                shape.name(),
                c / base.max(1e-9),
            );
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
    }
    Ok(())
}
