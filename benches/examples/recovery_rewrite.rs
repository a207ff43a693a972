//! What a clean close saves the next open: recovery of a log whose last
//! segment holds FILL MiB of records, once after a clean close (the
//! `CLEAN` marker is there: nothing rewritten) and once as after a crash
//! (the marker removed: resuming rewrites and syncs the last segment's
//! records), alternately, on the real file system (warm cache).
//!
//! ```text
//! cargo run --release -p groupwal-benches --example recovery_rewrite -- [FILL_MiB] [dir] [rounds]
//! ```
//!
//! Defaults: 60 MiB in the last of four 64 MiB segments of 1 KiB records,
//! in a temporary directory under the current one, 5 rounds. Prints each
//! recovery's time and the medians.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use groupwal_benches::write_log;
use wal_io::{CLEAN_FILE, FileStorage, LogOptions, Storage};
use wal_reader::{ReadOptions, recover};

const SEGMENT_SIZE: u64 = 64 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fill_mib: usize = args.first().map_or(60, |s| s.parse().expect("FILL_MiB"));
    let parent = args
        .get(1)
        .map_or_else(|| ".".into(), std::path::PathBuf::from);
    let rounds: usize = args.get(2).map_or(5, |s| s.parse().expect("rounds"));
    let tmp = tempfile::tempdir_in(parent).unwrap();
    let dir = tmp.path().join("wal");
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let bytes = 3 * SEGMENT_SIZE as usize + (fill_mib << 20);
    let (files, records) = write_log(&storage, &dir, SEGMENT_SIZE, bytes, 1024).unwrap();
    println!(
        "{records} records of 1 KiB in {} segments, the last holding about {fill_mib} MiB",
        files.len()
    );
    let mut log_options = LogOptions::new();
    log_options.segment_size(SEGMENT_SIZE);
    let recover_once = |expect_clean: bool| -> Duration {
        let (log, report) =
            recover(storage.clone(), &dir, &log_options, &ReadOptions::new()).unwrap();
        assert_eq!(report.clean_close, expect_clean);
        log.close().unwrap();
        report.elapsed
    };
    // The log was written without syncs (no marker): one recovery makes it
    // durable, and its close leaves the marker.
    recover_once(false);
    let (mut clean, mut crashed) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let c = recover_once(true);
        std::fs::remove_file(dir.join(CLEAN_FILE)).unwrap();
        let r = recover_once(false);
        println!(
            "round {round}: after a clean close {:>7.1} ms, as after a crash {:>7.1} ms",
            c.as_secs_f64() * 1e3,
            r.as_secs_f64() * 1e3
        );
        clean.push(c);
        crashed.push(r);
    }
    clean.sort();
    crashed.sort();
    println!(
        "medians: after a clean close {:.1} ms, as after a crash {:.1} ms",
        clean[rounds / 2].as_secs_f64() * 1e3,
        crashed[rounds / 2].as_secs_f64() * 1e3
    );
}
