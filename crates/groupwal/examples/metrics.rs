//! The log's metrics as a Prometheus scrape sees them: install a recorder
//! (here `metrics-exporter-prometheus`'s) before opening the log, append,
//! and render. A service serves the same text on its `/metrics` endpoint
//! (the exporter's `http-listener` feature, or its own server).
//!
//! `cargo run -p groupwal --features metrics --example metrics`

// An example reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use groupwal::commit::metrics::GROUP_SIZE;
use groupwal::{Wal, WalOptions};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every histogram as a Prometheus histogram: durations in buckets from
    // 50 µs to 1 s, like etcd's `wal_fsync_duration_seconds`, group sizes
    // in powers of two.
    let seconds = [
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        1.0,
    ];
    let records: Vec<f64> = (0..12).map(|i| f64::from(1u32 << i)).collect();
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)?
        .set_buckets_for_metric(Matcher::Full(GROUP_SIZE.into()), &records)?
        .install_recorder()?;

    let dir = tempfile::tempdir()?;
    // The log registers its series when it opens: after the recorder.
    let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || -> groupwal::Result<()> {
                for i in 0..100 {
                    wal.append(format!("writer {t} record {i}").as_bytes())?;
                }
                Ok(())
            })
        })
        .collect();
    for w in writers {
        w.join().map_err(|_| "a writer panicked")??;
    }
    wal.close()?;

    // What a scrape would return: the groupwal_ series.
    for line in prometheus.render().lines() {
        let bucket = line.contains("_bucket{");
        if line.contains("groupwal_") && (!bucket || line.contains("fsync")) {
            println!("{line}");
        }
    }
    Ok(())
}
