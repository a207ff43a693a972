//! Where the buffered workload's time goes: one thread appends `MIB` MiB
//! of `SIZE`-byte records with `Committer::append_unsynced`, then syncs
//! once; prints the appender's time, the sync's, and the committer's own
//! stage timings (groups, write time per group).
//!
//! ```sh
//! cargo run --release -p groupwal-benches --example buffered_stages -- MIB SIZE zero|fallocate
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use wal_commit::{CommitOptions, Committer};
use wal_io::{FileStorage, LogOptions, Preallocation, SegmentLog};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mib, size, prealloc] = args.as_slice() else {
        eprintln!("usage: buffered_stages MIB SIZE zero|fallocate");
        std::process::exit(2);
    };
    let (mib, size): (u64, usize) = (mib.parse()?, size.parse()?);
    let preallocation = match prealloc.as_str() {
        "zero" => Preallocation::ZeroFill,
        "fallocate" => Preallocation::Allocate,
        other => return Err(format!("unknown preallocation {other:?}").into()),
    };
    let dir = tempfile::tempdir_in(std::env::var("TMPDIR").unwrap_or_else(|_| ".".into()))?;
    let mut log_options = LogOptions::new();
    log_options.preallocation(preallocation);
    let segments = SegmentLog::open(
        Arc::new(FileStorage::new()),
        dir.path().join("wal"),
        &log_options,
    )?;
    let log = Committer::from_log(segments, &CommitOptions::new())?;
    let payload = vec![0x5au8; size];
    let records = (mib << 20) / size as u64;
    let started = Instant::now();
    for _ in 0..records {
        log.append_unsynced(&payload)?;
    }
    let appended = started.elapsed();
    log.sync()?;
    let total = started.elapsed();
    let s = log.stats();
    log.close()?;
    let mb = (records * size as u64) as f64 / 1e6;
    println!(
        "{records} records of {size} B: appends {appended:.2?}, sync {:.2?}, total {total:.2?} = {:.0} MB/s",
        total - appended,
        mb / total.as_secs_f64()
    );
    println!(
        "groups {} (avg {:.0} records), syncs {}, write per group p50 {:.3} ms p99 {:.3} ms max {:.3} ms, sum of writes ~{:.2} s",
        s.groups,
        s.avg_group,
        s.syncs,
        s.write.p50.as_secs_f64() * 1e3,
        s.write.p99.as_secs_f64() * 1e3,
        s.write.max.as_secs_f64() * 1e3,
        s.write.p50.as_secs_f64() * s.groups as f64
    );
    Ok(())
}
